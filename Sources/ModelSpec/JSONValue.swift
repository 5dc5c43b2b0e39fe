import Foundation

/// Any JSON value, with object keys kept in file order. Model files (and safetensors headers)
/// are read into this first, so that every field can be checked with an error naming its place.
public enum JSONValue: Hashable, Sendable, Codable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public init(from decoder: Decoder) throws {
        if let c = try? decoder.container(keyedBy: AnyKey.self) {
            var pairs: [(String, JSONValue)] = []
            for key in c.allKeys {
                pairs.append((key.stringValue, try c.decode(JSONValue.self, forKey: key)))
            }
            self = .object(pairs)
        } else if var c = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !c.isAtEnd { items.append(try c.decode(JSONValue.self)) }
            self = .array(items)
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let d = try? c.decode(Double.self) {
                self = .number(JSONNumber(d))
            } else {
                self = .string(try c.decode(String.self))
            }
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let d):
            var c = encoder.singleValueContainer()
            try c.encode(d.value)
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let pairs):
            var c = encoder.container(keyedBy: AnyKey.self)
            for (k, v) in pairs { try c.encode(v, forKey: AnyKey(k)) }
        }
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into h: inout Hasher) {
        switch self {
        case .null: h.combine(0)
        case .bool(let b): h.combine(b)
        case .number(let d): h.combine(d)
        case .string(let s): h.combine(s)
        case .array(let a): h.combine(a)
        case .object(let p): for (k, v) in p { h.combine(k); h.combine(v) }
        }
    }

    /// What kind of value this is, for error messages ("a string", "a number", ...).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// Parses JSON text (RFC 8259), keeping object keys in file order and duplicates (which
    /// the model reader reports). A syntax error names the line and column (1-based; columns
    /// count characters). `source` names the file in the error, if known.
    public static func parse(_ data: Data, source: String? = nil) throws -> JSONValue {
        let bytes = [UInt8](data)
        do {
            return try JSONParser.parse(bytes, options: .modelFile)
        } catch {
            let (message, offset) = modelFileMessage(error, in: bytes)
            let bom = data.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0  // not a column
            let (line, column) = lineAndColumn(of: offset - bom, in: data.dropFirst(bom))
            throw ModelSpecError(file: source, place: "file",
                                 "it is not well-formed JSON: \(message) (line \(line), column \(column))")
        }
    }

    /// A syntax error in the model reader's words, and the offset it points at.
    static func modelFileMessage(_ error: JSONSyntaxError, in bytes: [UInt8]) -> (String, Int) {
        let at = error.offset
        let atEnd = at >= bytes.count
        /// What is at an offset, for messages.
        func found(_ k: Int = at) -> String {
            guard k < bytes.count else { return "the end of the file" }
            let b = bytes[k]
            if b >= 0x21 && b < 0x7F { return "'\(Character(UnicodeScalar(b)))'" }
            if b == 0x0A || b == 0x0D { return "the end of the line" }
            return String(format: "byte 0x%02X", b)
        }
        let expectedValue = "expected a value (an object, list, string, number, true, false or null), found "
        let highSurrogate = "a \\u escape of a high surrogate must be followed by a low surrogate"
        switch error.problem {
        case .invalidUTF8: return ("the text is not valid UTF-8", at)
        case .empty: return ("the file is empty; expected a JSON object {...}", at)
        case .trailingText: return ("unexpected \(found()) after the end of the JSON value", at)
        case .expectedValue:
            return (atEnd ? "unexpected end of the file; expected a value" : expectedValue + found(), at)
        case .badLiteral(_, let start): return (expectedValue + found(start), start)
        case .tooDeep(let limit): return ("lists and objects are nested more than \(limit) deep", at)
        case .expectedKey: return ("expected a field name in double quotes, found \(found())", at)
        case .expectedColon(let key): return ("expected ':' after the field name \"\(Messages.shown(key))\", found \(found())", at)
        case .expectedCommaOrBrace(let key):
            return (atEnd ? "unexpected end of the file; expected ',' or '}'"
                          : "expected ',' or '}' after the value of \"\(Messages.shown(key))\", found \(found())", at)
        case .expectedCommaOrBracket:
            return (atEnd ? "unexpected end of the file; expected ',' or ']'"
                          : "expected ',' or ']' after a list item, found \(found())", at)
        case .unterminatedString(let start): return ("unterminated string (no closing '\"')", start)
        case .controlCharacter:
            return ("a control character (such as a line break) inside a string; write it as an escape like \\n", at)
        case .invalidEscape: return ("invalid escape '\\\(Character(UnicodeScalar(bytes[at])))' in a string", at - 1)
        case .badHexDigits(let digitsStart, let high):
            // Fewer than four bytes left: the escape as a whole is short.
            let short = bytes.count - digitsStart < 4
            if short, let high { return (highSurrogate, high) }
            return ("a \\u escape needs 4 hexadecimal digits", short ? digitsStart : at)
        case .missingLowSurrogate, .invalidLowSurrogate: return (highSurrogate, at - 6)
        case .loneLowSurrogate: return ("a lone low surrogate in a \\u escape", at - 6)
        case .expectedDigitAfterMinus: return ("expected a digit after '-', found \(found())", at)
        case .expectedFractionDigit: return ("expected a digit after the decimal point, found \(found())", at)
        case .expectedExponentDigit: return ("expected a digit in the exponent, found \(found())", at)
        case .leadingZero(let start): return ("a number may not start with 0 followed by digits", start)
        case .numberOutOfRange(let text): return ("the number \(Messages.shown(text)) is out of range", at)
        }
    }

    /// 1-based line and column of a UTF-8 byte offset.
    static func lineAndColumn(of offset: Int, in data: Data) -> (Int, Int) {
        var line = 1, column = 1
        for (i, byte) in data.enumerated() {
            if i >= offset { break }
            if byte == 10 { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return (line, column)
    }

    /// Pretty JSON text with keys in order, two-space indent; short lists and objects of
    /// scalars stay on one line.
    public func formatted(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let close = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return JSONValue.format(d.value)
        case .string(let s): return JSONValue.quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            let parts = items.map { $0.formatted(indent: indent + 1) }
            if items.allSatisfy(\.isScalar) { return "[" + parts.joined(separator: ", ") + "]" }
            return "[\n" + parts.map { pad + $0 }.joined(separator: ",\n") + "\n" + close + "]"
        case .object(let pairs):
            if pairs.isEmpty { return "{}" }
            let parts = pairs.map { JSONValue.quote($0.0) + ": " + $0.1.formatted(indent: indent + 1) }
            let line = "{" + parts.joined(separator: ", ") + "}"
            if pairs.allSatisfy({ $0.1.isScalar }) && line.count <= 100 { return line }
            return "{\n" + parts.map { pad + $0 }.joined(separator: ",\n") + "\n" + close + "}"
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    /// Numbers that are integers print without a fraction; others in the shortest form that reads back equal.
    static func format(_ d: Double) -> String {
        if d.isFinite && d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// A coding key made from any string or index.
public struct AnyKey: CodingKey, Hashable, Sendable {
    public var stringValue: String
    public var intValue: Int?
    public init(_ s: String) { stringValue = s }
    public init?(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

/// A JSON number: its literal text and its value. The text keeps integers beyond 2^53 exact
/// (`int64`); two numbers are equal when their values are (`1` and `1.0`).
public struct JSONNumber: Hashable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral,
                          ExpressibleByFloatLiteral {
    /// The number as written in the JSON text; for a number made from a value, its shortest form.
    public let text: String
    /// The value (infinite when the text is beyond Double's range).
    public let value: Double

    /// The number as read: `text` is a JSON number literal.
    init(text: String) {
        self.text = text
        value = Double(text) ?? .nan
    }

    public init(_ value: Double) {
        self.value = value
        text = JSONValue.format(value)
    }

    public init(integerLiteral value: Int) { self.init(Double(value)) }
    public init(floatLiteral value: Double) { self.init(value) }

    /// The exact value when the text is an integer (no fraction, no exponent) that fits Int64.
    public var int64: Int64? {
        text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? nil : Int64(text)
    }

    public var description: String { text }

    public static func == (a: JSONNumber, b: JSONNumber) -> Bool { a.value == b.value }
    public func hash(into h: inout Hasher) { h.combine(value) }
}

extension JSONParseOptions {
    /// Model files: a byte order mark is skipped, lists and objects nest at most 256 deep,
    /// numbers may not start with 0 followed by digits and must be within Double's range.
    public static let modelFile = JSONParseOptions(skipsByteOrderMark: true, maxDepth: 256, depthLimitsEveryValue: false,
                                                   refusesLeadingZeros: true, requiresFiniteNumbers: true)
}
