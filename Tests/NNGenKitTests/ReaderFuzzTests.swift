import DataIO
import Foundation
import ModelSpec
import XCTest

/// Seeded mutation tests of the three readers: model files (`Model.decode` then `analyze`), CSV
/// files (`CSVTable.parse` then `Dataset(csv:)`) and safetensors files
/// (`SafetensorsFile.decode`, then `Dataset(batch:)` for data batches).
///
/// The inputs are the examples (examples/*.json, the head of each examples/data/*.csv, and
/// safetensors files built from them) with mutations: bytes deleted, duplicated, replaced or
/// inserted, truncation, numbers swapped for huge, negative, NaN-like values or strings, strings
/// swapped, deep nesting, BOMs, CRLF, blank lines, wrong field counts, header length fields,
/// offsets, dtypes and shapes. For each input the reader must return, or throw its own error type
/// with a non-empty message that names the place (the file, and for CSV rows the line and for
/// fields the column) and holds no Foundation or runtime text; each case is time-boxed.
///
/// `NNGEN_FUZZ_CASES` (default 300) sets the cases per reader, `NNGEN_FUZZ_SEED` the seed, and
/// `NNGEN_FUZZ_CLI_CASES` (default 8) the cases per reader that also go through the nngen binary.
final class ReaderFuzzTests: XCTestCase {
    static let root = kitTestsPackageRoot
    static let timeBox = 60.0

    // MARK: model files

    func testMutatedModelFiles() throws {
        let bases = try Self.exampleModels()
        let log = FuzzLog()
        let base = FuzzSettings.seed
        let start = Date()
        for i in FuzzSettings.caseRange {
            let seed = FuzzSettings.caseSeed(base, stream: 2, index: i)
            var r = FuzzRandom(seed: seed)
            let (name, original) = r.pick(bases)
            let (how, bytes) = Mutator.model(original, &r)
            let label = "model case \(i) (NNGEN_FUZZ_SEED=\(base), case seed \(seed)) from \(name), \(how)"
            runCase(label, log: log, input: bytes) { Self.checkModel(bytes, source: "fuzz/\(name)") }
        }
        finish("model files", log, start)
    }

    /// The problems with reading `bytes` as a model file named `source`, or `[]`; also returns
    /// the outcome for counting.
    static func checkModel(_ bytes: [UInt8], source: String) -> (outcome: String, problems: [String]) {
        do {
            let model = try Model.decode(Data(bytes), source: source)
            do {
                _ = try model.analyze(file: source)
            } catch let e as ModelSpecError {
                return ("invalid model", specErrorProblems(e, source: source, syntax: false))
            } catch {
                return ("analyze threw", ["analyze threw a \(type(of: error)): \(error)"])
            }
            // What was read must write and read back to itself.
            do {
                let again = try Model.decode(Data(model.jsonString.utf8))
                if again != model { return ("read", ["the model read does not round-trip through its JSON"]) }
            } catch {
                return ("read", ["the model read does not read back from its own JSON: \(error)"])
            }
            return ("read", [])
        } catch let e as ModelSpecError {
            let syntax = e.issues.first?.message.contains("not well-formed JSON") ?? false
            return (syntax ? "syntax error" : "model error", specErrorProblems(e, source: source, syntax: syntax))
        } catch {
            return ("other error", ["threw a \(type(of: error)), not a ModelSpecError: \(error)"])
        }
    }

    static func specErrorProblems(_ e: ModelSpecError, source: String, syntax: Bool) -> [String] {
        var p = messageProblems(e.description)
        if e.file != source { p.append("the error does not name the file (file: \(e.file ?? "nil"))") }
        if e.issues.isEmpty { p.append("no issue listed") }
        for issue in e.issues {
            if issue.place.trimmingCharacters(in: .whitespaces).isEmpty { p.append("an issue without a place: \(issue)") }
            if issue.message.trimmingCharacters(in: .whitespaces).isEmpty { p.append("an issue without a message: \(issue)") }
        }
        if syntax, !(e.description.contains("line ") && e.description.contains("column ")) {
            p.append("a syntax error without line and column")
        }
        return p.isEmpty ? [] : p + ["message: \(e.description)"]
    }

    // MARK: CSV files

    func testMutatedCSVFiles() throws {
        let bases = try Self.exampleCSVs()
        let log = FuzzLog()
        let base = FuzzSettings.seed
        let start = Date()
        for i in FuzzSettings.caseRange {
            let seed = FuzzSettings.caseSeed(base, stream: 3, index: i)
            var r = FuzzRandom(seed: seed)
            let csv = r.pick(bases)
            let (how, bytes) = Mutator.csv(csv.bytes, &r)
            let label = "CSV case \(i) (NNGEN_FUZZ_SEED=\(base), case seed \(seed)) from \(csv.name) "
                + "(features \(csv.features), \(csv.target)), \(how)"
            runCase(label, log: log, input: bytes) {
                Self.checkCSV(bytes, source: "fuzz/\(csv.name)", features: csv.features, target: csv.target)
            }
        }
        finish("CSV files", log, start)
    }

    static func checkCSV(_ bytes: [UInt8], source: String, features: Int, target: TargetKind)
        -> (outcome: String, problems: [String])
    {
        do {
            let table = try CSVTable.parse(Data(bytes), source: source)
            let d = try Dataset(csv: table, features: features, target: target)
            if d.x.contains(where: { !$0.isFinite }) { return ("read", ["a non-finite input value was accepted"]) }
            return ("read", [])
        } catch {
            return ("error: \(kindName(error.kind))", dataErrorProblems(error, source: source, csv: true))
        }
    }

    /// The problems with a DataError: empty or internal text, no file, and for CSV row and
    /// field errors no line or column.
    static func dataErrorProblems(_ e: DataError, source: String, csv: Bool) -> [String] {
        var p = messageProblems(e.kind.message)
        if e.file != source { p.append("the error does not name the file (file: \(e.file ?? "nil"))") }
        if !e.description.contains(source) { p.append("the description does not name the file") }
        if csv {
            switch e.kind {
            case .notANumber, .nonFinite, .labelNotInteger, .labelOutOfRange, .textAfterQuote:
                if e.line == nil || e.column == nil { p.append("a field error without line and column") }
            case .fieldCount, .emptyLine, .unterminatedQuote, .notUTF8:
                if e.line == nil { p.append("a row error without a line") }
            default: break
            }
        }
        return p.isEmpty ? [] : p + ["message: \(e.description)"]
    }

    static func kindName(_ k: DataError.Kind) -> String {
        let s = String(describing: k)
        return String(s.prefix { $0 != "(" })
    }

    // MARK: safetensors files

    func testMutatedSafetensorsFiles() throws {
        let bases = try Self.safetensorsBases()
        let log = FuzzLog()
        let base = FuzzSettings.seed
        let start = Date()
        for i in FuzzSettings.caseRange {
            let seed = FuzzSettings.caseSeed(base, stream: 4, index: i)
            var r = FuzzRandom(seed: seed)
            let st = r.pick(bases)
            let (how, bytes) = Mutator.safetensors(st.bytes, &r)
            let label = "safetensors case \(i) (NNGEN_FUZZ_SEED=\(base), case seed \(seed)) from \(st.name), \(how)"
            runCase(label, log: log, input: bytes) {
                Self.checkSafetensors(bytes, source: "fuzz/\(st.name)", target: st.target)
            }
        }
        finish("safetensors files", log, start)
    }

    static func checkSafetensors(_ bytes: [UInt8], source: String, target: TargetKind?) -> (outcome: String, problems: [String]) {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.decode(Data(bytes), source: source)
        } catch {
            return ("error: \(kindName(error.kind))", dataErrorProblems(error, source: source, csv: false))
        }
        // A file that decodes must encode and decode to the same file.
        do {
            // (Compared as bytes: a NaN value is not equal to itself.)
            let again = try SafetensorsFile.decode(file.encoded(), source: source)
            if again.encoded() != file.encoded() {
                return ("read", ["the file read does not round-trip through encoded()"])
            }
        } catch {
            return ("read", ["the file read does not decode from its own encoding: \(error)"])
        }
        guard let target else { return ("read", []) }
        do {
            _ = try Dataset(batch: file, source: source, target: target)
            return ("read as data", [])
        } catch {
            return ("data error: \(kindName(error.kind))", dataErrorProblems(error, source: source, csv: false))
        }
    }

    // MARK: running

    /// Runs one case time-boxed and records its outcome or its problems.
    func runCase(_ label: String, log: FuzzLog, input: [UInt8],
                 _ body: @escaping @Sendable () -> (outcome: String, problems: [String])) {
        if let dir = FuzzSettings.dumpDirectory {
            // The input of every case, to replay one outside the tests.
            let name = label.prefix { $0 != "(" }.replacingOccurrences(of: " ", with: "_")
            try? Data(input).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
        }
        if FuzzSettings.trace {
            // A crash ends the test process: the last line names the case.
            FileHandle.standardError.write(Data("fuzz case: \(label)\n".utf8))
        }
        let box = ResultBox()
        let t0 = Date()
        let finished = runTimeBoxed(seconds: Self.timeBox) { box.set(body()) }
        let seconds = Date().timeIntervalSince(t0)
        if seconds > 2 { print(String(format: "fuzz slow case (%.1f s): %@", seconds, label)) }
        guard finished, let result = box.value else {
            log.fail("\(label): did not finish within \(Self.timeBox) s\n  input: \(describeBytes(input))")
            log.count("hang")
            return
        }
        log.count(result.outcome)
        if !result.problems.isEmpty {
            log.fail("\(label):\n  " + result.problems.joined(separator: "\n  ") + "\n  input: \(describeBytes(input))")
        }
    }

    func finish(_ what: String, _ log: FuzzLog, _ start: Date, file: StaticString = #filePath, line: UInt = #line) {
        print(String(format: "fuzz %@: %d cases in %.1f s, %d failures; outcomes: %@", what, FuzzSettings.cases,
                     Date().timeIntervalSince(start), log.failures.count, log.summary))
        XCTAssertTrue(log.failures.isEmpty, "\(log.failures.count) failing \(what) cases:\n"
                      + log.failures.prefix(10).joined(separator: "\n"), file: file, line: line)
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: (outcome: String, problems: [String])?
        func set(_ v: (outcome: String, problems: [String])) { lock.lock(); stored = v; lock.unlock() }
        var value: (outcome: String, problems: [String])? { lock.lock(); defer { lock.unlock() }; return stored }
    }

    // MARK: the inputs

    /// examples/*.json and examples/bench/*.json, by file name.
    static func exampleModels() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for dir in ["examples", "examples/bench"] {
            let url = root.appendingPathComponent(dir)
            for n in try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() where n.hasSuffix(".json") {
                out.append((n, [UInt8](try Data(contentsOf: url.appendingPathComponent(n)))))
            }
        }
        return out
    }

    struct CSVBase {
        var name: String
        var bytes: [UInt8]
        var features: Int
        var target: TargetKind
    }

    /// The header and first rows of each bundled data set, with its load arguments
    /// (examples/data/README.md); small, so that each case takes milliseconds.
    static func exampleCSVs() throws -> [CSVBase] {
        let sets: [(String, Int, TargetKind)] = [("iris.csv", 4, .classes(3)), ("diabetes.csv", 10, .values(1)),
                                                 ("breast_cancer.csv", 30, .values(1)), ("digits.csv", 64, .classes(10))]
        return try sets.map { (name, features, target) in
            let text = try String(contentsOf: root.appendingPathComponent("examples/data/\(name)"), encoding: .utf8)
            let head = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(12).joined(separator: "\n") + "\n"
            return CSVBase(name: name, bytes: Array(head.utf8), features: features, target: target)
        }
    }

    struct SafetensorsBase {
        var name: String
        var bytes: [UInt8]
        /// How to read it as a data batch, or nil for a parameters file.
        var target: TargetKind?
    }

    /// Data batches made from the bundled data (labels in I64 and I32, values, a sequence input)
    /// and a parameters-like file with several tensors, every dtype and metadata.
    static func safetensorsBases() throws -> [SafetensorsBase] {
        let iris = try Dataset(csv: CSVTable.parse(Data(try exampleCSVs()[0].bytes), source: "iris"), features: 4,
                               target: .classes(3))
        let diabetes = try Dataset(csv: CSVTable.parse(Data(try exampleCSVs()[1].bytes), source: "diabetes"),
                                   features: 10, target: .values(1))
        let digits = try Dataset(csv: CSVTable.parse(Data(try exampleCSVs()[3].bytes), source: "digits"),
                                 features: 64, target: .classes(10)).withInputShape([8, 8])
        var params = try SafetensorsFile(tensors: [
            Tensor(name: "layers.0.weight", shape: [3, 4], doubles: (0..<12).map { Double($0) / 7 }, dtype: .f32),
            Tensor(name: "layers.0.bias", shape: [3], doubles: [0.5, -0.25, 1], dtype: .f64),
            Tensor(name: "step", shape: [], ints: [7], dtype: .i64),
            Tensor(name: "counts", shape: [2, 1], ints: [1, -2], dtype: .i32),
            Tensor(name: "empty", shape: [0, 3], doubles: [], dtype: .f32),
        ], metadata: ["format": "nngen-parameters-1", "seed": "1"])
        params.metadata["note"] = "fuzz"
        return [
            SafetensorsBase(name: "iris_i64.safetensors", bytes: [UInt8](try iris.batchFile().encoded()), target: .classes(3)),
            SafetensorsBase(name: "iris_f64_i32.safetensors",
                            bytes: [UInt8](try iris.batchFile(xDType: .f64, labelDType: .i32).encoded()), target: .classes(3)),
            SafetensorsBase(name: "diabetes.safetensors", bytes: [UInt8](try diabetes.batchFile().encoded()), target: .values(1)),
            SafetensorsBase(name: "digits_seq.safetensors", bytes: [UInt8](try digits.batchFile().encoded()), target: .classes(10)),
            SafetensorsBase(name: "params.safetensors", bytes: [UInt8](params.encoded()), target: nil),
        ]
    }
}

/// The mutations. Each returns a short description of what it did and the mutated bytes.
enum Mutator {
    // MARK: bytes

    static let interestingBytes: [UInt8] = Array("{}[],:\"0123456789.-+eE \n\r\t\\aZ".utf8) + [0, 0x7F, 0x80, 0xC3, 0xFF, 0xEF, 0xBB, 0xBF]

    /// A generic byte-level mutation.
    static func bytes(_ b: [UInt8], _ r: inout FuzzRandom) -> (String, [UInt8]) {
        var b = b
        guard !b.isEmpty else { return ("insert into empty", [r.pick(interestingBytes)]) }
        switch r.int(0, 6) {
        case 0:
            let i = r.int(0, b.count - 1), n = min(r.pick([1, 1, 2, 5, 50]), b.count - i)
            b.removeSubrange(i..<(i + n))
            return ("delete \(n) bytes at \(i)", b)
        case 1:
            let i = r.int(0, b.count - 1), n = min(r.pick([1, 3, 20, 200]), b.count - i)
            b.insert(contentsOf: b[i..<(i + n)], at: i)
            return ("duplicate \(n) bytes at \(i)", b)
        case 2:
            let i = r.int(0, b.count - 1), v = r.pick(interestingBytes)
            b[i] = v
            return ("replace byte \(i) with \(v)", b)
        case 3:
            let i = r.int(0, b.count), v = r.pick(interestingBytes)
            b.insert(v, at: i)
            return ("insert byte \(v) at \(i)", b)
        case 4:
            let n = r.int(0, b.count - 1)
            return ("truncate to \(n) bytes", Array(b.prefix(n)))
        case 5:
            let i = r.int(0, b.count - 1)
            b[i] ^= UInt8(1 << r.int(0, 7))
            return ("flip a bit of byte \(i)", b)
        default:
            var how: [String] = []
            for _ in 0..<r.int(2, 6) {
                let (h, m) = bytes(b, &r)
                how.append(h)
                b = m
            }
            return (how.joined(separator: ", then "), b)
        }
    }

    // MARK: JSON text (model files, safetensors headers)

    static let replacementNumbers = [
        "0", "-1", "-0", "1.5", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
        "99999999999999999999999", "1e309", "-1e309", "1e-400", "1e18", "NaN", "nan", "Infinity", "-Infinity", "inf",
        "0x10", "01", "1.", ".5", "1e", "--1", "+1", "\"7\"", "\"\"", "null", "true", "false", "[]", "{}", "[1]", "1E2",
        "3.0000000000000001", "1e-5", "65536", "100000",
    ]

    static let replacementStrings = Layer.typeNames + [
        "", " dense", "Dense", "same ", "valid", "SAME", "sgd", "adam", "adamw", "mse", "huber", "bce_with_logits",
        "softmax_cross_entropy", "units", "kernel", "filters", "stride", "padding", "dilation", "bias", "eps", "affine",
        "negative_slope", "layers", "type", "features", "length", "channels", "batch", "lr", "momentum", "nesterov",
        "weight_decay", "beta1", "beta2", "delta", "name", "input", "loss", "optimizer", "standardize", "trainable",
        "\\u0000", "\\ud800", "\\\"", "é", "名前", "a b", "x", "y", "F32", "F64", "I32", "I64", "BF16", "F16", "U8", "f32",
        "__metadata__", "dtype", "shape", "data_offsets", String(repeating: "a", count: 5000),
    ]

    /// Byte ranges of the number tokens and string tokens (with quotes) of JSON text.
    static func tokens(_ b: [UInt8]) -> (numbers: [Range<Int>], strings: [Range<Int>]) {
        var numbers: [Range<Int>] = [], strings: [Range<Int>] = []
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                var j = i + 1
                while j < b.count, b[j] != UInt8(ascii: "\"") { j += b[j] == UInt8(ascii: "\\") ? 2 : 1 }
                strings.append(i..<min(j + 1, b.count))
                i = j + 1
            } else if c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) {
                var j = i + 1
                while j < b.count, "0123456789.eE+-".utf8.contains(b[j]) { j += 1 }
                numbers.append(i..<j)
                i = j
            } else {
                i += 1
            }
        }
        return (numbers, strings)
    }

    /// A mutation of JSON text that keeps most of it well-formed.
    static func json(_ b: [UInt8], _ r: inout FuzzRandom) -> (String, [UInt8]) {
        var b = b
        let (numbers, strings) = tokens(b)
        switch r.int(0, 11) {
        case 0, 1, 2:
            guard !numbers.isEmpty else { return bytes(b, &r) }
            let range = r.pick(numbers), v = r.pick(replacementNumbers)
            let old = String(decoding: b[range], as: UTF8.self)
            b.replaceSubrange(range, with: Array(v.utf8))
            return ("number \(old) at byte \(range.lowerBound) -> \(v)", b)
        case 3, 4:
            guard !strings.isEmpty else { return bytes(b, &r) }
            let range = r.pick(strings), v = "\"" + r.pick(replacementStrings) + "\""
            let old = String(decoding: b[range], as: UTF8.self)
            b.replaceSubrange(range, with: Array(v.utf8))
            return ("string \(old) at byte \(range.lowerBound) -> \(v.prefix(40))", b)
        case 5:
            // Nest a value (a number, or the value after a colon) deeply in arrays or objects.
            guard !numbers.isEmpty else { return bytes(b, &r) }
            let range = r.pick(numbers), n = r.pick([2, 10, 64, 100, 1000, 100_000])
            let inner = Array(b[range])
            let wrapped: [UInt8] = r.bool()
                ? Array(String(repeating: "[", count: n).utf8) + inner + Array(String(repeating: "]", count: n).utf8)
                : Array(String(repeating: "{\"a\":", count: n).utf8) + inner + Array(String(repeating: "}", count: n).utf8)
            b.replaceSubrange(range, with: wrapped)
            return ("number at byte \(range.lowerBound) nested \(n) deep", b)
        case 6:
            // Open brackets without closing them.
            let i = r.int(0, b.count), n = r.pick([100, 10_000, 100_000, 100_000, 1_000_000])
            b.insert(contentsOf: Array(String(repeating: r.bool() ? "[" : "{", count: n).utf8), at: i)
            return ("\(n) unclosed brackets at byte \(i)", b)
        case 7:
            // Duplicate or remove a "key": value member.
            guard let colon = b.indices.filter({ b[$0] == UInt8(ascii: ":") }).randomElement(using: &r),
                  let keyRange = strings.last(where: { $0.upperBound <= colon }) else { return bytes(b, &r) }
            var end = colon + 1, depth = 0
            while end < b.count {
                let c = b[end]
                if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { depth += 1 }
                if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") { if depth == 0 { break }; depth -= 1 }
                if c == UInt8(ascii: ","), depth == 0 { break }
                end += 1
            }
            let member = Array(b[keyRange.lowerBound..<end])
            if r.bool() {
                b.insert(contentsOf: member + Array(", ".utf8), at: keyRange.lowerBound)
                return ("member \(String(decoding: member.prefix(40), as: UTF8.self)) duplicated", b)
            }
            var cut = keyRange.lowerBound..<end
            if end < b.count, b[end] == UInt8(ascii: ",") { cut = keyRange.lowerBound..<(end + 1) }
            b.removeSubrange(cut)
            return ("member \(String(decoding: member.prefix(40), as: UTF8.self)) removed", b)
        case 8:
            let variants: [(String, [UInt8])] = [
                ("BOM added", [0xEF, 0xBB, 0xBF] + b),
                ("CRLF line ends", Array(String(decoding: b, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8)),
                ("trailing garbage", b + Array(" x".utf8)),
                ("second document", b + b),
                ("empty", []),
                ("whitespace only", Array(" \n\t".utf8)),
                ("UTF-16", Array(String(decoding: b, as: UTF8.self).data(using: .utf16) ?? Data())),
                ("NUL inside", Array(b.prefix(b.count / 2)) + [0] + Array(b.dropFirst(b.count / 2))),
            ]
            return r.pick(variants)
        case 9:
            // Repeat the last element of an array many times (a long layer list or shape).
            guard let close = b.indices.filter({ b[$0] == UInt8(ascii: "]") }).randomElement(using: &r),
                  let open = b[..<close].lastIndex(of: UInt8(ascii: "[")) else { return bytes(b, &r) }
            let lastComma = b[open..<close].lastIndex(of: UInt8(ascii: ",")) ?? open
            let element = Array(b[(lastComma + 1)..<close])
            guard !element.allSatisfy({ $0 == 0x20 || $0 == 0x0A }) else { return bytes(b, &r) }
            // At most about 4 MB added (an element may itself be a mutation's megabyte).
            let n = min(r.pick([10, 1000, 20_000]), max(1, 4_000_000 / (element.count + 1)))
            var extra: [UInt8] = []
            for _ in 0..<n { extra += Array(",".utf8) + element }
            b.insert(contentsOf: extra, at: close)
            return ("element before byte \(close) repeated \(n) times", b)
        default:
            return bytes(b, &r)
        }
    }

    static func model(_ b: [UInt8], _ r: inout FuzzRandom) -> (String, [UInt8]) {
        if r.bool(0.15) {
            // Two mutations in a row.
            let (h1, m1) = json(b, &r)
            let (h2, m2) = json(m1, &r)
            return (h1 + ", then " + h2, m2)
        }
        return json(b, &r)
    }

    // MARK: CSV

    static let replacementFields = [
        "", " ", "abc", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-400", "0x1p3", "\"1\"",
        "\" 2 \"", "\"unterminated", "\"a\"b", "\"\"", "\"1,2\"", "1,2", "1.", ".5", "1e", "--1", "+5", "-0", "٣", "１",
        "3.5", "-1", "10", "1e10", "99999999999999999999", "2147483648", "9223372036854775808", " 3 ", "\t4", "1 2",
        "1_000", "1,000", "true", "\u{0}", "é", String(repeating: "7", count: 100_000),
        String(repeating: "x", count: 100_000), "0." + String(repeating: "0", count: 5000) + "1",
    ]

    static func csv(_ b: [UInt8], _ r: inout FuzzRandom) -> (String, [UInt8]) {
        let text = String(decoding: b, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        func joined() -> [UInt8] { Array((lines.joined(separator: "\n") + "\n").utf8) }
        switch r.int(0, 12) {
        case 0, 1, 2:
            let li = r.int(0, lines.count - 1)
            var fields = lines[li].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let fi = r.int(0, fields.count - 1), v = r.pick(replacementFields)
            fields[fi] = v
            lines[li] = fields.joined(separator: ",")
            return ("line \(li + 1) field \(fi + 1) -> \(v.prefix(30))", joined())
        case 3:
            let li = r.int(0, lines.count - 1)
            var fields = lines[li].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if r.bool(), fields.count > 1 {
                fields.remove(at: r.int(0, fields.count - 1))
                lines[li] = fields.joined(separator: ",")
                return ("line \(li + 1) loses a field", joined())
            }
            fields.insert(r.pick(["0", "1", ""]), at: r.int(0, fields.count))
            lines[li] = fields.joined(separator: ",")
            return ("line \(li + 1) gains a field", joined())
        case 4:
            let li = r.int(0, lines.count), blank = r.pick(["", " ", "\t", "\r", " , "])
            lines.insert(blank, at: li)
            return ("blank line \(blank.debugDescription) inserted as line \(li + 1)", joined())
        case 5:
            return ("BOM added", [0xEF, 0xBB, 0xBF] + b)
        case 6:
            return ("CRLF line ends", Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        case 7:
            return ("CR line ends", Array(text.replacingOccurrences(of: "\n", with: "\r").utf8))
        case 8:
            let n = r.int(0, b.count - 1)
            return ("truncate to \(n) bytes", Array(b.prefix(n)))
        case 9:
            let variants: [(String, [UInt8])] = [
                ("header only", Array((lines[0] + "\n").utf8)),
                ("empty", []),
                ("blank lines only", Array("\n \n\r\n".utf8)),
                ("no header", Array((lines.dropFirst().joined(separator: "\n") + "\n").utf8)),
                ("no final newline", Array(b.dropLast())),
                ("trailing blank lines", b + Array("\n\n  \n".utf8)),
                ("invalid UTF-8", b + [0xFF, 0xFE, 0x0A]),
                ("header repeated", Array((lines[0] + "\n").utf8) + b),
                ("semicolons", Array(text.replacingOccurrences(of: ",", with: ";").utf8)),
                ("rows repeated", Array((lines + lines.dropFirst() + lines.dropFirst()).joined(separator: "\n").utf8)),
            ]
            return r.pick(variants)
        case 10:
            // Every field of one row replaced.
            let li = r.int(0, lines.count - 1)
            let count = lines[li].split(separator: ",", omittingEmptySubsequences: false).count
            let v = r.pick(replacementFields.filter { $0.utf8.count < 100 })  // huge fields: one at a time
            lines[li] = Array(repeating: v, count: count).joined(separator: ",")
            return ("every field of line \(li + 1) -> \(v.prefix(30))", joined())
        case 11:
            // A quoted field spanning a line break, or quotes around a whole row.
            let li = r.int(0, lines.count - 1)
            lines[li] = r.bool() ? "\"" + lines[li] + "\"" : lines[li] + ",\"a\nb\""
            return ("quotes on line \(li + 1)", joined())
        default:
            return bytes(b, &r)
        }
    }

    // MARK: safetensors

    static func safetensors(_ b: [UInt8], _ r: inout FuzzRandom) -> (String, [UInt8]) {
        var length = 0
        for i in 0..<8 { length |= Int(b[i]) << (8 * i) }
        let header = Array(b[8..<(8 + length)]), data = Array(b[(8 + length)...])
        func frame(_ h: [UInt8], _ d: [UInt8], length: UInt64? = nil) -> [UInt8] {
            let n = length ?? UInt64(h.count)
            return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + d
        }
        switch r.int(0, 9) {
        case 0, 1:
            let v: UInt64 = r.pick([0, 1, 2, 7, UInt64(length - 1), UInt64(length + 1), UInt64(length + data.count),
                                    UInt64(length + data.count + 1), 1 << 32, 1 << 63, UInt64.max, 100_000_000,
                                    100_000_001, UInt64(Int.max)])
            return ("header length \(length) -> \(v)", frame(header, data, length: v))
        case 2, 3, 4:
            // The header's JSON mutated, the length field kept right.
            let (how, h) = json(header, &r)
            return ("header: " + how, frame(h, data))
        case 5:
            // The header mutated as JSON and padded with spaces (as writers align it).
            let (how, h) = json(header, &r)
            return ("header: \(how), padded", frame(h + Array(repeating: 0x20, count: r.int(1, 7)), data))
        case 6:
            let n = r.int(0, b.count - 1)
            return ("truncate to \(n) bytes", Array(b.prefix(n)))
        case 7:
            let extra = r.pick([1, 4, 8, 1000])
            return ("\(extra) bytes appended", b + Array(repeating: 0, count: extra))
        case 8:
            // Data bytes replaced by NaN or infinity (checked by the data loader).
            guard data.count >= 8 else { return bytes(b, &r) }
            var d = data
            let i = r.int(0, d.count / 4 - 1) * 4
            let bits: UInt32 = r.pick([0x7FC0_0000, 0x7F80_0000, 0xFF80_0000, 0xFFFF_FFFF])
            for k in 0..<4 { d[i + k] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k))) }
            return ("data bytes \(i)..<\(i + 4) -> \(String(bits, radix: 16))", frame(header, d))
        default:
            return bytes(b, &r)
        }
    }
}

extension Array {
    /// A random element drawn with the fuzz generator.
    func randomElement(using r: inout FuzzRandom) -> Element? { isEmpty ? nil : self[r.int(0, count - 1)] }
}
