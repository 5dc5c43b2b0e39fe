// flatten: [B, L, C] -> [B, L*C] in position-major order (docs/CONVENTIONS.md). A [B, L, C]
// batch is already stored position-major, so the values do not move: only the shape the
// next layer sees changes, and the gradient passes through unchanged.

/// `y = x` (a new shape over the same values).
func flattenForward(_ x: [Double]) -> [Double] { x }

/// `dx = dy`.
func flattenBackward(_ dy: [Double]) -> [Double] { dy }
