import ModelSpec

/// The element types a safetensors file of this project may hold.
public enum DType: String, Sendable, CaseIterable, Equatable {
    case f32 = "F32"
    case f64 = "F64"
    case i32 = "I32"
    case i64 = "I64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f64, .i64: return 8
        }
    }

    /// Whether the elements are integers.
    public var isInteger: Bool { self == .i32 || self == .i64 }

    /// The dtype that stores a scalar type (F32 for f32, F64 for f64).
    public init(_ scalar: ScalarType) {
        self = scalar == .f32 ? .f32 : .f64
    }

    /// The scalar type of a float dtype; nil for the integer dtypes.
    public var scalarType: ScalarType? {
        switch self {
        case .f32: return .f32
        case .f64: return .f64
        case .i32, .i64: return nil
        }
    }
}

/// The values of a tensor, in row-major order, in their own element type.
public enum TensorStorage: Sendable, Equatable {
    case f32([Float])
    case f64([Double])
    case i32([Int32])
    case i64([Int64])

    /// The element type.
    public var dtype: DType {
        switch self {
        case .f32: return .f32
        case .f64: return .f64
        case .i32: return .i32
        case .i64: return .i64
        }
    }

    /// The number of elements.
    public var count: Int {
        switch self {
        case .f32(let v): return v.count
        case .f64(let v): return v.count
        case .i32(let v): return v.count
        case .i64(let v): return v.count
        }
    }
}

/// A named, shaped array of numbers as stored in a safetensors file.
///
/// The number of values always equals the product of `shape` (1 for a 0-d tensor, shape `[]`).
public struct Tensor: Sendable, Equatable {
    /// The tensor's name, for example `layers.0.weight`.
    public let name: String
    /// The dimensions, outermost first; `[]` for a scalar.
    public let shape: [Int]
    /// The values, row-major.
    public let storage: TensorStorage

    /// The element type.
    public var dtype: DType { storage.dtype }
    /// The number of elements, the product of `shape`.
    public var elementCount: Int { storage.count }

    /// The product of `shape`, or nil when a dimension is negative or the product overflows.
    public static func elementCount(of shape: [Int]) -> Int? {
        var product = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (p, overflow) = product.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            product = p
        }
        return product
    }

    /// A tensor holding `storage` with `shape`; throws when the counts differ.
    public init(name: String, shape: [Int], storage: TensorStorage) throws(DataError) {
        guard Tensor.elementCount(of: shape) == storage.count else {
            throw DataError(file: nil, .elementCountMismatch(tensor: name, shape: shape, count: storage.count))
        }
        self.name = name
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of doubles stored as `dtype`: F64 keeps them, F32 rounds them to float; the integer
    /// dtypes accept only whole numbers within their range.
    public init(name: String, shape: [Int], doubles: [Double], dtype: DType = .f64) throws(DataError) {
        let storage: TensorStorage
        switch dtype {
        case .f64: storage = .f64(doubles)
        case .f32: storage = .f32(doubles.map { Float($0) })
        case .i32: storage = .i32(try Tensor.convert(doubles, name: name, dtype: dtype))
        case .i64: storage = .i64(try Tensor.convert(doubles, name: name, dtype: dtype))
        }
        try self.init(name: name, shape: shape, storage: storage)
    }

    /// A tensor of integers stored as `dtype`: I64 keeps them, I32 accepts only values within its
    /// range; F32 and F64 convert them to the nearest float.
    public init(name: String, shape: [Int], ints: [Int], dtype: DType = .i64) throws(DataError) {
        let storage: TensorStorage
        switch dtype {
        case .i64: storage = .i64(ints.map { Int64($0) })
        case .i32:
            var out = [Int32]()
            out.reserveCapacity(ints.count)
            for (i, v) in ints.enumerated() {
                guard let e = Int32(exactly: v) else {
                    throw DataError(file: nil, .notRepresentable(tensor: name, index: i, value: "\(v)", dtype: "I32"))
                }
                out.append(e)
            }
            storage = .i32(out)
        case .f64: storage = .f64(ints.map { Double($0) })
        case .f32: storage = .f32(ints.map { Float($0) })
        }
        try self.init(name: name, shape: shape, storage: storage)
    }

    private static func convert<T: FixedWidthInteger>(_ values: [Double], name: String, dtype: DType)
        throws(DataError) -> [T]
    {
        var out = [T]()
        out.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            guard let e = T(exactly: v) else {
                throw DataError(file: nil, .notRepresentable(tensor: name, index: i, value: "\(v)", dtype: dtype.rawValue))
            }
            out.append(e)
        }
        return out
    }

    /// The values as doubles, whatever the dtype (I64 values beyond 2^53 are rounded).
    public func asDoubles() -> [Double] {
        switch storage {
        case .f64(let v): return v
        case .f32(let v): return v.map { Double($0) }
        case .i32(let v): return v.map { Double($0) }
        case .i64(let v): return v.map { Double($0) }
        }
    }

    /// The values as integers. Integer dtypes always convert; float values must be whole numbers
    /// within `Int`'s range, otherwise the error names the first one that is not.
    public func asInts() throws(DataError) -> [Int] {
        switch storage {
        case .i64(let v): return v.map { Int($0) }
        case .i32(let v): return v.map { Int($0) }
        case .f64(let v): return try Tensor.wholeNumbers(v, name: name)
        case .f32(let v): return try Tensor.wholeNumbers(v.map { Double($0) }, name: name)
        }
    }

    private static func wholeNumbers(_ values: [Double], name: String) throws(DataError) -> [Int] {
        var out = [Int]()
        out.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            guard let e = Int(exactly: v) else {
                throw DataError(file: nil, .notRepresentable(tensor: name, index: i, value: "\(v)", dtype: "an integer"))
            }
            out.append(e)
        }
        return out
    }
}
