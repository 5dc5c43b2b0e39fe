import CodeGen
import Foundation
@testable import JIT
import ModelSpec
import Reference
import XCTest

/// `NAME_init` (docs/CONVENTIONS.md, "Initial values"): its uniform draws run in one helper,
/// `nn_uniform_fill` (precompiled for tcc), which must give the values the per-draw
/// `nn_rng_uniform` loop gave before it, bit for bit, on both back ends.
final class InitParametersTests: XCTestCase {
    /// FNV-1a 64 over the little-endian bytes of the parameters in the scalar type.
    private func fnv1a(_ values: [Double], _ scalar: ScalarType) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bits: UInt64, _ bytes: Int) {
            for k in 0..<bytes {
                h ^= (bits >> (8 * UInt64(k))) & 0xff
                h = h &* 0x0000_0100_0000_01b3
            }
        }
        for v in values {
            if scalar == .f32 { mix(UInt64(Float(v).bitPattern), 4) } else { mix(v.bitPattern, 8) }
        }
        return h
    }

    private func initial(_ a: ModelAnalysis, _ backend: any CBackend, _ scalar: ScalarType, seed: UInt64) throws -> [UInt64] {
        let m = try CompiledModel(analysis: a, backend: backend, scalar: scalar)
        m.initialize(seed: seed)
        return m.parameters.map(\.bitPattern)
    }

    /// Every examples/*.json and examples/bench/*.json model, f32 and f64: the tcc build (the
    /// precompiled helper) and the cc build (the helper inlined in NAME.c) draw the same
    /// parameters, and they are the Swift reference's `initialParameters` rounded to the scalar type.
    func testInitOfEveryExampleIsTheSameOnTCCAndCCAndTheReference() throws {
        let models = try exampleModelFiles(bench: false) + exampleModelFiles(bench: true)
        XCTAssertGreaterThanOrEqual(models.count, 14)
        for a in models {
            let reference = ReferenceInterpreter(a).initialParameters(seed: 11)
            for scalar in [ScalarType.f32, .f64] {
                let expected = reference.map { (scalar == .f32 ? Double(Float($0)) : $0).bitPattern }
                let tcc = try initial(a, TCCBackend(), scalar, seed: 11)
                let cc = try initial(a, CCBackend(), scalar, seed: 11)
                let what = "\(a.model.name) \(scalar.rawValue)"
                XCTAssertEqual(tcc.count, a.parameterCount, what)
                XCTAssertTrue(tcc == expected, "\(what): \(zip(tcc, expected).filter { $0 != $1 }.count) tcc values differ from the reference")
                XCTAssertTrue(cc == expected, "\(what): \(zip(cc, expected).filter { $0 != $1 }.count) cc values differ from the reference")
            }
        }
    }

    /// digits_mlp's seed-0 parameters hash to the values recorded from the C that `nngen emit`
    /// wrote before NAME_init called `nn_uniform_fill` (main at 2cfd68c, the prelude's
    /// `nn_rng_uniform` once per draw, compiled with gcc -O2): the helper changed no bit.
    func testDigitsMLPSeed0ParametersMatchTheChecksumRecordedBeforeTheHelper() throws {
        let path = kitTestsPackageRoot.appendingPathComponent("examples/digits_mlp.json").path
        let a = try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path)
        let recorded: [ScalarType: UInt64] = [.f32: 0xed77_2a93_48c1_d028, .f64: 0xaf6a_493a_3753_eccd]
        for scalar in [ScalarType.f32, .f64] {
            for backend in [TCCBackend() as any CBackend, CCBackend()] {
                let m = try CompiledModel(analysis: a, backend: backend, scalar: scalar)
                m.initialize(seed: 0)
                XCTAssertEqual(m.parameters.count, 17_226, "digits_mlp: 64*128+128 + 128*64+64 + 64*10+10 parameters")
                XCTAssertEqual(String(fnv1a(m.parameters, scalar), radix: 16), String(recorded[scalar] ?? 0, radix: 16),
                               "digits_mlp seed 0, \(scalar.rawValue) on \(backend.name)")
            }
        }
    }
}
