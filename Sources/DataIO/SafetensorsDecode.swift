import Foundation
import ModelSpec

extension SafetensorsFile {
    /// Parses the bytes of a safetensors file, checking every fact of the header; `source`
    /// names the file in errors.
    ///
    /// Each problem has its own `DataError.Kind`: the file shorter than 8 bytes, a header length
    /// beyond the file or above `maxHeaderLength`, a header that is not UTF-8, not well-formed
    /// JSON or not an object, a repeated name, metadata that is not an object of strings, an
    /// entry that is not an object or lacks a field, an unknown dtype, a shape that is not a list
    /// of non-negative integers, data_offsets that are not `[begin, end]` with
    /// `0 <= begin <= end`, offsets past the data area, a byte length other than
    /// `product(shape) * dtype size` (overflow-checked), overlapping tensors, and data bytes
    /// that belong to no tensor. Unknown keys inside an entry are ignored.
    public static func decode(_ data: Data, source: String) throws(DataError) -> SafetensorsFile {
        let result: Result<SafetensorsFile, DataError> = data.withUnsafeBytes { raw in
            do throws(DataError) {
                let layout = try checkedLayout(raw, source: source)
                var file = SafetensorsFile(metadata: layout.metadata)
                for entry in layout.entries {
                    let storage = readStorage(raw, from: layout.dataStart + entry.begin, count: entry.count, dtype: entry.dtype)
                    file.tensors[entry.name] = Tensor(checkedName: entry.name, shape: entry.shape, storage: storage)
                    file.names.append(entry.name)
                }
                return .success(file)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// A checked header: the metadata, the entries in file order and where the data area starts.
    struct Layout {
        let metadata: [String: String]
        let entries: [Entry]
        let dataStart: Int
    }

    /// Checks the header of the safetensors bytes `bytes` as `decode(_:source:)` documents.
    static func checkedLayout(_ bytes: UnsafeRawBufferPointer, source: String) throws(DataError) -> Layout {
        func fail(_ kind: DataError.Kind) -> DataError { DataError(file: source, kind) }

        guard bytes.count >= 8 else { throw fail(.fileTooShort(size: bytes.count)) }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(maxHeaderLength) else {
            throw fail(.headerTooLarge(length: length, limit: maxHeaderLength))
        }
        guard length <= UInt64(bytes.count - 8) else {
            throw fail(.headerBeyondFile(length: length, available: bytes.count - 8))
        }
        let dataStart = 8 + Int(length)
        let headerBytes = Array(bytes[8..<dataStart])
        if let bad = firstInvalidUTF8(headerBytes) { throw fail(.headerNotUTF8(offset: bad)) }

        let root: JSONValue
        do {
            root = try JSONParser.parse(headerBytes, options: .safetensorsHeader)
        } catch {
            throw fail(.invalidJSON(reason: error.headerReason(textLength: headerBytes.count), offset: error.offset))
        }
        guard case .object(let members) = root else { throw fail(.headerNotObject(found: root.kindDescription)) }

        let dataSize = bytes.count - dataStart
        var seen = Set<String>()
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw fail(.duplicateName(name)) }
            if name == metadataKey {
                metadata = try parseMetadata(value, source: source)
            } else {
                let entry = try parseEntry(name: name, value: value, order: entries.count, source: source)
                guard entry.end <= dataSize else {
                    throw fail(.offsetsOutsideData(tensor: name, begin: entry.begin, end: entry.end, dataSize: dataSize))
                }
                entries.append(entry)
            }
        }

        // File order: by position in the data area; ties (empty tensors) keep header order.
        entries.sort { ($0.begin, $0.end, $0.order) < ($1.begin, $1.end, $1.order) }
        var cursor = 0
        var previous: Entry?
        for entry in entries {
            if entry.begin < cursor, let previous {
                throw fail(.overlappingTensors(first: previous.name, firstRange: [previous.begin, previous.end],
                                               second: entry.name, secondRange: [entry.begin, entry.end]))
            }
            if entry.begin > cursor { throw fail(.uncoveredBytes(begin: cursor, end: entry.begin)) }
            if entry.end > cursor {
                cursor = entry.end
                previous = entry
            }
        }
        if cursor < dataSize { throw fail(.uncoveredBytes(begin: cursor, end: dataSize)) }
        return Layout(metadata: metadata, entries: entries, dataStart: dataStart)
    }

    /// One checked header entry.
    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let count: Int
        let begin: Int
        let end: Int
        let order: Int
    }

    init(metadata: [String: String]) {
        self.tensors = [:]
        self.names = []
        self.metadata = metadata
    }

    private static func parseMetadata(_ value: JSONValue, source: String) throws(DataError) -> [String: String] {
        guard case .object(let members) = value else {
            throw DataError(file: source, .metadataNotObject(found: value.kindDescription))
        }
        var metadata: [String: String] = [:]
        for (key, item) in members {
            guard case .string(let text) = item else {
                throw DataError(file: source, .metadataValueNotString(key: key, found: item.kindDescription))
            }
            guard metadata.updateValue(text, forKey: key) == nil else {
                throw DataError(file: source, .duplicateName("\(metadataKey).\(key)"))
            }
        }
        return metadata
    }

    private static func parseEntry(name: String, value: JSONValue, order: Int, source: String)
        throws(DataError) -> Entry
    {
        func fail(_ kind: DataError.Kind) -> DataError { DataError(file: source, kind) }
        guard case .object(let fields) = value else {
            throw fail(.entryNotObject(tensor: name, found: value.kindDescription))
        }
        var byKey: [String: JSONValue] = [:]
        for (key, item) in fields {
            guard byKey.updateValue(item, forKey: key) == nil else {
                throw fail(.duplicateField(tensor: name, field: key))
            }
        }
        guard let dtypeValue = byKey["dtype"] else { throw fail(.missingField(tensor: name, field: "dtype")) }
        guard let shapeValue = byKey["shape"] else { throw fail(.missingField(tensor: name, field: "shape")) }
        guard let offsetsValue = byKey["data_offsets"] else {
            throw fail(.missingField(tensor: name, field: "data_offsets"))
        }

        guard case .string(let dtypeName) = dtypeValue, let dtype = DType(rawValue: dtypeName) else {
            throw fail(.unknownDType(tensor: name, found: dtypeValue.compact()))
        }

        guard case .array(let dims) = shapeValue else { throw fail(.invalidShape(tensor: name, found: shapeValue.compact())) }
        var shape: [Int] = []
        for dim in dims {
            guard let d = dim.integer, d >= 0 else { throw fail(.invalidShape(tensor: name, found: shapeValue.compact())) }
            shape.append(d)
        }

        guard case .array(let offsets) = offsetsValue, offsets.count == 2,
              let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, begin <= end else {
            throw fail(.invalidDataOffsets(tensor: name, found: offsetsValue.compact()))
        }

        guard let count = Tensor.elementCount(of: shape) else { throw fail(.sizeOverflow(tensor: name, shape: shape)) }
        let (byteLength, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail(.sizeOverflow(tensor: name, shape: shape)) }
        guard byteLength == end - begin else {
            throw fail(.byteLengthMismatch(tensor: name, dtype: dtype, shape: shape, expected: byteLength, found: end - begin))
        }
        return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: begin, end: end, order: order)
    }

    /// The offset of the first byte that does not belong to a valid UTF-8 sequence, or nil.
    private static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .error: return offset
            case .emptyInput: return nil
            }
        }
    }

    /// Reads `count` little-endian values of `dtype` starting at byte `start`.
    static func readStorage(_ raw: UnsafeRawBufferPointer, from start: Int, count: Int, dtype: DType)
        -> TensorStorage
    {
        switch dtype {
        case .f32:
            return .f32((0..<count).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self)))
            })
        case .f64:
            return .f64((0..<count).map {
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: UInt64.self)))
            })
        case .i32:
            return .i32((0..<count).map {
                Int32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: Int32.self))
            })
        case .i64:
            return .i64((0..<count).map {
                Int64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * $0, as: Int64.self))
            })
        }
    }
}

extension Tensor {
    /// A tensor whose shape and storage the caller has already checked to agree.
    init(checkedName name: String, shape: [Int], storage: TensorStorage) {
        self.name = name
        self.shape = shape
        self.storage = storage
    }
}
