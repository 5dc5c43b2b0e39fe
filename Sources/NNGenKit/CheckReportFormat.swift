import Foundation

/// The check table as printed by `nngen check`.
public func formatCheckReport(_ r: CheckReport, model: String) -> String {
    var lines = ["\(model): backend \(r.backend), \(r.scalar.rawValue), compiled in \(String(format: "%.1f", r.compileSeconds * 1000)) ms"]
    let width = max(24, r.rows.map(\.name.count).max() ?? 0)
    lines.append("  " + "tensor".padding(toLength: width, withPad: " ", startingAt: 0)
                 + "  max abs err   max rel err   tolerance   result")
    for row in r.rows {
        lines.append("  " + row.name.padding(toLength: width, withPad: " ", startingAt: 0)
                     + String(format: "  %11.3e   %11.3e   %9.1e   ", row.maxAbsoluteError, row.maxRelativeError, row.tolerance)
                     + (row.passed ? "pass" : "FAIL"))
        if !row.passed { lines += failureDetails(row) }
    }
    lines.append("  " + (r.passed ? "all \(r.rows.count) rows pass" : "\(r.rows.filter { !$0.passed }.count) of \(r.rows.count) rows FAIL"))
    return lines.joined(separator: "\n")
}

/// What `nngen check` prints under a failing row: the worst element (its index in the tensor's
/// shape and flat, both values), the function that wrote the tensor, and the first values of both
/// sides.
func failureDetails(_ row: CheckRow) -> [String] {
    func values(_ v: [Double]) -> String { "[" + v.map { String(format: "%.9g", $0) }.joined(separator: ", ") + "]" }
    var lines: [String] = []
    if let w = row.worst {
        lines.append("      worst element [" + w.position.map(String.init).joined(separator: ", ") + "] (flat \(w.flatIndex)): "
                     + String(format: "generated %.9g, reference %.9g", w.generated, w.reference))
    }
    if let k = row.writer { lines.append("      written by \(k)") }
    lines.append("      first values: generated \(values(row.firstGenerated)), reference \(values(row.firstReference))")
    return lines
}
