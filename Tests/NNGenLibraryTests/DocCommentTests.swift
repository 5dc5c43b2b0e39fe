import Foundation
import XCTest

/// Every public declaration of Sources/NNGen (and every enum case there) has a `///` comment.
final class DocCommentTests: XCTestCase {
    func testEveryPublicSymbolOfNNGenHasADocComment() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/NNGen")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }.sorted()
        XCTAssertFalse(files.isEmpty)
        var undocumented: [String] = []
        var declarations = 0
        for file in files {
            let lines = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                .split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            for (i, line) in lines.enumerated() {
                let isCase = line.hasPrefix("case ") && !line.hasSuffix(":")
                // `public ...`, or an attribute and `public` on one line (`@discardableResult public func`).
                let isPublic = line.hasPrefix("public ") || (line.hasPrefix("@") && line.contains(" public "))
                guard isPublic || isCase else { continue }
                declarations += 1
                // Skip attributes written on the lines above (@discardableResult, @inlinable, ...).
                var j = i - 1
                while j >= 0, lines[j].hasPrefix("@") { j -= 1 }
                if j < 0 || !lines[j].hasPrefix("///") {
                    undocumented.append("\(file):\(i + 1): \(line)")
                }
            }
        }
        XCTAssertGreaterThan(declarations, 10)
        XCTAssertEqual(undocumented, [], "public declarations without a /// comment:\n" + undocumented.joined(separator: "\n"))
    }
}
