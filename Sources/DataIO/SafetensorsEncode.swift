import Foundation
import ModelSpec

extension SafetensorsFile {
    /// The bytes of the file.
    ///
    /// The header is compact JSON: `"__metadata__"` first (only when there is metadata, keys
    /// sorted), then the tensors in `names` order, each as
    /// `{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]}`; it is padded with spaces to a
    /// multiple of 8 bytes, as the reference implementation does. The data follow in the same
    /// order, little-endian, without gaps.
    public func encoded() -> Data {
        let ordered = orderedTensors
        let head = Self.header(metadata: metadata, tensors: ordered.map { ($0.name, $0.dtype, $0.shape) })
        var data = Data()
        data.reserveCapacity(head.count + ordered.reduce(0) { $0 + $1.elementCount * $1.dtype.byteSize })
        data.append(contentsOf: head)
        for tensor in ordered {
            Self.append(tensor.storage, to: &data)
        }
        return data
    }

    /// The first bytes of a file of tensors `(name, dtype, shape)` whose data follow in this
    /// order: the 8-byte header length, then the header (see `encoded()`).
    static func header(metadata: [String: String], tensors: [(name: String, dtype: DType, shape: [Int])]) -> [UInt8] {
        var header = "{"
        var first = true
        if !metadata.isEmpty {
            header += JSONValue.quote(Self.metadataKey) + ":{"
            header += metadata.keys.sorted().map { key in
                JSONValue.quote(key) + ":" + JSONValue.quote(metadata[key] ?? "")
            }.joined(separator: ",")
            header += "}"
            first = false
        }
        var offset = 0
        for tensor in tensors {
            let length = (Tensor.elementCount(of: tensor.shape) ?? 0) * tensor.dtype.byteSize
            if !first { header += "," }
            first = false
            header += JSONValue.quote(tensor.name)
                + ":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":["
                + tensor.shape.map(String.init).joined(separator: ",")
                + "],\"data_offsets\":[\(offset),\(offset + length)]}"
            offset += length
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        return out + headerBytes
    }
    private static func append(_ storage: TensorStorage, to data: inout Data) {
        switch storage {
        case .f32(let v): appendLittleEndian(v.map(\.bitPattern), to: &data)
        case .f64(let v): appendLittleEndian(v.map(\.bitPattern), to: &data)
        case .i32(let v): appendLittleEndian(v, to: &data)
        case .i64(let v): appendLittleEndian(v, to: &data)
        }
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ values: [T], to data: inout Data) {
        let little = values.map(\.littleEndian)
        little.withUnsafeBytes { data.append(contentsOf: $0) }
    }
}
