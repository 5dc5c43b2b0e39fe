import Foundation
import XCTest

extension XCTestCase {
    /// An executable shell script `name` with `script` as its body, alone in a new temporary
    /// folder that is removed when the test ends: a stand-in C compiler for `NNGEN_CC` or `PATH`.
    func fakeCompiler(named name: String, script: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-fake-cc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try "#!/bin/sh\n\(script)".write(to: url, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        return url
    }
}
