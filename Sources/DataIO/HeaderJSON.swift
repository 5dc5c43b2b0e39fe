import ModelSpec

// A safetensors header is read with ModelSpec's JSON parser (numbers keep their text, so
// integers stay exact); what differs from model files is its strictness and its wording.

extension JSONParseOptions {
    /// Safetensors headers: no byte order mark, any value at most 64 levels deep, `01` read as
    /// `0` followed by unexpected text, numbers of any size (only integers are used, exactly).
    static let safetensorsHeader = JSONParseOptions(skipsByteOrderMark: false, maxDepth: 64, depthLimitsEveryValue: true,
                                                    refusesLeadingZeros: false, requiresFiniteNumbers: false)
}

extension JSONSyntaxError {
    /// The reason in the words of `DataError.Kind.invalidJSON`.
    func headerReason(textLength: Int) -> String {
        let atEnd = offset >= textLength
        func ends(_ what: String) -> String { "the text ends where \(what) was expected" }
        switch problem {
        case .invalidUTF8: return "the text is not valid UTF-8"
        case .empty: return ends("a value")
        case .trailingText: return "unexpected text after the JSON value"
        case .expectedValue:
            return atEnd ? ends("a value") : "expected a value (object, list, string, number, true, false or null)"
        case .badLiteral(let word, _): return "expected \(word)"
        case .tooDeep(let limit): return "nested deeper than \(limit) levels"
        case .expectedKey: return "expected a string key"
        case .expectedColon:
            return atEnd ? ends("':' after an object key") : "expected ':' after an object key"
        case .expectedCommaOrBrace:
            return atEnd ? ends("',' or '}' after an object member") : "expected ',' or '}' after an object member"
        case .expectedCommaOrBracket:
            return atEnd ? ends("',' or ']' after a list item") : "expected ',' or ']' after a list item"
        case .unterminatedString: return "the text ends inside a string"
        case .controlCharacter: return "control character inside a string (write it escaped)"
        case .invalidEscape: return "invalid escape sequence in a string"
        case .badHexDigits: return "expected four hex digits after \\u"
        case .missingLowSurrogate: return "a high surrogate \\u escape must be followed by a low surrogate"
        case .invalidLowSurrogate: return "invalid low surrogate in a \\u escape"
        case .loneLowSurrogate: return "unpaired surrogate in a \\u escape"
        case .expectedDigitAfterMinus: return "expected a digit"
        case .expectedFractionDigit: return "expected a digit after '.'"
        case .expectedExponentDigit: return "expected a digit in the exponent"
        // Not produced with `safetensorsHeader`'s options.
        case .leadingZero: return "a number may not start with 0 followed by digits"
        case .numberOutOfRange(let text): return "the number \(text) is out of range"
        }
    }
}

extension JSONValue {
    /// The value as an `Int` if it is an integer literal (no fraction, no exponent) that fits.
    var integer: Int? {
        guard case .number(let n) = self, let v = n.int64 else { return nil }
        return Int(exactly: v)
    }

    /// "an object", "a number 3.5"... for error messages.
    var kindDescription: String {
        switch self {
        case .object: return "an object"
        case .array: return "a list"
        case .string(let s): return "a string \(JSONValue.quote(s))"
        case .number(let n): return "a number \(n.text)"
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }

    /// Compact JSON text with numbers as written, cut to `limit` characters, for error messages.
    func compact(limit: Int = 80) -> String {
        let text = compactText()
        return text.count <= limit ? text : String(text.prefix(limit)) + "..."
    }

    private func compactText() -> String {
        switch self {
        case .object(let members):
            return "{" + members.map { JSONValue.quote($0.0) + ": " + $0.1.compactText() }.joined(separator: ", ") + "}"
        case .array(let items): return "[" + items.map { $0.compactText() }.joined(separator: ", ") + "]"
        case .string(let s): return JSONValue.quote(s)
        case .number(let n): return n.text
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }
}
