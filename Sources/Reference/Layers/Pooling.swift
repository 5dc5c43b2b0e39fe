// maxpool1d / avgpool1d(kernel, stride): over positions, per channel, no padding; window
// `t` covers positions `t*stride ..< t*stride + kernel`. Max passes the gradient to the first
// maximal position of each window; overlapping windows (stride < kernel) add up.
// global_avg_pool1d: [B, L, C] -> [B, C], the mean over positions (docs/CONVENTIONS.md).

/// The sizes of one pooling layer (windowed or global).
struct PoolGeometry: Hashable, Sendable {
    /// Input positions `L`.
    var length: Int
    var channels: Int
    var kernel: Int
    var stride: Int
    /// `(L - kernel) / stride + 1`.
    var outLength: Int

    /// Index of `x[r, p, c]` in a `[B, L, C]` input.
    func inputIndex(_ r: Int, _ p: Int, _ c: Int) -> Int { (r * length + p) * channels + c }
    /// Index of `y[r, t, c]` in a `[B, outLength, C]` output.
    func outputIndex(_ r: Int, _ t: Int, _ c: Int) -> Int { (r * outLength + t) * channels + c }

    /// The input positions window `t` covers.
    func window(_ t: Int) -> Range<Int> { (t * stride)..<(t * stride + kernel) }

    /// Calls `body(r, t, c)` for every window `t` of every channel `c` of every sample `r`, in that order.
    func forEachWindow(rows: Int, _ body: (_ r: Int, _ t: Int, _ c: Int) -> Void) {
        for r in 0..<rows {
            for t in 0..<outLength {
                for c in 0..<channels { body(r, t, c) }
            }
        }
    }

    /// The first input position holding the maximum of window `t` (strictly greater wins,
    /// so ties go to the earliest position).
    func argmax(_ x: [Double], _ r: Int, _ t: Int, _ c: Int) -> Int {
        var best = t * stride
        for p in window(t) where x[inputIndex(r, p, c)] > x[inputIndex(r, best, c)] {
            best = p
        }
        return best
    }
}

/// `y[r, t, c] = max_{k < kernel} x[r, t*stride + k, c]`.
func maxPoolForward(_ x: [Double], rows: Int, _ g: PoolGeometry) -> [Double] {
    var y = [Double](repeating: 0, count: rows * g.outLength * g.channels)
    g.forEachWindow(rows: rows) { r, t, c in
        y[g.outputIndex(r, t, c)] = x[g.inputIndex(r, g.argmax(x, r, t, c), c)]
    }
    return y
}

/// `dx[r, argmax, c] += dy[r, t, c]` for every window.
func maxPoolBackward(_ x: [Double], _ dy: [Double], rows: Int, _ g: PoolGeometry) -> [Double] {
    var dx = [Double](repeating: 0, count: x.count)
    g.forEachWindow(rows: rows) { r, t, c in
        dx[g.inputIndex(r, g.argmax(x, r, t, c), c)] += dy[g.outputIndex(r, t, c)]
    }
    return dx
}

/// `y[r, t, c] = (1/kernel) sum_{k < kernel} x[r, t*stride + k, c]`.
func avgPoolForward(_ x: [Double], rows: Int, _ g: PoolGeometry) -> [Double] {
    var y = [Double](repeating: 0, count: rows * g.outLength * g.channels)
    g.forEachWindow(rows: rows) { r, t, c in
        var sum = 0.0
        for p in g.window(t) { sum += x[g.inputIndex(r, p, c)] }
        y[g.outputIndex(r, t, c)] = sum / Double(g.kernel)
    }
    return y
}

/// `dx[r, p, c] += dy[r, t, c] / kernel` for every position `p` of window `t`.
func avgPoolBackward(_ dy: [Double], rows: Int, _ g: PoolGeometry) -> [Double] {
    var dx = [Double](repeating: 0, count: rows * g.length * g.channels)
    g.forEachWindow(rows: rows) { r, t, c in
        let share = dy[g.outputIndex(r, t, c)] / Double(g.kernel)
        for p in g.window(t) { dx[g.inputIndex(r, p, c)] += share }
    }
    return dx
}

/// `y[r, c] = (1/L) sum_p x[r, p, c]`.
func globalAvgPoolForward(_ x: [Double], rows: Int, length: Int, channels: Int) -> [Double] {
    var y = [Double](repeating: 0, count: rows * channels)
    for r in 0..<rows {
        for c in 0..<channels {
            var sum = 0.0
            for p in 0..<length { sum += x[(r * length + p) * channels + c] }
            y[r * channels + c] = sum / Double(length)
        }
    }
    return y
}

/// `dx[r, p, c] = dy[r, c] / L`.
func globalAvgPoolBackward(_ dy: [Double], rows: Int, length: Int, channels: Int) -> [Double] {
    var dx = [Double](repeating: 0, count: rows * length * channels)
    for r in 0..<rows {
        for p in 0..<length {
            for c in 0..<channels {
                dx[(r * length + p) * channels + c] = dy[r * channels + c] / Double(length)
            }
        }
    }
    return dx
}
