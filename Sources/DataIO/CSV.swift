import Foundation

/// A comma-separated file split into fields, before any number is parsed.
///
/// Rules:
/// - Lines end with `\n` or `\r\n`; a UTF-8 byte-order mark at the start is skipped.
/// - Fields are separated by commas and trimmed of spaces and tabs. A field may be quoted with
///   `"`, with `""` standing for one quote inside; a quoted field keeps its inner spaces and may
///   hold commas, but must close on the same line.
/// - Blank lines at the end are ignored; a blank line before the last row is an error.
/// - Header detection: the first row is a header exactly when one of its fields is not a number
///   (see `CSVTable.classify`; `nan` and `inf` count as numbers here, so a first row holding
///   them is data and is reported as non-finite by the data set loader). A quoted number counts
///   as a number. So a lone row with a typo reads as a header and the file as having no data.
///
/// The table does not require rows of equal length: the data set loader checks the count
/// against what it expects and says so per line.
public struct CSVTable: Sendable, Equatable {
    /// The file name used in errors.
    public let source: String
    /// The header fields, if the first row is a header.
    public let header: [String]?
    /// The data rows, each a list of trimmed (and unquoted) fields.
    public let rows: [[String]]
    /// The 1-based line of each data row in the file (the header is line 1 when present).
    public let lineNumbers: [Int]

    /// The 1-based line of the header, when there is one.
    public var headerLine: Int? { header == nil ? nil : 1 }

    /// Reads and splits `url`.
    public static func read(from url: URL) throws(DataError) -> CSVTable {
        try parse(FileIO.readData(url), source: url.path)
    }

    /// Splits the bytes of a CSV file; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws(DataError) -> CSVTable {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let bad = firstInvalidUTF8Line(bytes) { throw DataError(file: source, line: bad, .notUTF8) }

        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
        while let last = lines.last, isBlank(last) { lines.removeLast() }
        guard !lines.isEmpty else { throw DataError(file: source, .emptyFile) }

        var parsed: [[String]] = []
        for (index, line) in lines.enumerated() {
            guard !isBlank(line) else { throw DataError(file: source, line: index + 1, .emptyLine) }
            parsed.append(try splitFields(line, source: source, line: index + 1))
        }

        let hasHeader = parsed[0].contains { classify($0) == .notANumber }
        let header = hasHeader ? parsed.removeFirst() : nil
        let first = hasHeader ? 2 : 1
        return CSVTable(source: source, header: header, rows: parsed,
                        lineNumbers: Array(first..<(first + parsed.count)))
    }

    /// What a field holds, as the number rules see it.
    public enum FieldValue: Equatable, Sendable {
        /// A finite decimal number.
        case number(Double)
        /// `nan`, `inf`, `infinity` (any case, optional sign), or a decimal too large for a double.
        case nonFinite
        /// Anything else, the empty field included.
        case notANumber
    }

    /// Classifies a field. A number is `[+-]digits[.digits][(e|E)[+-]digits]` (digits on at least
    /// one side of the point); hexadecimal and other forms are not numbers.
    public static func classify(_ field: String) -> FieldValue {
        var body = Substring(field)
        if let sign = body.first, sign == "+" || sign == "-" { body = body.dropFirst() }
        switch body.lowercased() {
        case "nan", "inf", "infinity": return .nonFinite
        default: break
        }
        guard isDecimal(body), let value = Double(field) else { return .notANumber }
        return value.isFinite ? .number(value) : .nonFinite
    }

    /// Every field parsed as a finite number; the error names the line and column of the first
    /// field that is not one.
    public func numericRows() throws(DataError) -> [[Double]] {
        var out: [[Double]] = []
        out.reserveCapacity(rows.count)
        for (r, row) in rows.enumerated() {
            var values: [Double] = []
            values.reserveCapacity(row.count)
            for (c, field) in row.enumerated() {
                values.append(try number(field, line: lineNumbers[r], column: c + 1))
            }
            out.append(values)
        }
        return out
    }

    /// `field` as a finite number, or the error for `line` and `column`.
    func number(_ field: String, line: Int, column: Int) throws(DataError) -> Double {
        switch CSVTable.classify(field) {
        case .number(let v): return v
        case .nonFinite: throw DataError(file: source, line: line, column: column, .nonFinite(field: field))
        case .notANumber: throw DataError(file: source, line: line, column: column, .notANumber(field: field))
        }
    }

    private static func isDecimal(_ s: Substring) -> Bool {
        var chars = s.utf8[...]
        func digits() -> Int {
            var n = 0
            while let c = chars.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { chars = chars.dropFirst(); n += 1 }
            return n
        }
        var mantissa = digits()
        if chars.first == UInt8(ascii: ".") {
            chars = chars.dropFirst()
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if let e = chars.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            chars = chars.dropFirst()
            if let sign = chars.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { chars = chars.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return chars.isEmpty
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

    static func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy(isSpace) }

    /// The 1-based line holding the first invalid UTF-8 byte, or nil.
    static func firstInvalidUTF8Line(_ bytes: [UInt8]) -> Int? {
        var line = 1
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): if encoded.count == 1 && encoded.first == 0x0A { line += 1 }
            case .error: return line
            case .emptyInput: return nil
            }
        }
    }

    /// Splits one line (without its `\n`) into trimmed fields.
    static func splitFields(_ line: [UInt8], source: String, line number: Int) throws(DataError) -> [String] {
        var fields: [String] = []
        var i = 0
        let n = line.count
        while true {
            while i < n, isSpace(line[i]) { i += 1 }
            let column = fields.count + 1
            var field: [UInt8] = []
            if i < n, line[i] == UInt8(ascii: "\"") {
                i += 1
                while true {
                    guard i < n else { throw DataError(file: source, line: number, column: column, .unterminatedQuote) }
                    if line[i] == UInt8(ascii: "\"") {
                        if i + 1 < n, line[i + 1] == UInt8(ascii: "\"") {
                            field.append(line[i])
                            i += 2
                        } else {
                            i += 1
                            break
                        }
                    } else {
                        field.append(line[i])
                        i += 1
                    }
                }
                while i < n, isSpace(line[i]) { i += 1 }
                guard i == n || line[i] == UInt8(ascii: ",") else {
                    let rest = line[i...].prefix { $0 != UInt8(ascii: ",") }
                    let text = "\"" + String(decoding: field, as: UTF8.self) + "\"" + String(decoding: rest, as: UTF8.self)
                    throw DataError(file: source, line: number, column: column, .textAfterQuote(field: text))
                }
            } else {
                while i < n, line[i] != UInt8(ascii: ",") {
                    field.append(line[i])
                    i += 1
                }
                while let last = field.last, isSpace(last) { field.removeLast() }
            }
            fields.append(String(decoding: field, as: UTF8.self))
            guard i < n else { return fields }
            i += 1  // the comma
        }
    }
}
