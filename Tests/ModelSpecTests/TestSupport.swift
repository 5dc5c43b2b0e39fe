import Foundation
import ModelSpec
import XCTest

/// The repository root (for the example model files).
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Reads a model from JSON text.
func decodeModel(_ text: String, source: String? = nil) throws -> Model {
    try Model.decode(Data(text.utf8), source: source)
}

/// The problems with a model file's text: reading errors if it cannot be read, otherwise
/// validation errors (empty when the model is valid).
func problems(_ text: String) -> [ModelIssue] {
    do {
        return try decodeModel(text).validate()
    } catch let e as ModelSpecError {
        return e.issues
    } catch {
        XCTFail("unexpected error type \(type(of: error)): \(error)")
        return []
    }
}

/// A model file with these parts (defaults: 4 features, batch 8, mse, sgd lr 0.1).
func modelText(name: String = "m", input: String = #"{"features": 4}"#, batch: String = "8",
               layers: String, loss: String = #"{"type": "mse"}"#,
               optimizer: String? = #"{"type": "sgd", "lr": 0.1}"#) -> String {
    var text = "{\n  \"name\": \(name.hasPrefix("\"") ? name : "\"\(name)\""),\n  \"input\": \(input),\n  \"batch\": \(batch),\n"
    text += "  \"layers\": \(layers),\n  \"loss\": \(loss)"
    if let optimizer { text += ",\n  \"optimizer\": \(optimizer)" }
    return text + "\n}\n"
}

/// Asserts that exactly one problem was found, at `place`, and that its message contains
/// every one of `fragments`.
func assertSingleProblem(_ issues: [ModelIssue], at place: String, _ fragments: String...,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(issues.count, 1, "expected one problem, got: \(issues)", file: file, line: line)
    assertProblem(issues, at: place, fragments, file: file, line: line)
}

/// Asserts that some problem is at `place` with every one of `fragments` in its message.
func assertProblem(_ issues: [ModelIssue], at place: String, _ fragments: String...,
                   file: StaticString = #filePath, line: UInt = #line) {
    assertProblem(issues, at: place, fragments, file: file, line: line)
}

func assertProblem(_ issues: [ModelIssue], at place: String, _ fragments: [String],
                   file: StaticString = #filePath, line: UInt = #line) {
    let matching = issues.filter { $0.place == place }
    guard !matching.isEmpty else {
        XCTFail("no problem at \(place); got: \(issues)", file: file, line: line)
        return
    }
    let ok = matching.contains { issue in fragments.allSatisfy { issue.message.contains($0) } }
    XCTAssertTrue(ok, "no problem at \(place) says all of \(fragments); got: \(matching.map(\.message))",
                  file: file, line: line)
}
