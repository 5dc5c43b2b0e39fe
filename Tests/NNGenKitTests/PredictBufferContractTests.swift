import CodeGen
import Foundation
import JIT
import ModelSpec
import XCTest

/// `NAME_predict(params, x, n, out, arena)` reads `n` rows of `x` and writes `n` rows of `out`
/// only, whatever `n` in `1...batch`; `NAME_loss_sum(out, labels, values, n, sum)` reads `n`
/// samples only. Checked with canary bytes around exactly sized buffers (and around the arena of
/// `NAME_ARENA_COUNT` elements and the parameters), for every example model, tcc (linked against
/// the precompiled helpers, as `CompiledModel` does) and cc, float32 and float64.
/// (The heap corruption once blamed on these functions was a stale test build: see
/// PackageDependencyTests; this keeps the buffer contract `CompiledModel.predict` relies on.)
final class PredictBufferContractTests: XCTestCase {
    /// Bytes of canary before and after every buffer.
    static let guardBytes = 256
    static let canary: UInt8 = 0xA5

    /// A buffer of `bytes` bytes between two canary regions.
    final class Guarded {
        let block: UnsafeMutableRawPointer
        let bytes: Int
        init(bytes: Int) {
            self.bytes = bytes
            block = .allocate(byteCount: bytes + 2 * PredictBufferContractTests.guardBytes, alignment: 64)
            block.initializeMemory(as: UInt8.self, repeating: PredictBufferContractTests.canary,
                                   count: bytes + 2 * PredictBufferContractTests.guardBytes)
        }
        var pointer: UnsafeMutableRawPointer { block + PredictBufferContractTests.guardBytes }
        /// Whether both canary regions are intact.
        var intact: Bool {
            let g = PredictBufferContractTests.guardBytes
            for i in 0..<g where block.load(fromByteOffset: i, as: UInt8.self) != PredictBufferContractTests.canary { return false }
            for i in 0..<g where block.load(fromByteOffset: g + bytes + i, as: UInt8.self) != PredictBufferContractTests.canary {
                return false
            }
            return true
        }
        deinit { block.deallocate() }
    }

    typealias P = UnsafeMutableRawPointer?
    typealias Init = @convention(c) (P, UInt64) -> Void
    typealias Predict = @convention(c) (P, P, Int32, P, P) -> Void
    typealias LossSum = @convention(c) (P, P, P, Int32, Double) -> Double

    func testPredictAndLossSumStayInsideExactlySizedBuffers() throws {
        var backends: [any CBackend] = [TCCBackend()]
        if findProgram("cc") != nil { backends.append(CCBackend()) }
        for a in try exampleModelFiles(bench: false) {
            for backend in backends {
                for scalar in ScalarType.allCases {
                    try check(a, backend, scalar)
                }
            }
        }
    }

    func check(_ a: ModelAnalysis, _ backend: any CBackend, _ scalar: ScalarType) throws {
        let code = compile(a, options: CompileOptions(scalar: scalar)).code
        let library: any CompiledLibrary
        if backend is TCCBackend {
            library = try backend.compile(source: "#define NN_PRECOMPILED 1\n" + code.singleUnit,
                                          symbols: PrecompiledHelpers.symbols)
        } else {
            library = try backend.compile(source: code.singleUnit, symbols: [:])
        }
        let name = a.model.name, s = scalar.size
        let initialize = try library.function("\(name)_init", as: Init.self)
        let predict = try library.function("\(name)_predict", as: Predict.self)
        let lossSum = try library.function("\(name)_loss_sum", as: LossSum.self)
        let what = "\(name) \(backend.name) \(scalar.rawValue)"

        let params = Guarded(bytes: a.parameterCount * s)
        initialize(params.pointer, 7)
        let features = a.model.input.shape.elementCount, k = a.outputCount
        let labels = a.model.loss.usesLabels
        for n in 1...a.model.batch {
            let arena = Guarded(bytes: code.arenaElements * s)
            let x = Guarded(bytes: n * features * s)
            for i in 0..<(n * features) {
                let v = Double((i * 7) % 11) / 11 - 0.5
                if scalar == .f32 { x.pointer.storeBytes(of: Float(v), toByteOffset: 4 * i, as: Float.self) }
                else { x.pointer.storeBytes(of: v, toByteOffset: 8 * i, as: Double.self) }
            }
            let out = Guarded(bytes: n * k * s)
            predict(params.pointer, x.pointer, Int32(n), out.pointer, arena.pointer)
            XCTAssertTrue(x.intact && out.intact && arena.intact && params.intact,
                          "\(what) predict n=\(n): x \(x.intact) out \(out.intact) arena \(arena.intact) params \(params.intact)")

            let targets = Guarded(bytes: labels ? n * 4 : n * k * 8)
            if labels {
                for i in 0..<n { targets.pointer.storeBytes(of: Int32(i % max(k, 1)), toByteOffset: 4 * i, as: Int32.self) }
            } else {
                for i in 0..<(n * k) { targets.pointer.storeBytes(of: Double(i % 2), toByteOffset: 8 * i, as: Double.self) }
            }
            let sum = lossSum(out.pointer, labels ? targets.pointer : nil, labels ? nil : targets.pointer, Int32(n), 0)
            XCTAssertTrue(sum.isFinite, "\(what) loss_sum n=\(n) = \(sum)")
            XCTAssertTrue(out.intact && targets.intact, "\(what) loss_sum n=\(n): out \(out.intact) targets \(targets.intact)")
        }
    }
}
