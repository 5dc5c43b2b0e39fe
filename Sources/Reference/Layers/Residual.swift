// residual(layers): y = x + f(x), f the block's layers (docs/CONVENTIONS.md). The block is run by
// the network walker (Network.swift), which evaluates the body with the same code as the top
// level; these two functions are the block's own arithmetic.

/// `y = x + f(x)`.
func residualForward(_ x: [Double], body fx: [Double]) -> [Double] {
    var y = x
    for i in 0..<y.count { y[i] += fx[i] }
    return y
}

/// `dx = dy + (df/dx)^T dy`: the skip path passes `dy` through, the body adds its own input
/// gradient `bodyInputGradient`.
func residualBackward(_ dy: [Double], bodyInputGradient: [Double]) -> [Double] {
    var dx = dy
    for i in 0..<dx.count { dx[i] += bodyInputGradient[i] }
    return dx
}
