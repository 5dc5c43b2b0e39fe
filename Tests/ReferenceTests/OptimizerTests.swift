import XCTest
import ModelSpec
import Reference

/// Two steps of each optimizer from p = [1, -2] with gradients g1 = [0.5, -1] then
/// g2 = [0.25, 0.5], against values worked out by hand from the PyTorch formulas.
final class OptimizerTests: XCTestCase {
    static let g1 = [0.5, -1.0]
    static let g2 = [0.25, 0.5]

    /// The parameters after each of the two steps, and the optimizer afterwards.
    func run(_ optimizer: Optimizer) throws -> (first: [Double], second: [Double], state: ReferenceOptimizer) {
        var o = ReferenceOptimizer(optimizer, parameterCount: 2)
        XCTAssertEqual(o.step, 0)
        XCTAssertEqual(o.state.count, optimizer.stateSlotsPerParameter)
        var p = [1.0, -2.0]
        try o.update(parameters: &p, gradients: Self.g1)
        let first = p
        try o.update(parameters: &p, gradients: Self.g2)
        XCTAssertEqual(o.step, 2)
        return (first, p, o)
    }

    func testSGDPlain() throws {
        let r = try run(.sgd(lr: 0.1))
        // p1 = [1 - 0.1*0.5, -2 + 0.1*1] = [0.95, -1.9]
        assertClose(r.first, [0.95, -1.9], tolerance: 1e-15)
        // p2 = [0.95 - 0.1*0.25, -1.9 - 0.1*0.5] = [0.925, -1.95]
        assertClose(r.second, [0.925, -1.95], tolerance: 1e-15)
        XCTAssertEqual(r.state.state.count, 0)
    }

    func testSGDMomentum() throws {
        let r = try run(.sgd(lr: 0.1, momentum: 0.9))
        // v1 = g1 = [0.5, -1]; p1 = [0.95, -1.9]
        assertClose(r.first, [0.95, -1.9], tolerance: 1e-15)
        // v2 = 0.9*[0.5, -1] + [0.25, 0.5] = [0.7, -0.4]; p2 = [0.95 - 0.07, -1.9 + 0.04] = [0.88, -1.86]
        assertClose(r.second, [0.88, -1.86], tolerance: 1e-15)
        assertClose(r.state.state[0], [0.7, -0.4], tolerance: 1e-15)
    }

    func testSGDNesterov() throws {
        let r = try run(.sgd(lr: 0.1, momentum: 0.9, nesterov: true))
        // v1 = g1; direction g1 + 0.9 v1 = [0.95, -1.9]; p1 = [1 - 0.095, -2 + 0.19] = [0.905, -1.81]
        assertClose(r.first, [0.905, -1.81], tolerance: 1e-15)
        // v2 = [0.7, -0.4]; direction [0.25 + 0.63, 0.5 - 0.36] = [0.88, 0.14]
        // p2 = [0.905 - 0.088, -1.81 - 0.014] = [0.817, -1.824]
        assertClose(r.second, [0.817, -1.824], tolerance: 1e-15)
    }

    func testSGDWeightDecay() throws {
        let r = try run(.sgd(lr: 0.1, weightDecay: 0.1))
        // g1' = [0.5 + 0.1*1, -1 + 0.1*(-2)] = [0.6, -1.2]; p1 = [0.94, -1.88]
        assertClose(r.first, [0.94, -1.88], tolerance: 1e-15)
        // g2' = [0.25 + 0.094, 0.5 - 0.188] = [0.344, 0.312]; p2 = [0.94 - 0.0344, -1.88 - 0.0312] = [0.9056, -1.9112]
        assertClose(r.second, [0.9056, -1.9112], tolerance: 1e-15)
    }

    func testSGDMomentumWithWeightDecay() throws {
        let r = try run(.sgd(lr: 0.1, momentum: 0.9, weightDecay: 0.1))
        // v1 = g1' = [0.6, -1.2]; p1 = [0.94, -1.88]
        assertClose(r.first, [0.94, -1.88], tolerance: 1e-15)
        // g2' = [0.344, 0.312]; v2 = [0.54 + 0.344, -1.08 + 0.312] = [0.884, -0.768]
        // p2 = [0.94 - 0.0884, -1.88 + 0.0768] = [0.8516, -1.8032]
        assertClose(r.second, [0.8516, -1.8032], tolerance: 1e-15)
    }

    func testAdam() throws {
        let r = try run(.adam(lr: 0.1))
        // t=1: m = 0.1 g1 = [0.05, -0.1]; v = 0.001 g1^2 = [0.00025, 0.001]
        //      mhat = m / 0.1 = g1; vhat = v / 0.001 = g1^2; step = 0.1 * g / (|g| + 1e-8)
        //      p1 = [1 - 0.1*0.5/0.50000001, -2 + 0.1*1/1.00000001] = [0.900000002, -1.900000001]
        assertClose(r.first, [0.900000002, -1.900000001], tolerance: 1e-15)
        // t=2: m = 0.9 m + 0.1 g2 = [0.045 + 0.025, -0.09 + 0.05] = [0.07, -0.04]
        //      v = 0.999 v + 0.001 g2^2 = [0.00024975 + 0.0000625, 0.000999 + 0.00025] = [0.00031225, 0.001249]
        //      mhat = m / (1 - 0.81) = [0.368421..., -0.210526...]; vhat = v / (1 - 0.998001) = [0.156203..., 0.624812...]
        //      p2 = p1 - 0.1 mhat / (sqrt(vhat) + 1e-8) = [0.900000002 - 0.093217..., -1.900000001 + 0.026633...]
        assertClose(r.second, [0.8067820404774617, -1.8733662973709029], tolerance: 1e-14)
        assertClose(r.state.state[0], [0.07, -0.04], tolerance: 1e-16)
        assertClose(r.state.state[1], [0.00031225, 0.001249], tolerance: 1e-17)
    }

    func testAdamWithL2WeightDecay() throws {
        let r = try run(.adam(lr: 0.1, weightDecay: 0.1))
        // t=1: g = g1 + 0.1 p0 = [0.6, -1.2]; mhat = g, vhat = g^2:
        //      p1 = [1 - 0.1*0.6/0.60000001, -2 + 0.1*1.2/1.20000001] = [0.9000000016666666, -1.9000000008333333]
        assertClose(r.first, [0.9000000016666666, -1.9000000008333333], tolerance: 1e-15)
        // t=2: g = g2 + 0.1 p1 = [0.34400000001666666, 0.31099999999166667]
        //      m = 0.9 [0.06, -0.12] + 0.1 g = [0.08800000001666666, -0.07700000000833333]
        //      v = 0.999 [0.00036, 0.00144] + 0.001 g^2 = [0.0004752400001133333, 0.0015346599999483334]
        //      p2 = p1 - 0.1 (m / 0.19) / (sqrt(v / 0.001999) + 1e-8)
        assertClose(r.second, [0.8050097658613192, -1.8537472646427606], tolerance: 1e-14)
        assertClose(r.state.state[0], [0.08800000001666666, -0.07700000000833333], tolerance: 1e-16)
        assertClose(r.state.state[1], [0.0004752400001133333, 0.0015346599999483334], tolerance: 1e-17)
    }

    func testAdamW() throws {
        let r = try run(.adamw(lr: 0.1, weightDecay: 0.1))
        // t=1: p -= 0.1*0.1*p -> [0.99, -1.98]; then the adam step of testAdam (-0.099999998, +0.099999999)
        //      p1 = [0.99 - 0.099999998, -1.98 + 0.099999999] = [0.890000002, -1.880000001]
        assertClose(r.first, [0.890000002, -1.880000001], tolerance: 1e-15)
        // t=2: p -= 0.01 p -> [0.88110000198, -1.86120000099]; then the same adam step as testAdam's t=2
        //      (m, v from the gradients only): -0.0932179615..., +0.0266337036...
        assertClose(r.second, [0.7878820404574617, -1.834566297360903], tolerance: 1e-14)
        assertClose(r.state.state[0], [0.07, -0.04], tolerance: 1e-16)
    }

    func testResumingGivesTheSameSteps() throws {
        var fresh = ReferenceOptimizer(.adam(lr: 0.1), parameterCount: 2)
        var p = [1.0, -2.0]
        try fresh.update(parameters: &p, gradients: Self.g1)
        var resumed = try ReferenceOptimizer(.adam(lr: 0.1), parameterCount: 2, step: fresh.step, state: fresh.state)
        var q = p
        try fresh.update(parameters: &p, gradients: Self.g2)
        try resumed.update(parameters: &q, gradients: Self.g2)
        XCTAssertEqual(p, q)
        XCTAssertEqual(fresh, resumed)
    }
}
