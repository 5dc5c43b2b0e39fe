// conv1d(filters, kernel, stride, padding, dilation): cross-correlation over positions,
// layout [B, L, C] (channels last), weight [out_ch, in_ch, kernel], bias [out_ch]:
//   y[b, t, o] = bias[o] + sum_c sum_j W[o, c, j] * x[b, t*stride + j*dilation - pad_left, c]
// with x taken as zero outside [0, L) (docs/CONVENTIONS.md).

/// The sizes of one conv1d layer.
struct Conv1dGeometry: Hashable, Sendable {
    /// Input positions `L`.
    var length: Int
    /// Input channels.
    var inChannels: Int
    /// Output channels (filters).
    var outChannels: Int
    var kernel: Int
    var stride: Int
    var dilation: Int
    /// Zeros padded before position 0.
    var padLeft: Int
    /// Output positions: `floor((L + pad_left + pad_right - dilation*(kernel-1) - 1) / stride) + 1`.
    var outLength: Int

    /// Index of `W[o, c, j]` in the `[out_ch, in_ch, kernel]` weight.
    func weightIndex(_ o: Int, _ c: Int, _ j: Int) -> Int { (o * inChannels + c) * kernel + j }

    /// The input position that tap `j` of output position `t` reads (may lie in the padding).
    func inputPosition(_ t: Int, _ j: Int) -> Int { t * stride + j * dilation - padLeft }
}

/// The conv1d forward pass, straight from the formula above.
func conv1dForward(_ x: [Double], rows: Int, _ g: Conv1dGeometry, weight w: [Double], bias: [Double]?) -> [Double] {
    let inRow = g.length * g.inChannels
    let outRow = g.outLength * g.outChannels
    var y = [Double](repeating: 0, count: rows * outRow)
    for r in 0..<rows {
        for t in 0..<g.outLength {
            for o in 0..<g.outChannels {
                var sum = bias?[o] ?? 0
                for c in 0..<g.inChannels {
                    for j in 0..<g.kernel {
                        let p = g.inputPosition(t, j)
                        guard p >= 0 && p < g.length else { continue }  // zero padding
                        sum += w[g.weightIndex(o, c, j)] * x[r * inRow + p * g.inChannels + c]
                    }
                }
                y[r * outRow + t * g.outChannels + o] = sum
            }
        }
    }
    return y
}

/// The conv1d gradients: every product `W[o,c,j] * x[b,p,c]` of the forward pass sends
/// `dy[b,t,o] * x[b,p,c]` to `dW[o,c,j]` and `dy[b,t,o] * W[o,c,j]` to `dx[b,p,c]`;
/// `db[o] = sum_{b,t} dy[b,t,o]`.
func conv1dBackward(_ x: [Double], _ dy: [Double], rows: Int, _ g: Conv1dGeometry,
                    weight w: [Double]) -> (input: [Double], weight: [Double], bias: [Double]) {
    let inRow = g.length * g.inChannels
    let outRow = g.outLength * g.outChannels
    var dx = [Double](repeating: 0, count: rows * inRow)
    var dw = [Double](repeating: 0, count: g.outChannels * g.inChannels * g.kernel)
    var db = [Double](repeating: 0, count: g.outChannels)
    for r in 0..<rows {
        for t in 0..<g.outLength {
            for o in 0..<g.outChannels {
                let d = dy[r * outRow + t * g.outChannels + o]
                db[o] += d
                for c in 0..<g.inChannels {
                    for j in 0..<g.kernel {
                        let p = g.inputPosition(t, j)
                        guard p >= 0 && p < g.length else { continue }
                        let xi = r * inRow + p * g.inChannels + c
                        dw[g.weightIndex(o, c, j)] += d * x[xi]
                        dx[xi] += d * w[g.weightIndex(o, c, j)]
                    }
                }
            }
        }
    }
    return (dx, dw, db)
}
