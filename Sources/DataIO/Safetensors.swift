import Foundation

/// The contents of a safetensors file: named tensors in a fixed order, and string metadata.
///
/// The file format: an 8-byte little-endian unsigned header length `N`, then `N` bytes of UTF-8
/// JSON (an object mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`,
/// plus an optional `"__metadata__"` object of strings), then the data area, where each tensor's
/// little-endian values occupy bytes `begin..<end` counted from the end of the header. The tensors
/// must cover the data area exactly, without gaps or overlaps.
///
/// `names` is the order in which tensors are written: the order they were inserted, or, for a
/// file that was read, the order of their data in the file. Writing a file that was read
/// reproduces its layout.
public struct SafetensorsFile: Sendable, Equatable {
    /// The tensors by name.
    public internal(set) var tensors: [String: Tensor]
    /// The tensor names in file order.
    public internal(set) var names: [String]
    /// Free-form string metadata (`"__metadata__"` in the header).
    public var metadata: [String: String]

    /// The key of the metadata object in the header; no tensor may have this name.
    public static let metadataKey = "__metadata__"
    /// The largest header this reader accepts (100 MB), as a guard against files that are not
    /// safetensors at all.
    public static let maxHeaderLength = 100_000_000

    /// A file holding `tensors` in this order; names must be unique and not `__metadata__`.
    public init(tensors: [Tensor] = [], metadata: [String: String] = [:]) throws(DataError) {
        self.tensors = [:]
        self.names = []
        self.metadata = metadata
        for tensor in tensors {
            guard self.tensors[tensor.name] == nil else {
                throw DataError(file: nil, .duplicateName(tensor.name))
            }
            try insert(tensor)
        }
    }

    /// Adds `tensor` at the end, or replaces the tensor of the same name in its place.
    public mutating func insert(_ tensor: Tensor) throws(DataError) {
        guard tensor.name != Self.metadataKey else {
            throw DataError(file: nil, .reservedName(tensor.name))
        }
        if tensors.updateValue(tensor, forKey: tensor.name) == nil {
            names.append(tensor.name)
        }
    }

    /// Removes the tensor called `name`, if there is one.
    public mutating func remove(_ name: String) {
        if tensors.removeValue(forKey: name) != nil {
            names.removeAll { $0 == name }
        }
    }

    /// The tensor called `name`, or nil.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// The tensors in file order.
    public var orderedTensors: [Tensor] { names.compactMap { tensors[$0] } }

    /// Reads and checks a safetensors file; see `decode(_:source:)` for the checks.
    public static func read(from url: URL) throws(DataError) -> SafetensorsFile {
        let data = try FileIO.readData(url)
        return try decode(data, source: url.path)
    }

    /// Writes the file atomically: to a temporary file in the same directory, then renamed over
    /// `url`. When anything fails, an earlier file at `url` is left unchanged and the temporary
    /// file is removed.
    public func write(to url: URL) throws(DataError) {
        try FileIO.writeAtomically(encoded(), to: url)
    }
}
