import Foundation

// layernorm(eps, affine): over the last axis (the features of a vector, the channels at each
// position of a sequence): y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
// variance (divided by the count) (docs/CONVENTIONS.md).

/// The sizes of one layernorm layer.
struct LayerNormGeometry: Hashable, Sendable {
    /// The length of the normalised (last) axis.
    var channels: Int
    /// How many such vectors one row holds (1 for a vector, `L` for a sequence).
    var groupsPerRow: Int
    var eps: Double
}

/// Mean and `1/sqrt(var + eps)` of the `C` values starting at `start`.
private func moments(_ x: [Double], start: Int, _ g: LayerNormGeometry) -> (mean: Double, invStd: Double) {
    let n = Double(g.channels)
    var mean = 0.0
    for c in 0..<g.channels { mean += x[start + c] }
    mean /= n
    var variance = 0.0
    for c in 0..<g.channels {
        let d = x[start + c] - mean
        variance += d * d
    }
    variance /= n
    return (mean, 1 / (variance + g.eps).squareRoot())
}

/// `y = xhat * weight + bias` with `xhat = (x - mean) / sqrt(var + eps)`; without affine
/// parameters `y = xhat`.
func layerNormForward(_ x: [Double], rows: Int, _ g: LayerNormGeometry, weight: [Double]?, bias: [Double]?) -> [Double] {
    var y = [Double](repeating: 0, count: x.count)
    for v in 0..<(rows * g.groupsPerRow) {
        let start = v * g.channels
        let (mean, invStd) = moments(x, start: start, g)
        for c in 0..<g.channels {
            let xhat = (x[start + c] - mean) * invStd
            y[start + c] = xhat * (weight?[c] ?? 1) + (bias?[c] ?? 0)
        }
    }
    return y
}

/// The layernorm gradients. With `dxhat = dy * weight` (or `dy` without affine):
/// `dx = invStd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`,
/// `dweight[c] = sum dy[c] * xhat[c]`, `dbias[c] = sum dy[c]` (sums over every vector).
func layerNormBackward(_ x: [Double], _ dy: [Double], rows: Int, _ g: LayerNormGeometry,
                       weight: [Double]?) -> (input: [Double], weight: [Double], bias: [Double]) {
    let n = Double(g.channels)
    var dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: g.channels)
    var db = [Double](repeating: 0, count: g.channels)
    for v in 0..<(rows * g.groupsPerRow) {
        let start = v * g.channels
        let (mean, invStd) = moments(x, start: start, g)
        var xhat = [Double](repeating: 0, count: g.channels)
        var dxhat = [Double](repeating: 0, count: g.channels)
        var meanDxhat = 0.0
        var meanDxhatXhat = 0.0
        for c in 0..<g.channels {
            xhat[c] = (x[start + c] - mean) * invStd
            dxhat[c] = dy[start + c] * (weight?[c] ?? 1)
            dw[c] += dy[start + c] * xhat[c]
            db[c] += dy[start + c]
            meanDxhat += dxhat[c]
            meanDxhatXhat += dxhat[c] * xhat[c]
        }
        meanDxhat /= n
        meanDxhatXhat /= n
        for c in 0..<g.channels {
            dx[start + c] = invStd * (dxhat[c] - meanDxhat - xhat[c] * meanDxhatXhat)
        }
    }
    return (dx, dw, db)
}
