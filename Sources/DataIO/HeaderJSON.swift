/// A JSON value as the safetensors header needs it: object members keep their order (and
/// duplicates, which the reader reports), numbers keep their text so integers stay exact.
enum HeaderJSON: Equatable {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (a: HeaderJSON, b: HeaderJSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value as an `Int` if it is an integer literal (no fraction, no exponent) that fits.
    var integer: Int? {
        guard case .number(let text) = self,
              !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
        return Int(text)
    }

    /// "an object", "a number 3.5"... for error messages.
    var kindDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "a list"
        case .string(let s): return "a string \(HeaderJSON.quoted(s))"
        case .number(let n): return "a number \(n)"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }

    /// Compact JSON text, cut to `limit` characters, for error messages.
    func compact(limit: Int = 80) -> String {
        let text = compactText()
        return text.count <= limit ? text : String(text.prefix(limit)) + "..."
    }

    private func compactText() -> String {
        switch self {
        case .object(let members):
            return "{" + members.map { HeaderJSON.quoted($0.key) + ": " + $0.value.compactText() }
                .joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map { $0.compactText() }.joined(separator: ", ") + "]"
        case .string(let s): return HeaderJSON.quoted(s)
        case .number(let n): return n
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }

    /// `s` as a JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// A syntax error at a byte offset of the parsed text.
struct HeaderJSONError: Error {
    let reason: String
    let offset: Int
}

/// A strict RFC 8259 parser over UTF-8 bytes with a nesting limit, so that no input can exhaust
/// the stack. Whitespace (the spaces that pad a safetensors header included) may surround the value.
struct HeaderJSONParser {
    private let bytes: [UInt8]
    private var pos = 0
    private let maxDepth = 64

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses the whole text as one JSON value.
    static func parse(_ bytes: [UInt8]) throws(HeaderJSONError) -> HeaderJSON {
        var parser = HeaderJSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.pos == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ reason: String) -> HeaderJSONError { HeaderJSONError(reason: reason, offset: pos) }

    private var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let b = current, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(HeaderJSONError) {
        guard current == byte else {
            throw error(current == nil ? "the text ends where \(what) was expected" : "expected \(what)")
        }
        pos += 1
    }

    private mutating func parseValue(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        guard depth < maxDepth else { throw error("nested deeper than \(maxDepth) levels") }
        guard let b = current else { throw error("the text ends where a value was expected") }
        switch b {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("expected a value (object, list, string, number, true, false or null)")
        }
    }

    private mutating func literal(_ word: String) throws(HeaderJSONError) {
        for byte in word.utf8 {
            guard current == byte else { throw error("expected \(word)") }
            pos += 1
        }
    }

    private mutating func parseObject(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        pos += 1  // {
        var members: [(key: String, value: HeaderJSON)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after an object key")
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            members.append((key, value))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "}"), "',' or '}' after an object member")
            return .object(members)
        }
    }

    private mutating func parseArray(depth: Int) throws(HeaderJSONError) -> HeaderJSON {
        pos += 1  // [
        var items: [HeaderJSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "]"), "',' or ']' after a list item")
            return .array(items)
        }
    }

    private mutating func parseNumber() throws(HeaderJSONError) -> String {
        let start = pos
        func digits(_ p: inout HeaderJSONParser) -> Int {
            var n = 0
            while let b = p.current, b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") { p.pos += 1; n += 1 }
            return n
        }
        if current == UInt8(ascii: "-") { pos += 1 }
        if current == UInt8(ascii: "0") {
            pos += 1
        } else if digits(&self) == 0 {
            throw error("expected a digit")
        }
        if current == UInt8(ascii: ".") {
            pos += 1
            guard digits(&self) > 0 else { throw error("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw error("expected a digit in the exponent") }
        }
        return String(decoding: bytes[start..<pos], as: UTF8.self)
    }

    private mutating func parseString() throws(HeaderJSONError) -> String {
        pos += 1  // opening quote
        var out = [UInt8]()
        while true {
            guard let b = current else { throw error("the text ends inside a string") }
            switch b {
            case UInt8(ascii: "\""):
                pos += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                pos += 1
                guard let e = current else { throw error("the text ends inside a string") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try parseUnicodeEscape()
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    pos -= 1
                    throw error("invalid escape sequence in a string")
                }
            case 0..<0x20:
                throw error("control character inside a string (write it escaped)")
            default:
                out.append(b)
                pos += 1
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
    private mutating func parseUnicodeEscape() throws(HeaderJSONError) -> Unicode.Scalar {
        let high = try hex4()
        if (0xD800..<0xDC00).contains(high) {
            guard current == UInt8(ascii: "\\"), pos + 1 < bytes.count, bytes[pos + 1] == UInt8(ascii: "u") else {
                throw error("a high surrogate \\u escape must be followed by a low surrogate")
            }
            pos += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low),
                  let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else {
                throw error("invalid low surrogate in a \\u escape")
            }
            return scalar
        }
        guard let scalar = Unicode.Scalar(high) else { throw error("unpaired surrogate in a \\u escape") }
        return scalar
    }

    private mutating func hex4() throws(HeaderJSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let b = current, let digit = UInt32(String(UnicodeScalar(b)), radix: 16) else {
                throw error("expected four hex digits after \\u")
            }
            value = value * 16 + digit
            pos += 1
        }
        return value
    }
}
