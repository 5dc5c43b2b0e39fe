import Foundation
import JIT
import XCTest

final class CCBackendTests: XCTestCase {
    private func temporaryBuildDirectories() throws -> Set<String> {
        let contents = try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
        return Set(contents.filter { $0.hasPrefix("nngen-jit-") })
    }

    func testTemporaryDirectoryIsRemovedAfterSuccess() throws {
        let before = try temporaryBuildDirectories()
        let library = try CCBackend().compileLibrary(source: CTestSources.dotAndActivate)
        XCTAssertFalse(FileManager.default.fileExists(atPath: library.buildDirectory.path))
        XCTAssertTrue(library.buildDirectory.lastPathComponent.hasPrefix("nngen-jit-"))
        // The library stays usable after its files are gone.
        let activate = try library.function("activate", as: FloatFunction.self)
        XCTAssertEqual(activate(0), 1, accuracy: 1e-6)
        XCTAssertTrue(try temporaryBuildDirectories().isSubset(of: before))
    }

    func testTemporaryDirectoryIsRemovedAfterFailure() throws {
        let before = try temporaryBuildDirectories()
        XCTAssertThrowsError(try CCBackend().compile(source: CTestSources.syntaxError))
        // Other processes on the machine (parallel builds, other test runs) may hold build
        // directories of their own for a moment: a directory this compile left behind would
        // stay, theirs go away within seconds.
        var left = try temporaryBuildDirectories().subtracting(before)
        for _ in 0..<50 where !left.isEmpty {
            Thread.sleep(forTimeInterval: 0.1)
            left = left.intersection(try temporaryBuildDirectories())
        }
        XCTAssertTrue(left.isEmpty, "build directories left behind: \(left.sorted())")
    }

    func testCompileTimeOfSmallFile() throws {
        for backend in [CCBackend(), CCBackend(flags: ["-O0", "-shared", "-fPIC"])] {
            let runs = 3
            let start = Date()
            for _ in 0..<runs { _ = try backend.compile(source: CTestSources.dotAndActivate) }
            let perCompile = Date().timeIntervalSince(start) / Double(runs)
            print(String(format: "cc %@ compile+dlopen of a small file: %.1f ms (mean of %d)",
                         backend.flags.joined(separator: " "), perCompile * 1000, runs))
        }
    }

    func testExtraFlagsArePassed() throws {
        typealias Answer = @convention(c) () -> Int32
        let source = "int answer(void) { return ANSWER; }"
        // Keep each library alive while its function pointer is used.
        let library = try CCBackend(extraFlags: ["-DANSWER=42"]).compile(source: source)
        XCTAssertEqual(try library.function("answer", as: Answer.self)(), 42)
        let more = CCBackend().adding(flags: ["-DANSWER=7"])
        XCTAssertEqual(more.extraFlags, ["-DANSWER=7"])
        let other = try more.compile(source: source)
        XCTAssertEqual(try other.function("answer", as: Answer.self)(), 7)
    }

    func testMissingCompilerThrowsToolMissing() {
        for compiler in ["nngen-no-such-compiler", "/nonexistent/bin/cc"] {
            XCTAssertThrowsError(try CCBackend(compiler: compiler).compile(source: "int f(void){return 0;}")) { error in
                guard case let .toolMissing(message)? = error as? JITError else {
                    return XCTFail("expected toolMissing, got \(error)")
                }
                XCTAssertTrue(message.contains(compiler), message)
            }
        }
    }

    func testUnloadableOutputThrowsLoadFailed() {
        // Without -shared the compiler links an executable, which dlopen refuses.
        let backend = CCBackend(flags: ["-O1", "-fPIE", "-pie"])
        XCTAssertThrowsError(try backend.compile(source: "int main(void) { return 0; }")) { error in
            guard case let .loadFailed(message)? = error as? JITError else {
                return XCTFail("expected loadFailed, got \(error)")
            }
            XCTAssertFalse(message.isEmpty)
            print("dlopen of an executable: \(message)")
        }
    }

    func testSymbolsExposeFloatingPointArrayDirectly() throws {
        // With cc, extern arrays may be used directly in floating-point arithmetic
        // (tcc 0.9.27 mislinks that; see CBackend's documentation).
        let doubles = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        defer { doubles.deallocate() }
        doubles.initialize(from: [1, 2, 3, 4], count: 4)
        let ints = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
        defer { ints.deallocate() }
        ints.initialize(from: [5, 6, 7, 8], count: 4)
        let library = try CCBackend().compile(
            source: CTestSources.usesArraySymbol,
            symbols: ["swift_array": UnsafeRawPointer(doubles), "swift_ints": UnsafeRawPointer(ints)])
        let arraySum = try library.function("array_sum", as: DoubleFunction.self)
        XCTAssertEqual(arraySum(0.5), 3.5)
    }
}
