/// The strictness settings of `JSONParser` where its readers differ.
public struct JSONParseOptions: Sendable {
    /// Whether a UTF-8 byte order mark before the value is skipped (otherwise it is not a value).
    public var skipsByteOrderMark: Bool
    /// Lists and objects may be nested this deep.
    public var maxDepth: Int
    /// Whether the depth limit also refuses a number, string or literal at `maxDepth` (and the
    /// end of the text there), not only a list or object.
    public var depthLimitsEveryValue: Bool
    /// Whether `01` is refused as a number starting with 0 (`.leadingZero`); otherwise the number
    /// is `0` and the parser goes on at the `1`.
    public var refusesLeadingZeros: Bool
    /// Whether a number beyond Double's range is refused (`.numberOutOfRange`).
    public var requiresFiniteNumbers: Bool

    public init(skipsByteOrderMark: Bool, maxDepth: Int, depthLimitsEveryValue: Bool, refusesLeadingZeros: Bool,
                requiresFiniteNumbers: Bool) {
        self.skipsByteOrderMark = skipsByteOrderMark
        self.maxDepth = maxDepth
        self.depthLimitsEveryValue = depthLimitsEveryValue
        self.refusesLeadingZeros = refusesLeadingZeros
        self.requiresFiniteNumbers = requiresFiniteNumbers
    }
}

/// A syntax error of JSON text: what is wrong and the byte offset where it was found. Readers
/// word the message themselves (`JSONValue.parse` for model files, DataIO for safetensors
/// headers); the cases carry what each wording needs.
public struct JSONSyntaxError: Error, Equatable, Sendable {
    public enum Problem: Equatable, Sendable {
        /// The bytes are not UTF-8.
        case invalidUTF8
        /// Nothing but whitespace.
        case empty
        /// More than whitespace after the value.
        case trailingText
        /// No value where one must be (the end of the text, or a byte no value starts with).
        case expectedValue
        /// `true`, `false` or `null` misspelt; the offset is the first wrong byte.
        case badLiteral(word: String, start: Int)
        /// Lists and objects nested deeper than `limit`.
        case tooDeep(limit: Int)
        /// No `"` where an object key must start.
        case expectedKey
        /// No `:` after a key.
        case expectedColon(key: String)
        /// No `,` or `}` after an object member.
        case expectedCommaOrBrace(key: String)
        /// No `,` or `]` after a list item.
        case expectedCommaOrBracket
        /// The text ends inside the string that starts at `start`; the offset is the end.
        case unterminatedString(start: Int)
        /// A byte below 0x20 inside a string.
        case controlCharacter
        /// A backslash followed by this byte (the offset), which is no escape.
        case invalidEscape
        /// A `\u` escape whose hex digits start at `digitsStart` has a non-hex byte (the offset) or
        /// the text ends; `lowSurrogateOf` is the offset of the high surrogate escape it follows.
        case badHexDigits(digitsStart: Int, lowSurrogateOf: Int?)
        /// A high surrogate escape not followed by `\u`; the offset is just after it.
        case missingLowSurrogate
        /// A high surrogate escape followed by an escape that is no low surrogate; the offset is
        /// just after that escape.
        case invalidLowSurrogate
        /// A low surrogate escape on its own; the offset is just after it.
        case loneLowSurrogate
        /// No digit after a leading `-`.
        case expectedDigitAfterMinus
        /// No digit after a decimal point.
        case expectedFractionDigit
        /// No digit in an exponent.
        case expectedExponentDigit
        /// `0` followed by a digit (the offset) in the number that starts at `start`.
        case leadingZero(start: Int)
        /// A number (starting at the offset) beyond Double's range.
        case numberOutOfRange(text: String)
    }

    public var problem: Problem
    public var offset: Int
}

/// A strict RFC 8259 parser over UTF-8 bytes: object members keep their order and duplicates
/// (readers report them), numbers keep their literal text (`JSONNumber`, so 64-bit integers stay
/// exact), and a nesting limit keeps any input from exhausting the stack.
public struct JSONParser {
    private let bytes: [UInt8]
    private let options: JSONParseOptions
    private var i = 0

    /// Parses `bytes` as one JSON value with surrounding whitespace.
    public static func parse(_ bytes: [UInt8], options: JSONParseOptions) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, options: options)
        return try parser.parseDocument()
    }

    private init(bytes: [UInt8], options: JSONParseOptions) {
        self.bytes = bytes
        self.options = options
    }

    private func fail(_ problem: JSONSyntaxError.Problem, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(problem: problem, offset: offset ?? i)
    }

    private func isByte(_ c: Unicode.Scalar, at k: Int) -> Bool { k < bytes.count && bytes[k] == UInt8(ascii: c) }
    private func isDigit(_ k: Int) -> Bool { k < bytes.count && bytes[k] >= 0x30 && bytes[k] <= 0x39 }

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        if options.skipsByteOrderMark && bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        var scalars = bytes[i...].makeIterator()
        var utf8 = Unicode.UTF8.ForwardParser()
        var offset = i
        decoding: while true {
            switch utf8.parseScalar(from: &scalars) {
            case .valid(let s): offset += s.count
            case .emptyInput: break decoding
            case .error: throw fail(.invalidUTF8, at: offset)
            }
        }
        skipSpace()
        guard i < bytes.count else { throw fail(.empty) }
        let v = try value(depth: 0)
        skipSpace()
        guard i == bytes.count else { throw fail(.trailingText) }
        return v
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// The value at `i`, inside `depth` lists and objects.
    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth >= options.maxDepth && (options.depthLimitsEveryValue || isByte("{", at: i) || isByte("[", at: i)) {
            throw fail(.tooDeep(limit: options.maxDepth))
        }
        guard i < bytes.count else { throw fail(.expectedValue) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail(.expectedValue)
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        let start = i
        for byte in word.utf8 {
            guard i < bytes.count, bytes[i] == byte else { throw fail(.badLiteral(word: word, start: start)) }
            i += 1
        }
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        i += 1  // {
        var pairs: [(String, JSONValue)] = []
        skipSpace()
        if isByte("}", at: i) { i += 1; return .object(pairs) }
        while true {
            skipSpace()
            guard isByte("\"", at: i) else { throw fail(.expectedKey) }
            let key = try string()
            skipSpace()
            guard isByte(":", at: i) else { throw fail(.expectedColon(key: key)) }
            i += 1
            skipSpace()
            pairs.append((key, try value(depth: depth + 1)))
            skipSpace()
            if isByte(",", at: i) { i += 1; continue }
            if isByte("}", at: i) { i += 1; return .object(pairs) }
            throw fail(.expectedCommaOrBrace(key: key))
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        i += 1  // [
        var items: [JSONValue] = []
        skipSpace()
        if isByte("]", at: i) { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            if isByte(",", at: i) { i += 1; continue }
            if isByte("]", at: i) { i += 1; return .array(items) }
            throw fail(.expectedCommaOrBracket)
        }
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        let start = i
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail(.unterminatedString(start: start)) }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { i += 1; break }
            if b < 0x20 { throw fail(.controlCharacter) }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail(.unterminatedString(start: start)) }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"): out.append(contentsOf: Array(String(Character(try unicodeEscape())).utf8))
            default: throw fail(.invalidEscape, at: i - 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// After `\u`: four hex digits, or a surrogate pair written as two escapes.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let high = try hex4(lowSurrogateOf: nil)
        if (0xD800..<0xDC00).contains(high) {
            guard isByte("\\", at: i), isByte("u", at: i + 1) else { throw fail(.missingLowSurrogate) }
            i += 2
            let low = try hex4(lowSurrogateOf: i - 8)
            guard (0xDC00..<0xE000).contains(low) else { throw fail(.invalidLowSurrogate) }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
        }
        guard let scalar = Unicode.Scalar(high) else { throw fail(.loneLowSurrogate) }
        return scalar
    }

    private mutating func hex4(lowSurrogateOf: Int?) throws(JSONSyntaxError) -> UInt32 {
        let start = i
        var v: UInt32 = 0
        for _ in 0..<4 {
            let d: UInt8
            switch i < bytes.count ? bytes[i] : 0 {
            case let b where b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case let b where b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case let b where b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail(.badHexDigits(digitsStart: start, lowSurrogateOf: lowSurrogateOf))
            }
            v = v * 16 + UInt32(d)
            i += 1
        }
        return v
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONNumber {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { throw fail(.expectedDigitAfterMinus) }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if options.refusesLeadingZeros && isDigit(i) { throw fail(.leadingZero(start: start)) }
        } else {
            while isDigit(i) { i += 1 }
        }
        if isByte(".", at: i) {
            i += 1
            guard isDigit(i) else { throw fail(.expectedFractionDigit) }
            while isDigit(i) { i += 1 }
        }
        if isByte("e", at: i) || isByte("E", at: i) {
            i += 1
            if isByte("+", at: i) || isByte("-", at: i) { i += 1 }
            guard isDigit(i) else { throw fail(.expectedExponentDigit) }
            while isDigit(i) { i += 1 }
        }
        let number = JSONNumber(text: String(decoding: bytes[start..<i], as: UTF8.self))
        if options.requiresFiniteNumbers && !number.value.isFinite {
            throw fail(.numberOutOfRange(text: number.text), at: start)
        }
        return number
    }
}
