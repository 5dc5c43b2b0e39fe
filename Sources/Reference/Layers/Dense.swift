// dense(units): y = x W^T + b, weight [out, in], bias [out] (docs/CONVENTIONS.md).

/// The sizes of one dense layer.
struct DenseGeometry: Hashable, Sendable {
    /// Features entering the layer (`in`).
    var inputs: Int
    /// Features leaving the layer (`out`, the units).
    var outputs: Int
}

/// `y[r, o] = bias[o] + sum_i x[r, i] * W[o, i]`, with `W` stored `[out, in]`.
func denseForward(_ x: [Double], rows: Int, _ g: DenseGeometry, weight w: [Double], bias: [Double]?) -> [Double] {
    var y = [Double](repeating: 0, count: rows * g.outputs)
    for r in 0..<rows {
        for o in 0..<g.outputs {
            var sum = bias?[o] ?? 0
            for i in 0..<g.inputs {
                sum += x[r * g.inputs + i] * w[o * g.inputs + i]
            }
            y[r * g.outputs + o] = sum
        }
    }
    return y
}

/// The gradients of a dense layer given `dy = dL/dy`:
/// `dx[r, i] = sum_o dy[r, o] W[o, i]`, `dW[o, i] = sum_r dy[r, o] x[r, i]`, `db[o] = sum_r dy[r, o]`.
func denseBackward(_ x: [Double], _ dy: [Double], rows: Int, _ g: DenseGeometry,
                   weight w: [Double]) -> (input: [Double], weight: [Double], bias: [Double]) {
    var dx = [Double](repeating: 0, count: rows * g.inputs)
    var dw = [Double](repeating: 0, count: g.outputs * g.inputs)
    var db = [Double](repeating: 0, count: g.outputs)
    for r in 0..<rows {
        for o in 0..<g.outputs {
            let d = dy[r * g.outputs + o]
            db[o] += d
            for i in 0..<g.inputs {
                dx[r * g.inputs + i] += d * w[o * g.inputs + i]
                dw[o * g.inputs + i] += d * x[r * g.inputs + i]
            }
        }
    }
    return (dx, dw, db)
}
