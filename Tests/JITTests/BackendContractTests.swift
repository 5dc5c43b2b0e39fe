import Foundation
import JIT
import XCTest

/// The behaviour both back ends must share, run against each of them.
final class BackendContractTests: XCTestCase {
    let backends: [any CBackend] = [TCCBackend(), CCBackend()]

    func testDotProductAndFloatMath() throws {
        for backend in backends {
            let library = try backend.compile(source: CTestSources.dotAndActivate)
            let dot = try library.function("dot", as: DotFunction.self)
            let a: [Double] = [1.5, -2, 3.25, 4]
            let b: [Double] = [2, 0.5, -4, 0.125]
            XCTAssertEqual(dot(a, b, 4), 3 - 1 - 13 + 0.5, accuracy: 1e-12, backend.name)
            XCTAssertEqual(dot(a, b, 0), 0, backend.name)

            let activate = try library.function("activate", as: FloatFunction.self)
            for x: Float in [-1.5, 0, 0.3, 2] {
                let expected = Float(erf(Double(x)) + tanh(Double(x)) + exp(Double(x)))
                XCTAssertEqual(activate(x), expected, accuracy: 1e-5 * max(1, abs(expected)), "\(backend.name) x=\(x)")
            }
        }
    }

    func testLibmFunctionsResolve() throws {
        for backend in backends {
            let library = try backend.compile(source: CTestSources.libm)
            let mathmix = try library.function("mathmix", as: DoubleFunction.self)
            for x in [0.0, 0.5, 1.7] {
                let expected = erf(x) + tanh(x) + Double(expf(Float(x))) + Double(logf(Float(x) + 2))
                    + Double(sqrtf(Float(x) + 1))
                XCTAssertEqual(mathmix(x), expected, accuracy: 1e-6, "\(backend.name) x=\(x)")
            }
        }
    }

    func testSyntaxErrorThrowsCompileFailedWithCompilerText() {
        for backend in backends {
            XCTAssertThrowsError(try backend.compile(source: CTestSources.syntaxError), backend.name) { error in
                guard case let .compileFailed(name, message)? = error as? JITError else {
                    return XCTFail("\(backend.name): expected compileFailed, got \(error)")
                }
                print("\(backend.name) syntax error reads: \(error)")
                XCTAssertEqual(name, backend.name)
                XCTAssertTrue(message.contains("error"), "\(backend.name): \(message)")
                XCTAssertTrue("\(error)".contains(message.trimmingCharacters(in: .whitespacesAndNewlines)))
            }
        }
    }

    func testMissingSymbolThrowsSymbolMissing() throws {
        for backend in backends {
            let library = try backend.compile(source: CTestSources.dotAndActivate)
            XCTAssertThrowsError(try library.address(of: "no_such_function"), backend.name) { error in
                XCTAssertEqual(error as? JITError, .symbolMissing("no_such_function"))
                XCTAssertTrue("\(error)".contains("no_such_function"))
            }
            XCTAssertThrowsError(try library.function("no_such_function", as: DoubleFunction.self))
        }
    }

    func testCompileTwiceAndCallManyTimes() throws {
        for backend in backends {
            let first = try backend.compile(source: CTestSources.counter)
            let second = try backend.compile(source: CTestSources.counter)
            let stepFirst = try first.function("counter_step", as: CounterFunction.self)
            let stepSecond = try second.function("counter_step", as: CounterFunction.self)
            var last = 0
            for _ in 0..<100_000 { last = stepFirst() }
            XCTAssertEqual(last, 100_000, backend.name)
            // Each library has its own copy of the static counter.
            XCTAssertEqual(stepSecond(), 1, backend.name)
            XCTAssertEqual(stepSecond(), 2, backend.name)
            XCTAssertEqual(stepFirst(), 100_001, backend.name)
        }
    }

    func testSymbolsExposeSwiftFunctionAndData() throws {
        let scale: @convention(c) (Double) -> Double = { $0 * 3 + 1 }
        let table = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        defer { table.deallocate() }
        table.initialize(from: [10, 20, 30, 40], count: 4)
        let slot = UnsafeMutablePointer<UnsafeMutablePointer<Double>>.allocate(capacity: 1)
        defer { slot.deallocate() }
        slot.initialize(to: table)
        let symbols: [String: UnsafeRawPointer] = [
            "scale_by_swift": unsafeBitCast(scale, to: UnsafeRawPointer.self),
            "swift_table": UnsafeRawPointer(slot),
        ]
        for backend in backends {
            let library = try backend.compile(source: CTestSources.usesSymbols, symbols: symbols)
            let combine = try library.function("combine", as: DoubleFunction.self)
            XCTAssertEqual(combine(2), 2 * 3 + 1 + 30, backend.name)
            table[2] = -5 // The C code reads the live Swift memory.
            XCTAssertEqual(combine(0.5), 0.5 * 3 + 1 - 5, backend.name)
            table[2] = 30
        }
    }

    func testSymbolsExposeIntegerArrayDirectly() throws {
        let ints = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
        defer { ints.deallocate() }
        ints.initialize(from: [5, 6, 7, 8], count: 4)
        let doubles = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        defer { doubles.deallocate() }
        doubles.initialize(from: [1, 2, 3, 4], count: 4)
        let symbols: [String: UnsafeRawPointer] = ["swift_ints": UnsafeRawPointer(ints),
                                                   "swift_array": UnsafeRawPointer(doubles)]
        for backend in backends {
            let library = try backend.compile(source: CTestSources.usesArraySymbol, symbols: symbols)
            let intSum = try library.function("int_sum", as: (@convention(c) (Int32) -> Int32).self)
            XCTAssertEqual(intSum(1), 7, backend.name)
        }
    }

    func testFunctionRejectsNonCFunctionType() throws {
        for backend in backends {
            let library = try backend.compile(source: CTestSources.libm)
            XCTAssertThrowsError(try library.function("mathmix", as: ((Double) -> Double).self)) { error in
                guard case .invalidFunctionType? = error as? JITError else {
                    return XCTFail("\(backend.name): expected invalidFunctionType, got \(error)")
                }
                XCTAssertTrue("\(error)".contains("@convention(c)"))
            }
        }
    }
}
