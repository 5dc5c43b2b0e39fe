/// A small line diff for golden-file failures: the hunks around the first differences between
/// two texts, in unified style (`@@ -a,b +c,d @@`, `-` expected, `+` actual, ` ` context).
enum LineDiff {
    /// The unified diff of `expected` and `actual`, at most `maxLines` lines of hunks, with
    /// `context` unchanged lines around each change; empty when the texts are equal.
    static func unified(expected: String, actual: String, expectedName: String = "expected",
                        actualName: String = "actual", context: Int = 3, maxLines: Int = 60) -> String {
        if expected == actual { return "" }
        let a = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let ops = editScript(a, b)
        // Group the operations into hunks: runs of changes with up to 2*context equal lines between.
        var out = ["--- \(expectedName)", "+++ \(actualName)"]
        var i = 0
        var printed = 0
        while i < ops.count {
            guard let firstChange = ops[i...].firstIndex(where: { $0.kind != .equal }) else { break }
            let start = max(i, firstChange - context)
            var end = firstChange
            // Extend while the next change is within 2*context equal lines.
            var k = firstChange
            while k < ops.count {
                if ops[k].kind != .equal { end = k; k += 1; continue }
                let nextChange = ops[k...].firstIndex(where: { $0.kind != .equal })
                if let n = nextChange, n - k <= 2 * context { k = n } else { break }
            }
            let stop = min(ops.count, end + 1 + context)
            let hunk = ops[start..<stop]
            let aStart = hunk.first.map { $0.aIndex } ?? 0, bStart = hunk.first.map { $0.bIndex } ?? 0
            let aCount = hunk.filter { $0.kind != .insert }.count, bCount = hunk.filter { $0.kind != .delete }.count
            out.append("@@ -\(aStart + 1),\(aCount) +\(bStart + 1),\(bCount) @@")
            for op in hunk {
                switch op.kind {
                case .equal: out.append(" " + a[op.aIndex])
                case .delete: out.append("-" + a[op.aIndex])
                case .insert: out.append("+" + b[op.bIndex])
                }
                printed += 1
                if printed >= maxLines {
                    out.append("... (diff truncated after \(maxLines) lines)")
                    return out.joined(separator: "\n")
                }
            }
            i = stop
        }
        return out.joined(separator: "\n")
    }

    enum Kind { case equal, delete, insert }

    /// One step of the edit script; `aIndex`/`bIndex` are the current line numbers (0-based)
    /// in each text.
    struct Op {
        var kind: Kind
        var aIndex: Int
        var bIndex: Int
    }

    /// A shortest edit script from the longest common subsequence of the lines between the
    /// common prefix and suffix (quadratic, which is fine for a few thousand changed lines; larger
    /// middles are shown as one deletion and one insertion).
    static func editScript(_ a: [String], _ b: [String]) -> [Op] {
        var prefix = 0
        while prefix < a.count && prefix < b.count && a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix && suffix < b.count - prefix
            && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        var ops: [Op] = (0..<prefix).map { Op(kind: .equal, aIndex: $0, bIndex: $0) }
        let am = Array(a[prefix..<(a.count - suffix)]), bm = Array(b[prefix..<(b.count - suffix)])
        let n = am.count, m = bm.count
        if n * m <= 4_000_000 && n > 0 && m > 0 {
            // lcs[i][j]: LCS length of am[i...] and bm[j...].
            var lcs = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = am[i] == bm[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
            var i = 0, j = 0
            while i < n || j < m {
                if i < n && j < m && am[i] == bm[j] {
                    ops.append(Op(kind: .equal, aIndex: prefix + i, bIndex: prefix + j)); i += 1; j += 1
                } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
                    // Deletions before insertions, as diff prints them.
                    ops.append(Op(kind: .delete, aIndex: prefix + i, bIndex: prefix + j)); i += 1
                } else {
                    ops.append(Op(kind: .insert, aIndex: prefix + i, bIndex: prefix + j)); j += 1
                }
            }
        } else {
            for i in 0..<n { ops.append(Op(kind: .delete, aIndex: prefix + i, bIndex: prefix)) }
            for j in 0..<m { ops.append(Op(kind: .insert, aIndex: prefix + n, bIndex: prefix + j)) }
        }
        for s in 0..<suffix {
            ops.append(Op(kind: .equal, aIndex: a.count - suffix + s, bIndex: b.count - suffix + s))
        }
        return ops
    }
}
