import JIT
import XCTest

final class JITErrorTests: XCTestCase {
    func testDescriptionsAreUserFacing() {
        let compile = JITError.compileFailed(backend: "tcc", message: "<string>:2: error: ';' expected\n")
        XCTAssertEqual(compile.description,
                       "the tcc back end could not compile the generated C code:\n<string>:2: error: ';' expected")
        XCTAssertTrue(JITError.compileFailed(backend: "cc", message: " ").description.contains("no diagnostics"))
        XCTAssertTrue(JITError.symbolMissing("train_step").description.contains("'train_step'"))
        XCTAssertTrue(JITError.loadFailed("bad ELF").description.contains("bad ELF"))
        XCTAssertTrue(JITError.relocationFailed("undefined symbol 'g'").description.contains("symbols"))
        XCTAssertEqual(JITError.toolMissing("no cc").description, "no cc")
    }
}
