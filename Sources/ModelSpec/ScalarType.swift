/// The scalar type of generated code and of stored parameters: float32 or float64.
public enum ScalarType: String, Sendable, CaseIterable {
    case f32, f64

    /// The C type name.
    public var cName: String { self == .f32 ? "float" : "double" }
    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 8 }
}
