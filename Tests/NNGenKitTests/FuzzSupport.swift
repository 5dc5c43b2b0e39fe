import Foundation
import ModelSpec
import XCTest

/// Settings and helpers shared by the fuzz tests (ModelFuzzTests, ReaderFuzzTests).
///
/// Environment variables (docs/TESTING.md):
/// - `NNGEN_FUZZ_SEED`: the base seed (default `FuzzSettings.defaultSeed`); every case derives
///   its own seed from it and its index, and a failure prints both.
/// - `NNGEN_FUZZ_MODELS`: how many random models ModelFuzzTests checks (default 50).
/// - `NNGEN_FUZZ_CC`: which models also run on cc: `every:N` (every Nth model, default 2),
///   `all`, or `none`.
/// - `NNGEN_FUZZ_CASES`: mutated inputs per reader in ReaderFuzzTests (default 300).
/// - `NNGEN_FUZZ_CLI_CASES`: mutated inputs per reader run through the built nngen binary
///   (default 8).
/// - `NNGEN_FUZZ_TRACE=1`: print each reader case before it runs (to find one that crashes).
/// - `NNGEN_FUZZ_FIRST=K` with `NNGEN_FUZZ_CASES=K+1`: reader case K alone.
/// - `NNGEN_FUZZ_DUMP=DIR`: write each reader case's input to DIR.
enum FuzzSettings {
    static let defaultSeed: UInt64 = 20261126

    static func integer(_ name: String, default value: Int) -> Int {
        guard let text = ProcessInfo.processInfo.environment[name], let v = Int(text) else { return value }
        return v
    }

    static var seed: UInt64 {
        guard let text = ProcessInfo.processInfo.environment["NNGEN_FUZZ_SEED"], let v = UInt64(text) else {
            return defaultSeed
        }
        return v
    }

    /// `NNGEN_FUZZ_TRACE=1`: print each reader case to stderr before it runs, so that the last
    /// line names the case that crashed the process.
    static var trace: Bool { ProcessInfo.processInfo.environment["NNGEN_FUZZ_TRACE"] == "1" }

    /// `NNGEN_FUZZ_FIRST=K`: reader cases start at index K (with `NNGEN_FUZZ_CASES=K+1`, one case).
    static var firstCase: Int { max(0, integer("NNGEN_FUZZ_FIRST", default: 0)) }
    /// The reader case indices to run.
    static var caseRange: Range<Int> { firstCase..<max(firstCase, cases) }
    /// `NNGEN_FUZZ_DUMP=DIR`: write each reader case's input to DIR before it runs.
    static var dumpDirectory: String? { ProcessInfo.processInfo.environment["NNGEN_FUZZ_DUMP"] }

    static var models: Int { integer("NNGEN_FUZZ_MODELS", default: 50) }
    static var cases: Int { integer("NNGEN_FUZZ_CASES", default: 300) }
    static var cliCases: Int { integer("NNGEN_FUZZ_CLI_CASES", default: 8) }

    /// Whether model `index` also runs on cc.
    static func usesCC(_ index: Int) -> Bool {
        let text = ProcessInfo.processInfo.environment["NNGEN_FUZZ_CC"] ?? "every:2"
        if text == "all" { return true }
        if text == "none" { return false }
        let n = text.hasPrefix("every:") ? Int(text.dropFirst(6)) ?? 2 : 2
        return n > 0 && index % n == 0
    }

    /// The seed of case `index` of a campaign: splitmix64 of the base seed and a stream tag, so
    /// that each case can be replayed alone.
    /// (The base is hashed first: XOR-ing it with the index would make two bases give nearly
    /// the same set of cases, in another order.)
    static func caseSeed(_ base: UInt64, stream: UInt64, index: Int) -> UInt64 {
        var x = base &+ stream &* 0xD1B5_4A32_D192_ED03
        var y = Xoshiro256StarStar.splitmix64(&x) &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        return Xoshiro256StarStar.splitmix64(&y)
    }
}

/// A small convenience layer over the project's generator.
struct FuzzRandom {
    var rng: Xoshiro256StarStar
    init(seed: UInt64) { rng = Xoshiro256StarStar(seed: seed) }

    /// An integer in `lo...hi`.
    mutating func int(_ lo: Int, _ hi: Int) -> Int {
        precondition(lo <= hi)
        return lo + Int(rng.nextBelow(UInt64(hi - lo + 1)))
    }
    mutating func bool(_ p: Double = 0.5) -> Bool { rng.nextDouble() < p }
    mutating func double(_ lo: Double, _ hi: Double) -> Double { rng.uniform(lo, hi) }
    /// A value between `lo` and `hi` spread evenly in the logarithm.
    mutating func logUniform(_ lo: Double, _ hi: Double) -> Double { exp(rng.uniform(log(lo), log(hi))) }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0, items.count - 1)] }
}

/// Runs `body` on another thread and waits at most `seconds` for it. Returns false when it did
/// not finish (the thread is left running: a hang cannot be stopped in-process, only reported).
func runTimeBoxed(seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.stackSize = 64 << 20  // deep nesting must fail with an error, not by exhausting a small stack
    thread.start()
    return done.wait(timeout: .now() + seconds) == .success
}

/// Texts that show an error message leaked from Foundation or the Swift runtime instead of
/// nngen's own words.
let foundationInternalMarkers = [
    "Error Domain=", "NSCocoaErrorDomain", "NSPOSIXErrorDomain", "couldn’t be completed", "couldn't be completed",
    "DecodingError", "dataCorrupted", "keyNotFound", "typeMismatch(", "valueNotFound", "Swift.", "Foundation.",
    "Fatal error", "Stack dump",
]

/// The problems with an error message: empty, or Foundation-internal.
func messageProblems(_ message: String) -> [String] {
    var problems: [String] = []
    if message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append("empty message") }
    for m in foundationInternalMarkers where message.contains(m) { problems.append("internal text \"\(m)\"") }
    return problems
}

/// A byte string for a failure report: the text when it is short UTF-8, else its length, its
/// start in Swift escapes and the base64 of the whole.
func describeBytes(_ bytes: [UInt8], limit: Int = 4000) -> String {
    if bytes.count <= limit, let s = String(bytes: bytes, encoding: .utf8) { return s }
    let head = String(decoding: bytes.prefix(300), as: UTF8.self).debugDescription
    let b64 = Data(bytes).base64EncodedString()
    return "\(bytes.count) bytes, starting \(head); base64 (\(b64.count) chars): "
        + (b64.count <= 20000 ? b64 : String(b64.prefix(20000)) + "...")
}

/// Collects failures from worker threads.
final class FuzzLog: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var failures: [String] = []
    private(set) var counts: [String: Int] = [:]
    func fail(_ text: String) {
        lock.lock(); defer { lock.unlock() }
        failures.append(text)
    }
    func count(_ key: String) {
        lock.lock(); defer { lock.unlock() }
        counts[key, default: 0] += 1
    }
    var summary: String {
        lock.lock(); defer { lock.unlock() }
        return counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}
