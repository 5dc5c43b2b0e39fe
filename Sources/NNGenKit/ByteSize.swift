import Foundation

/// Byte counts as flags give them (`65536`, `64K`, `64KiB`, `256KB`, `1M`, `1MiB`: K and KB are
/// 1024 bytes, M and MB 1024 KiB) and as every command prints them (`short` in tables, `text`
/// elsewhere).
public enum ByteSize {
    /// The bytes `text` stands for, or nil when it is not a count with an optional unit.
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix { $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let units: [String: Int] = ["": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024,
                                    "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20]
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).uppercased()
        guard let scale = units[unit] else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }

    /// `bytes` with a binary prefix, as table cells print it: `512 B`, `2.54 KiB`, `67.3 KiB`,
    /// `1.50 GiB` (three significant digits below 10 of a unit, one decimal above).
    public static func short(_ bytes: Int) -> String {
        let units: [(Double, String)] = [(0x1p40, "TiB"), (0x1p30, "GiB"), (0x1p20, "MiB"), (0x1p10, "KiB")]
        let v = Double(bytes)
        for (scale, name) in units where v >= scale {
            let x = v / scale
            return String(format: x < 10 ? "%.2f %@" : "%.1f %@", x, name)
        }
        return "\(bytes) B"
    }

    /// `bytes` as messages and summaries print it: `short` and, from 1 KiB on, the exact count:
    /// `512 B`, `63.5 KiB (65,024 B)`, `2.93 KiB (3,000 B)`.
    public static func text(_ bytes: Int) -> String {
        bytes < 1024 ? "\(bytes) B" : "\(short(bytes)) (\(grouped(bytes)) B)"
    }

    /// `1234567` as `1,234,567`.
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}
