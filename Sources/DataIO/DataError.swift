import Foundation
import ModelSpec

/// The one error type of DataIO: what went wrong, and where.
///
/// `description` reads `file, line 3, column 2: message`, with the parts that
/// are known: a safetensors header problem names the file (and the header byte where it helps),
/// a CSV problem names the file, the 1-based line (counting the header row) and the 1-based
/// column (field number). Errors that come from arguments rather than from a file have no `file`.
public struct DataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file (path or other name given as `source`) the error is about, if any.
    public let file: String?
    /// The 1-based line in a text file, if the error is about one line.
    public let line: Int?
    /// The 1-based column (field number) in a CSV file, if the error is about one field.
    public let column: Int?
    /// What went wrong.
    public let kind: Kind

    /// An error of `kind` located in `file` at `line` and `column` (each optional).
    public init(file: String?, line: Int? = nil, column: Int? = nil, _ kind: Kind) {
        self.file = file
        self.line = line
        self.column = column
        self.kind = kind
    }

    /// `file, line L, column C: message`, leaving out what is not known.
    public var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let line { parts.append("line \(line)") }
        if let column { parts.append("column \(column)") }
        return parts.isEmpty ? kind.message : parts.joined(separator: ", ") + ": " + kind.message
    }

    /// Every kind of DataIO error. `message` explains it in words a user can act on.
    public enum Kind: Equatable, Sendable {
        // Files in general.
        /// The file could not be read (missing, a directory, no permission...).
        case readFailed(reason: String)
        /// Writing failed; any earlier file at the destination is unchanged.
        case writeFailed(reason: String)
        /// A text file is not valid UTF-8.
        case notUTF8

        // safetensors: the frame.
        /// Fewer than the 8 bytes of the header length.
        case fileTooShort(size: Int)
        /// The header length is larger than `limit`.
        case headerTooLarge(length: UInt64, limit: Int)
        /// The header length runs past the end of the file.
        case headerBeyondFile(length: UInt64, available: Int)
        /// The header is not UTF-8; `offset` is the first bad byte within the header.
        case headerNotUTF8(offset: Int)
        /// The header is not well-formed JSON; `offset` is the byte within the header.
        case invalidJSON(reason: String, offset: Int)
        /// The header is JSON but not an object.
        case headerNotObject(found: String)
        /// A key appears twice in the header, or a tensor name twice in a file being built.
        case duplicateName(String)

        // safetensors: the entries.
        /// `__metadata__` is not an object.
        case metadataNotObject(found: String)
        /// A `__metadata__` value is not a string.
        case metadataValueNotString(key: String, found: String)
        /// A tensor's entry is not an object.
        case entryNotObject(tensor: String, found: String)
        /// A key appears twice in one tensor's entry.
        case duplicateField(tensor: String, field: String)
        /// A tensor's entry lacks one of dtype, shape, data_offsets.
        case missingField(tensor: String, field: String)
        /// A dtype other than F32, F64, I32, I64.
        case unknownDType(tensor: String, found: String)
        /// A shape that is not a list of non-negative integers.
        case invalidShape(tensor: String, found: String)
        /// data_offsets that are not two integers `[begin, end]` with `0 <= begin <= end`.
        case invalidDataOffsets(tensor: String, found: String)
        /// data_offsets past the end of the data area.
        case offsetsOutsideData(tensor: String, begin: Int, end: Int, dataSize: Int)
        /// The byte size of the shape does not fit in an `Int`.
        case sizeOverflow(tensor: String, shape: [Int])
        /// The byte length `end - begin` differs from `product(shape) * dtype size`.
        case byteLengthMismatch(tensor: String, dtype: DType, shape: [Int], expected: Int, found: Int)
        /// Two tensors share data bytes.
        case overlappingTensors(first: String, firstRange: [Int], second: String, secondRange: [Int])
        /// Data bytes `[begin, end)` belong to no tensor.
        case uncoveredBytes(begin: Int, end: Int)

        // Tensors built in code.
        /// `__metadata__` cannot name a tensor.
        case reservedName(String)
        /// The number of values differs from the product of the shape (or the shape is invalid).
        case elementCountMismatch(tensor: String, shape: [Int], count: Int)
        /// A value cannot be stored in the requested dtype, or read as an integer.
        case notRepresentable(tensor: String, index: Int, value: String, dtype: String)
        /// A tensor that should be in a file is not.
        case missingTensor(name: String, available: [String])
        /// A tensor has the wrong shape or dtype for its role.
        case wrongTensor(name: String, expected: String, found: String)

        // CSV.
        /// Nothing but blank lines.
        case emptyFile
        /// A header row and no data rows.
        case noDataRows
        /// A blank line before the last data row.
        case emptyLine
        /// A quoted field with no closing quote on its line.
        case unterminatedQuote
        /// Text between a closing quote and the next comma.
        case textAfterQuote(field: String)
        /// A field that is not a decimal number.
        case notANumber(field: String)
        /// NaN or infinity (or a number too large for a double).
        case nonFinite(field: String)
        /// A row with the wrong number of fields.
        case fieldCount(expected: Int, found: Int, layout: String)
        /// A class label that is not an integer.
        case labelNotInteger(field: String, classes: Int)
        /// A class label outside `0..<classes`.
        case labelOutOfRange(label: Int, classes: Int)

        // Data sets.
        /// An argument out of its valid range (a feature count, a class count, a fraction...).
        case invalidArgument(String)
        /// Too few samples for what was asked.
        case tooFewSamples(count: Int, needed: Int, purpose: String)
        /// A data set or row with another number of features than expected.
        case featureCountMismatch(expected: Int, found: Int)
        /// Input value `feature` (0-based; named `name` by a CSV header) has no finite mean and
        /// positive finite std, or standardises to a value that is not finite.
        case notStandardizable(feature: Int, name: String?, detail: String)

        /// The explanation of this error, without its location.
        public var message: String {
            switch self {
            case .readFailed(let reason):
                return "cannot read the file: \(reason)"
            case .writeFailed(let reason):
                return "cannot write the file (any earlier file there is unchanged): \(reason)"
            case .notUTF8:
                return "the file is not valid UTF-8 text"
            case .fileTooShort(let size):
                return "the file is \(size) bytes long; a safetensors file starts with an 8-byte "
                    + "little-endian header length"
            case .headerTooLarge(let length, let limit):
                return "the header length \(length) is larger than the \(limit)-byte limit; "
                    + "this is probably not a safetensors file"
            case .headerBeyondFile(let length, let available):
                return "the header length \(length) runs past the end of the file: only \(available) "
                    + "bytes follow the 8-byte length"
            case .headerNotUTF8(let offset):
                return "the header is not valid UTF-8 (header byte \(offset), file byte \(offset + 8))"
            case .invalidJSON(let reason, let offset):
                return "the header is not well-formed JSON at header byte \(offset) "
                    + "(file byte \(offset + 8)): \(reason)"
            case .headerNotObject(let found):
                return "the header must be a JSON object mapping tensor names to entries, found \(Messages.shown(found))"
            case .duplicateName(let name):
                return "the name \"\(Messages.shown(name))\" appears twice; tensor names and metadata keys must be unique"
            case .metadataNotObject(let found):
                return "\"__metadata__\" must be an object of string values, found \(Messages.shown(found))"
            case .metadataValueNotString(let key, let found):
                return "\"__metadata__\" value for key \"\(Messages.shown(key))\" must be a string, found \(Messages.shown(found))"
            case .entryNotObject(let tensor, let found):
                return "the entry of tensor \"\(Messages.shown(tensor))\" must be an object with \"dtype\", \"shape\" "
                    + "and \"data_offsets\", found \(Messages.shown(found))"
            case .duplicateField(let tensor, let field):
                return "the entry of tensor \"\(Messages.shown(tensor))\" has \"\(Messages.shown(field))\" twice"
            case .missingField(let tensor, let field):
                return "the entry of tensor \"\(Messages.shown(tensor))\" has no \"\(Messages.shown(field))\""
            case .unknownDType(let tensor, let found):
                return "tensor \"\(Messages.shown(tensor))\" has dtype \(Messages.shown(found)); valid dtypes are "
                    + DType.allCases.map(\.rawValue).joined(separator: ", ")
            case .invalidShape(let tensor, let found):
                return "tensor \"\(Messages.shown(tensor))\": shape must be a list of non-negative integers, found \(Messages.shown(found))"
            case .invalidDataOffsets(let tensor, let found):
                return "tensor \"\(Messages.shown(tensor))\": data_offsets must be two integers [begin, end] with "
                    + "0 <= begin <= end, found \(Messages.shown(found))"
            case .offsetsOutsideData(let tensor, let begin, let end, let dataSize):
                return "tensor \"\(Messages.shown(tensor))\": data_offsets [\(begin), \(end)] run past the data area, "
                    + "which holds \(dataSize) bytes"
            case .sizeOverflow(let tensor, let shape):
                return "tensor \"\(Messages.shown(tensor))\": the byte size of shape \(shape) overflows"
            case .byteLengthMismatch(let tensor, let dtype, let shape, let expected, let found):
                return "tensor \"\(Messages.shown(tensor))\": shape \(shape) of \(dtype.rawValue) needs \(expected) bytes "
                    + "but data_offsets cover \(Messages.shown(found))"
            case .overlappingTensors(let first, let firstRange, let second, let secondRange):
                return "tensors \"\(Messages.shown(first))\" \(firstRange) and \"\(Messages.shown(second))\" \(secondRange) overlap "
                    + "in the data area"
            case .uncoveredBytes(let begin, let end):
                return "data bytes \(begin)..<\(end) belong to no tensor; the tensors must cover the "
                    + "data area exactly"
            case .reservedName(let name):
                return "\"\(Messages.shown(name))\" is reserved for metadata and cannot name a tensor"
            case .elementCountMismatch(let tensor, let shape, let count):
                return "tensor \"\(Messages.shown(tensor))\": shape \(shape) does not fit \(count) values "
                    + "(dimensions must be non-negative and their product must equal the count)"
            case .notRepresentable(let tensor, let index, let value, let dtype):
                return "tensor \"\(Messages.shown(tensor))\": value \(Messages.shown(value)) at index \(index) is not representable "
                    + "as \(Messages.shown(dtype))"
            case .missingTensor(let name, let available):
                return "there is no tensor \"\(Messages.shown(name))\"; the file holds "
                    + (available.isEmpty ? "none" : Messages.shown(available.map { "\"\($0)\"" }.joined(separator: ", ")))
            case .wrongTensor(let name, let expected, let found):
                return "tensor \"\(Messages.shown(name))\" should be \(expected), found \(Messages.shown(found))"
            case .emptyFile:
                return "the file is empty; expected an optional header row and one sample per row"
            case .noDataRows:
                return "the file has no data rows; its only row was taken as a header because a field "
                    + "in it is not a number"
            case .emptyLine:
                return "blank line; blank lines are allowed only at the end of the file"
            case .unterminatedQuote:
                return "a quoted field has no closing quote on this line"
            case .textAfterQuote(let field):
                return "unexpected text after the closing quote in \(Messages.shown(field)); a quoted field must end "
                    + "at a comma or the end of the line"
            case .notANumber(let field):
                return field.isEmpty ? "empty field; expected a number" : "\"\(Messages.shown(field))\" is not a number"
            case .nonFinite(let field):
                return "\"\(Messages.shown(field))\" is NaN or infinite; only finite numbers are allowed"
            case .fieldCount(let expected, let found, let layout):
                return "expected \(expected) fields (\(layout)), found \(Messages.shown(found))"
            case .labelNotInteger(let field, let classes):
                return "label \"\(Messages.shown(field))\" is not an integer; labels must be integers in 0...\(classes - 1)"
            case .labelOutOfRange(let label, let classes):
                return "label \(label) is out of range; valid labels are 0...\(classes - 1) "
                    + "(\(classes) classes)"
            case .invalidArgument(let text):
                return text
            case .tooFewSamples(let count, let needed, let purpose):
                return "\(purpose) needs at least \(needed) samples, the data set has \(count)"
            case .featureCountMismatch(let expected, let found):
                return "expected \(expected) features, found \(Messages.shown(found))"
            case .notStandardizable(let feature, let name, let detail):
                return "input value \(feature)" + (name.map { " (\"\(Messages.shown($0))\")" } ?? "")
                    + " cannot be standardised: \(detail); leave out \"standardize\" or rescale that column"
            }
        }
    }
}

extension DataError: LocalizedError {
    /// The same text as `description`.
    public var errorDescription: String? { description }
}
