/// The project's one random generator, specified so that Swift and the generated C give the
/// same numbers for the same seed.
///
/// - Seeding: the four 64-bit words of state are four successive outputs of **splitmix64**
///   started at the seed (`state += 0x9E3779B97F4A7C15; z = state;
///   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
///   return z ^ (z >> 31)`), all arithmetic modulo 2^64.
/// - Each draw is **xoshiro256\*\*** (Blackman and Vigna, 2018):
///   `result = rotl(s1 * 5, 7) * 9`, then the usual state update.
/// - `nextDouble()` is `(next() >> 11) * 2^-53`, a double in `[0, 1)`.
/// - `uniform(lo, hi)` is `lo + (hi - lo) * nextDouble()`, computed in double.
/// - `nextBelow(n)` rejects draws below `(2^64 - n) mod n` and returns `draw mod n` (unbiased).
/// - `shuffle` is Fisher-Yates from the last index down: for `i = n-1 ... 1`,
///   `j = nextBelow(i + 1)`, swap `i` and `j`.
///
/// `templates/prelude.h` holds the same generator in C.
public struct Xoshiro256StarStar: Sendable, Equatable {
    /// The four words of state.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// One step of splitmix64: advances `x` and returns the mixed output.
    public static func splitmix64(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator whose state is four splitmix64 outputs started at `seed`.
    public init(seed: UInt64) {
        var s = seed
        state = (Self.splitmix64(&s), Self.splitmix64(&s), Self.splitmix64(&s), Self.splitmix64(&s))
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    /// The next 64-bit output.
    public mutating func next() -> UInt64 {
        let result = Self.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = Self.rotl(state.3, 45)
        return result
    }

    /// A double in `[0, 1)` with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// `lo + (hi - lo) * nextDouble()`.
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * nextDouble()
    }

    /// An unbiased integer in `[0, n)`; `n` must be at least 1.
    public mutating func nextBelow(_ n: UInt64) -> UInt64 {
        precondition(n > 0, "nextBelow needs n >= 1")
        let threshold = (0 &- n) % n
        while true {
            let r = next()
            if r >= threshold { return r % n }
        }
    }

    /// Shuffles `array` in place (Fisher-Yates, last index first).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        var i = array.count - 1
        while i > 0 {
            let j = Int(nextBelow(UInt64(i + 1)))
            array.swapAt(i, j)
            i -= 1
        }
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }
}
