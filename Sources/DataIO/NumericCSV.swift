import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fast reader of CSV data files: one pass over the bytes, read a few megabytes at a time,
/// each number parsed where it lies and stored straight into a `SampleStore` (F32 while every
/// value is exactly a float, then F64), with no string or line list in between.
///
/// It takes only files that are entirely plain: the first line as `CSVTable` reads it (a header,
/// or a data row, quoted fields allowed), then rows of exactly the expected number of decimal
/// numbers (`CSVTable.classify`'s grammar, spaces and tabs around them, `\n` or `\r\n` line ends,
/// blank lines only at the end), finite, with labels that are integers in range. On anything
/// else it returns nil and the caller reads the file with `CSVTable`, which finds the first
/// problem in the same order as always and reports it with its line and column: the fast reader
/// never reports an error of its own, so the messages are those of the general reader.
///
/// Each value is the double `Double(String)` (correctly rounded, as `strtod`) gives for the
/// field: up to 19 significant digits with a power of ten within 10^±22 are exact in the
/// computation `mantissa * 10^e` (or `/ 10^-e`), one correctly rounded operation on exact
/// operands (Clinger's fast path); any other field is handed to `Double(_:)` itself.
enum NumericCSV {
    /// The bytes read from the file at a time.
    static let chunk = 4 << 20

    /// The data set in `url` for `features` inputs and `target`, or nil when the file is not
    /// plain (see the type's rules) or cannot be read.
    static func load(_ url: URL, features: Int, target: TargetKind) -> Dataset? {
        guard features >= 1, (try? target.validate()) != nil else { return nil }
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var reader = Reader(fd: fd, features: features, target: target, fileSize: Int(st.st_size))
        guard let d = reader.run(source: url.path) else { return nil }
        return d
    }

    /// 10^0 ... 10^22, each exact in a double.
    static let powersOfTen: [Double] = (0...22).map { e in
        var v = 1.0
        for _ in 0..<e { v *= 10 }
        return v
    }

    /// The state of one read.
    struct Reader {
        let fd: Int32
        let features: Int
        let target: TargetKind
        let expected: Int
        var store: SampleStore
        var labels: [Int] = []
        var values: [Double] = []
        var header: [String]?
        var rows = 0

        init(fd: Int32, features: Int, target: TargetKind, fileSize: Int) {
            self.fd = fd
            self.features = features
            self.target = target
            expected = features + target.columns
            // Every field takes at least 2 bytes (a digit and a comma or newline), so this bounds
            // the input values; pages of the block that are never written take no memory.
            let bound = (fileSize / 2 + 1) * features / expected + features
            store = SampleStore(ownedDType: .f32, capacity: bound)
        }

        /// Reads the whole file; nil when it is not plain.
        mutating func run(source: String) -> Dataset? {
            var buffer = [UInt8](repeating: 0, count: NumericCSV.chunk)
            var start = 0, end = 0, lineNumber = 0
            var eof = false, pendingBlank = false
            while true {
                // One complete line in buffer[start..<lineEnd], or the rest of the file at its end.
                var newline = -1
                buffer.withUnsafeBufferPointer { b in
                    if let p = memchr(b.baseAddress! + start, 0x0A, end - start) {
                        newline = UnsafePointer<UInt8>(p.assumingMemoryBound(to: UInt8.self)) - b.baseAddress!
                    }
                }
                if newline < 0 && !eof {
                    if start > 0 {  // keep the partial line, at the front
                        buffer.withUnsafeMutableBufferPointer { b in
                            _ = memmove(b.baseAddress!, b.baseAddress! + start, end - start)
                        }
                        end -= start
                        start = 0
                    }
                    if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
                    let n = buffer.withUnsafeMutableBufferPointer { b in read(fd, b.baseAddress! + end, b.count - end) }
                    if n < 0 { if errno == EINTR { continue }; return nil }
                    if n == 0 { eof = true } else { end += n }
                    continue
                }
                if newline < 0 && start == end { break }  // the end of the file
                let lineEnd = newline < 0 ? end : newline
                lineNumber += 1
                var ok = true
                buffer.withUnsafeBufferPointer { b in
                    var p = b.baseAddress! + start
                    let e = b.baseAddress! + lineEnd
                    if lineNumber == 1, e - p >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF { p += 3 }
                    if isBlank(p, e) {
                        if lineNumber == 1 { ok = false } else { pendingBlank = true }
                        return
                    }
                    if pendingBlank { ok = false; return }
                    ok = lineNumber == 1 ? firstLine(p, e, source: source) : row(p, e)
                }
                guard ok else { return nil }
                start = newline < 0 ? end : newline + 1
            }
            guard rows > 0 else { return nil }
            store.shrinkToFit()
            let targets: DatasetTargets
            switch target {
            case .classes(let k): targets = .labels(labels, classes: k)
            case .values(let outs): targets = .values(values, outputs: outs)
            }
            guard var d = try? Dataset(store: store, inputShape: [features], targets: targets) else { return nil }
            d.source = source
            d.featureNames = header.map { Array($0.prefix(features)) }
            return d
        }

        func isBlank(_ p: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> Bool {
            var q = p
            while q < e { if !CSVTable.isSpace(q.pointee) { return false }; q += 1 }
            return true
        }

        /// The first line, through `CSVTable`'s own splitting and number rules: a header, or the
        /// first data row.
        mutating func firstLine(_ p: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>, source: String) -> Bool {
            let bytes = Array(UnsafeBufferPointer(start: p, count: e - p))
            guard CSVTable.firstInvalidUTF8Line(bytes) == nil,
                  let fields = try? CSVTable.splitFields(bytes, source: source, line: 1),
                  fields.count == expected else { return false }
            let classified = fields.map(CSVTable.classify)
            if classified.contains(.notANumber) {
                header = fields
                return true
            }
            guard store.reserve(features) else { return false }
            for (c, value) in classified.enumerated() {
                guard case .number(let v) = value, take(v, column: c) else { return false }
            }
            rows += 1
            return true
        }

        /// One data row of plain numbers. The inputs go straight into the store's memory (no
        /// per-value call into the store), the targets into `labels` or `values`.
        mutating func row(_ line: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> Bool {
            guard store.reserve(features) else { return false }
            var dst = store.base!
            var n = store.count
            var single = store.dtype == .f32
            var p = line
            for c in 0..<expected {
                while p < e, p.pointee == 0x20 || p.pointee == 0x09 { p += 1 }
                // The common field, a short unsigned integer right before a comma or the end of
                // the line: exact as it is (below 10^15 < 2^53); anything else, the full parser.
                var q = p, digits = 0
                var integer: UInt64 = 0
                while q < e, q.pointee &- 48 < 10, digits < 15 {
                    integer = integer &* 10 &+ UInt64(q.pointee &- 48)
                    q += 1
                    digits += 1
                }
                let v: Double
                if digits > 0 && (q == e || q.pointee == UInt8(ascii: ",")) {
                    v = Double(integer)
                    p = q
                } else {
                    guard let (parsed, next) = NumericCSV.number(p, e) else { return false }
                    v = parsed
                    p = next
                }
                while p < e, CSVTable.isSpace(p.pointee) { p += 1 }
                if c + 1 < expected {
                    guard p < e, p.pointee == UInt8(ascii: ",") else { return false }
                    p += 1
                } else {
                    guard p == e else { return false }
                }
                if c < features {
                    if single {
                        let fv = Float(v)
                        if Double(fv) == v {
                            dst.storeBytes(of: fv, toByteOffset: 4 * n, as: Float.self)
                            n += 1
                            continue
                        }
                        store.count = n  // a value that is not a float: the store becomes F64
                        store = store.widened(capacity: n + (n / max(rows, 1) + features) * 2)
                        guard store.reserve(features) else { return false }
                        dst = store.base!
                        single = false
                    }
                    dst.storeBytes(of: v, toByteOffset: 8 * n, as: Double.self)
                    n += 1
                } else {
                    guard take(v, column: c) else { return false }
                }
            }
            store.count = n
            rows += 1
            return true
        }

        /// Stores the value of column `c` (0-based); false for a label that is not an integer in
        /// range.
        @inline(__always)
        mutating func take(_ v: Double, column c: Int) -> Bool {
            if c < features {
                if store.dtype == .f32 && Double(Float(v)) != v {
                    store = store.widened(capacity: store.count + (store.count / max(rows, 1) + features) * 2)
                    guard store.reserve(features) else { return false }
                }
                store.appendReserved(v)
                return true
            }
            switch target {
            case .classes(let k):
                guard let label = Int(exactly: v), label >= 0, label < k else { return false }
                labels.append(label)
            case .values:
                values.append(v)
            }
            return true
        }
    }

    /// The finite number at `p` (a decimal as `CSVTable.classify` defines it, up to the first byte
    /// that cannot continue it) and the position after it; nil when there is none or it is not
    /// finite.
    @inline(__always)
    static func number(_ start: UnsafePointer<UInt8>, _ e: UnsafePointer<UInt8>) -> (Double, UnsafePointer<UInt8>)? {
        var p = start
        var negative = false
        if p < e, p.pointee == UInt8(ascii: "-") || p.pointee == UInt8(ascii: "+") {
            negative = p.pointee == UInt8(ascii: "-")
            p += 1
        }
        var mantissa: UInt64 = 0
        var significant = 0, exponent = 0, digits = 0
        var exact = true
        while p < e, p.pointee &- 48 < 10 {
            let d = UInt64(p.pointee &- 48)
            if mantissa == 0 && d == 0 {
            } else if significant < 19 {
                mantissa = mantissa &* 10 &+ d
                significant += 1
            } else {
                exponent += 1
                if d != 0 { exact = false }
            }
            digits += 1
            p += 1
        }
        if p < e, p.pointee == UInt8(ascii: ".") {
            p += 1
            while p < e, p.pointee &- 48 < 10 {
                let d = UInt64(p.pointee &- 48)
                if mantissa == 0 && d == 0 {
                    exponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa &* 10 &+ d
                    significant += 1
                    exponent -= 1
                } else if d != 0 {
                    exact = false
                }
                digits += 1
                p += 1
            }
        }
        guard digits > 0 else { return nil }
        if p < e, p.pointee | 0x20 == UInt8(ascii: "e") {
            p += 1
            var negativeExponent = false
            if p < e, p.pointee == UInt8(ascii: "-") || p.pointee == UInt8(ascii: "+") {
                negativeExponent = p.pointee == UInt8(ascii: "-")
                p += 1
            }
            var value = 0, exponentDigits = 0
            while p < e, p.pointee &- 48 < 10 {
                if value < 100_000 { value = value * 10 + Int(p.pointee &- 48) }
                exponentDigits += 1
                p += 1
            }
            guard exponentDigits > 0 else { return nil }
            exponent += negativeExponent ? -value : value
        }
        var v: Double
        if mantissa == 0 {
            v = 0
        } else if exponent == 0 && mantissa <= 1 << 53 {
            v = Double(mantissa)
        } else if exact && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            v = exponent >= 0 ? Double(mantissa) * powersOfTen[exponent] : Double(mantissa) / powersOfTen[-exponent]
        } else {
            guard let parsed = Double(String(decoding: UnsafeBufferPointer(start: start, count: p - start), as: UTF8.self)),
                  parsed.isFinite else { return nil }
            return (parsed, p)
        }
        if negative { v = -v }
        return (v, p)
    }
}

extension CSVTable {
    /// The number of fields on the first line of the CSV file `url` (read up to its first
    /// newline only); nil when the file cannot be read, or its first line is blank or not valid
    /// (then `read(from:)` reports the problem).
    public static func firstRowFieldCount(_ url: URL) -> Int? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        var line: [UInt8] = []
        while true {
            let piece: Data?
            do { piece = try handle.read(upToCount: 1 << 16) } catch { return nil }
            guard let piece, !piece.isEmpty else { break }  // the end of the file
            if let nl = piece.firstIndex(of: 0x0A) {
                line += piece[..<nl]
                break
            }
            line += piece
        }
        if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        guard !isBlank(line), firstInvalidUTF8Line(line) == nil,
              let fields = try? splitFields(line, source: url.path, line: 1) else { return nil }
        return fields.count
    }
}
