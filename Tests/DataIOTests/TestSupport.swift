import DataIO
import Foundation
import XCTest

/// Runs `body`, which must throw; returns the error (nil and a failure when it does not throw).
func expectError<T>(_ body: () throws -> T,
                    file: StaticString = #filePath, line: UInt = #line) -> DataError? {
    do {
        _ = try body()
        XCTFail("expected a DataError, got a value", file: file, line: line)
        return nil
    } catch let error as DataError {
        return error
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
        return nil
    }
}

/// Asserts that `body` throws a `DataError` of exactly `kind` whose description holds every
/// string of `contains`.
func assertDataError<T>(_ body: () throws -> T, kind: DataError.Kind,
                        line errorLine: Int? = nil, column: Int? = nil, contains: [String] = [],
                        file: StaticString = #filePath, line: UInt = #line) {
    guard let error = expectError(body, file: file, line: line) else { return }
    XCTAssertEqual(error.kind, kind, file: file, line: line)
    if let errorLine { XCTAssertEqual(error.line, errorLine, "line", file: file, line: line) }
    if let column { XCTAssertEqual(error.column, column, "column", file: file, line: line) }
    for part in contains {
        XCTAssertTrue(error.description.contains(part),
                      "\"\(error.description)\" does not contain \"\(part)\"", file: file, line: line)
    }
}

/// A fresh empty directory, removed when the test ends.
func makeTempDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("DataIOTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock {
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        try? FileManager.default.removeItem(at: url)
    }
    return url
}

/// The project's `examples/data` folder.
let examplesData = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("examples/data", isDirectory: true)

/// A safetensors file with this exact header text (no padding) and these data bytes.
func rawSafetensors(header: String, data: [UInt8] = []) -> Data {
    rawSafetensors(headerBytes: Array(header.utf8), data: data)
}

func rawSafetensors(headerBytes: [UInt8], data: [UInt8] = []) -> Data {
    var out = Data()
    withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: headerBytes)
    out.append(contentsOf: data)
    return out
}

/// A CSV table from text.
func csv(_ text: String) throws(DataError) -> CSVTable {
    try CSVTable.parse(Data(text.utf8), source: "t.csv")
}
