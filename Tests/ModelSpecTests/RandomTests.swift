import ModelSpec
import XCTest

final class RandomTests: XCTestCase {
    func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    func testSplitmix64ReferenceValues() {
        var s: UInt64 = 0
        // The published first outputs of splitmix64 from state 0.
        XCTAssertEqual(Xoshiro256StarStar.splitmix64(&s), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(s, 0x9E37_79B9_7F4A_7C15)
        XCTAssertEqual(Xoshiro256StarStar.splitmix64(&s), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(Xoshiro256StarStar.splitmix64(&s), 0x06C4_5D18_8009_454F)
        XCTAssertEqual(Xoshiro256StarStar.splitmix64(&s), 0xF88B_B8A8_724C_81EC)
    }

    func testSeedingAndFirstOutputs() {
        var g = Xoshiro256StarStar(seed: 0)
        XCTAssertTrue(g.state == (0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC))
        // result = rotl(s1 * 5, 7) * 9, worked out from the seeded state.
        var (s0, s1, s2, s3) = g.state
        let expected0 = rotl(s1 &* 5, 7) &* 9
        XCTAssertEqual(g.next(), expected0)
        // The xoshiro256** state update (Blackman and Vigna), then the second output.
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = rotl(s3, 45)
        XCTAssertTrue(g.state == (s0, s1, s2, s3))
        XCTAssertEqual(g.next(), rotl(s1 &* 5, 7) &* 9)

        // Another seed gives another stream; the same seed the same stream.
        var a = Xoshiro256StarStar(seed: 42), b = Xoshiro256StarStar(seed: 42), c = Xoshiro256StarStar(seed: 43)
        let sa = (0..<8).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<8).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<8).map { _ in c.next() })
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testNextDouble() {
        var g = Xoshiro256StarStar(seed: 7)
        var copy = g
        XCTAssertEqual(g.nextDouble(), Double(copy.next() >> 11) * 0x1.0p-53)
        var sum = 0.0, low = 1.0, high = 0.0
        let n = 100_000
        for _ in 0..<n {
            let d = g.nextDouble()
            XCTAssertTrue(d >= 0 && d < 1)
            sum += d; low = min(low, d); high = max(high, d)
        }
        XCTAssertEqual(sum / Double(n), 0.5, accuracy: 0.005)
        XCTAssertLessThan(low, 0.001)
        XCTAssertGreaterThan(high, 0.999)
        var u = Xoshiro256StarStar(seed: 7)
        var v = Xoshiro256StarStar(seed: 7)
        XCTAssertEqual(u.uniform(-0.5, 0.25), -0.5 + 0.75 * v.nextDouble())
        for _ in 0..<1000 {
            let x = u.uniform(-2, 3)
            XCTAssertTrue(x >= -2 && x < 3)
        }
    }

    func testNextBelowBoundsAndRejection() {
        var g = Xoshiro256StarStar(seed: 1)
        for n: UInt64 in [1, 2, 3, 7, 10, 1 << 32, (1 << 63) + 1, UInt64.max] {
            for _ in 0..<1000 { XCTAssertLessThan(g.nextBelow(n), n) }
        }
        for _ in 0..<100 { XCTAssertEqual(g.nextBelow(1), 0) }
        // With n = 2^63 + 1, draws below (2^64 - n) mod n = 2^63 - 1 are rejected.
        let n: UInt64 = (1 << 63) + 1
        let threshold: UInt64 = (1 << 63) - 1
        var h = Xoshiro256StarStar(seed: 99)
        var raw = h
        for _ in 0..<200 {
            var r = raw.next()
            while r < threshold { r = raw.next() }
            XCTAssertEqual(h.nextBelow(n), r % n)
            XCTAssertEqual(h, raw)
        }
        // Unbiased: every value of a small range about equally often.
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[Int(g.nextBelow(6))] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400, "\(counts)") }
    }

    func testShuffleIsADeterministicPermutation() {
        let original = Array(0..<100)
        var a = original, b = original, c = original
        var g1 = Xoshiro256StarStar(seed: 5), g2 = Xoshiro256StarStar(seed: 5), g3 = Xoshiro256StarStar(seed: 6)
        g1.shuffle(&a); g2.shuffle(&b); g3.shuffle(&c)
        XCTAssertEqual(a.sorted(), original)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, original)
        XCTAssertNotEqual(a, c)
        // Fisher-Yates from the last index down, j = nextBelow(i + 1).
        var d = original
        var g4 = Xoshiro256StarStar(seed: 5)
        for i in stride(from: d.count - 1, to: 0, by: -1) {
            d.swapAt(i, Int(g4.nextBelow(UInt64(i + 1))))
        }
        XCTAssertEqual(a, d)
        XCTAssertEqual(g1, g4)
        // Empty and single arrays draw nothing.
        var empty: [Int] = [], one = [1]
        var g5 = Xoshiro256StarStar(seed: 5)
        g5.shuffle(&empty); g5.shuffle(&one)
        XCTAssertEqual(g5, Xoshiro256StarStar(seed: 5))
        XCTAssertEqual(one, [1])
    }
}
