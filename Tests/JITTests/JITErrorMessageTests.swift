import JIT
import XCTest

final class JITErrorMessageTests: XCTestCase {
    func testCompilerFailuresNameTheModelAndWhatToTry() {
        let tcc = JITError.compileFailed(backend: "tcc", message: "<string>:9: error: memory full (vstack)")
        let m = tcc.message(model: "deep", file: "models/deep.json")
        XCTAssertTrue(m.hasPrefix("compiling the C generated for model 'deep' (models/deep.json) failed: the tcc back end"), m)
        XCTAssertTrue(m.contains("memory full (vstack)"), m)
        XCTAssertTrue(m.contains("please report it with the model file models/deep.json"), m)
        XCTAssertTrue(m.hasSuffix("try the other back end: --backend cc."), m)
        let cc = JITError.compileFailed(backend: "cc", message: "cc exited with status 1")
        XCTAssertTrue(cc.message(model: "deep", file: nil).contains("--backend tcc"))
        XCTAssertTrue(JITError.relocationFailed("undefined symbol 'g'").message(model: "m", file: nil).contains("--backend cc"))
        // Other errors keep their description.
        XCTAssertFalse(JITError.toolMissing("no cc").isCompilerFailure)
        XCTAssertEqual(JITError.toolMissing("no cc").message(model: "m", file: "m.json"), "no cc")
    }
}
