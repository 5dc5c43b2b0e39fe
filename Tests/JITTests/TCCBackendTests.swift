import Foundation
import JIT
import XCTest

final class TCCBackendTests: XCTestCase {
    func testRuntimeDirectoryIsFound() throws {
        let directory = try XCTUnwrap(TCCBackend.discoveredRuntimeDirectory)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/libtcc1.a"))
        print("tcc runtime directory: \(directory)")
    }

    func testCompileTimeOfSmallFile() throws {
        let withHeader = CTestSources.dotAndActivate
        let withPrototypes = withHeader.replacingOccurrences(
            of: "#include <math.h>", with: "float erff(float); float tanhf(float); float expf(float);")
        let backend = TCCBackend()
        for (label, source) in [("with #include <math.h>", withHeader), ("with prototypes only", withPrototypes)] {
            _ = try backend.compile(source: source) // warm-up
            let runs = 20
            let start = Date()
            for _ in 0..<runs {
                let library = try backend.compile(source: source)
                let activate = try library.function("activate", as: FloatFunction.self)
                XCTAssertEqual(activate(0), 1, accuracy: 1e-6)
            }
            let perCompile = Date().timeIntervalSince(start) / Double(runs)
            print(String(format: "tcc compile+relocate of a small file %@: %.3f ms (mean of %d)",
                         label, perCompile * 1000, runs))
        }
    }

    func testUndefinedFunctionThrowsRelocationFailed() {
        let source = "double undefined_helper(double); double f(double x) { return undefined_helper(x); }"
        XCTAssertThrowsError(try TCCBackend().compile(source: source)) { error in
            guard case let .relocationFailed(message)? = error as? JITError else {
                return XCTFail("expected relocationFailed, got \(error)")
            }
            XCTAssertTrue(message.contains("undefined_helper"), message)
        }
    }

    func testRuntimeSupportLibraryIsLinked() throws {
        // double -> unsigned 64-bit conversions call helpers from libtcc1.a.
        let source = "unsigned long long to_u64(double x) { return (unsigned long long)x; }"
        let library = try TCCBackend().compile(source: source)
        let convert = try library.function("to_u64", as: (@convention(c) (Double) -> UInt64).self)
        XCTAssertEqual(convert(1.8e19), 18_000_000_000_000_000_000)
        XCTAssertEqual(convert(3.9), 3)
    }

    func testWarningsAreKept() throws {
        let source = "int f(void) { int *p = 3; return p != 0; }"
        let library = try TCCBackend().compileLibrary(source: source)
        XCTAssertTrue(library.warnings.contains { $0.contains("warning") }, "\(library.warnings)")
    }

    func testConcurrentCompilationsAreSerialisedSafely() {
        let backend = TCCBackend()
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            let source = "int value(void) { return \(index) * 7; }"
            do {
                let library = try backend.compile(source: source)
                let value = try library.function("value", as: (@convention(c) () -> Int32).self)
                XCTAssertEqual(value(), Int32(index * 7))
            } catch {
                XCTFail("compilation \(index) failed: \(error)")
            }
        }
    }

    func testMissingRuntimeDirectoryThrowsToolMissing() {
        let backend = TCCBackend(runtimeDirectory: "/nonexistent/tcc")
        XCTAssertThrowsError(try backend.compile(source: "int f(void) { return 1; }")) { error in
            guard case let .toolMissing(message)? = error as? JITError else {
                return XCTFail("expected toolMissing, got \(error)")
            }
            XCTAssertTrue(message.contains("/nonexistent/tcc"), message)
        }
    }
}
