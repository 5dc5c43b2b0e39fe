import CodeGen
import Foundation
import ModelSpec

/// How `--backend auto` builds a model: tcc at once, the system compiler on another thread.
/// `optimised` is the cc back end to switch to (with its `--threads` flags).
public struct TieredBackend: Sendable {
    /// The back end whose build the run switches to once it is ready.
    public var optimised: CCBackend
    /// The cc build starts only when the work left on tcc, as its first step or batch measures it,
    /// is at least this many seconds (default 1, about what a cc build of a small model takes on
    /// one core), or 10 times as many when no core is idle (the load average is above the number
    /// of cores less one: the build would take its CPU time from the run): a shorter run ends on
    /// tcc before a build could pay off.
    public var minimumWork: Double
    /// Testing hook: start the cc build at once, and switch exactly when this many optimizer
    /// steps are done, waiting for the build there (nil: switch as soon as the build is ready).
    var switchAtStep: Int64?

    /// The ``minimumWork`` used unless another is given: the environment variable
    /// `NNGEN_AUTO_MIN_SECONDS` when it holds a number of seconds (0 starts every build), else 1.
    public static var defaultMinimumWork: Double {
        if let text = ProcessInfo.processInfo.environment["NNGEN_AUTO_MIN_SECONDS"], let seconds = Double(text),
           seconds >= 0, seconds.isFinite {
            return seconds
        }
        return 1
    }

    /// Runs on tcc until `optimised` (by default the plain cc back end) has built the model.
    public init(optimised: CCBackend = CCBackend(), minimumWork: Double = TieredBackend.defaultMinimumWork) {
        self.optimised = optimised
        self.minimumWork = minimumWork
    }

    /// The same with a forced switch step (tests only).
    init(optimised: CCBackend = CCBackend(), switchAtStep: Int64?) {
        self.optimised = optimised
        self.minimumWork = 0
        self.switchAtStep = switchAtStep
    }
}

/// What a run compiles a model with: one back end, or tcc then cc (`--backend auto`).
public enum BackendSelection: Sendable {
    /// One back end for the whole run.
    case single(any CBackend)
    /// tcc at once, switching to the cc build at a step boundary once it is ready.
    case auto(TieredBackend)

    /// `"tcc"`, `"cc"` or `"auto"`.
    public var name: String {
        switch self {
        case .single(let b): return b.name
        case .auto: return "auto"
        }
    }
}

/// A model that runs at once on its tcc build while its cc build compiles on another thread
/// (once the work left is known to be long enough: ``startOptimisedBuild(workLeft:)``),
/// and moves to the cc build, with everything its state holds (``CompiledModel/takeState(from:)``),
/// when ``switchIfReady()`` is called after the build is done. tcc and cc builds of the same C
/// give the same bits (a test checks it on every example and workload), so when the switch
/// comes changes no number. If the cc build fails, the model stays on tcc and ``failure`` holds
/// the compiler's message.
///
/// Use from one thread: ``current`` and ``switchIfReady()`` are not thread-safe; only the
/// build runs elsewhere.
public final class TieredModel {
    /// The build to call now: the tcc build until the switch, then the cc build.
    public private(set) var current: CompiledModel
    /// The optimizer step count at which the run moved to the cc build, once it has.
    public private(set) var switchedAtStep: Int64?
    /// The cc build's error (the compiler's message) when it failed; the model stays on tcc.
    public private(set) var failure: String?
    /// Seconds the cc build took (code already generated), once it is done.
    public var optimisedSeconds: Double? { build?.result.map { _ in build?.seconds ?? 0 } }
    /// Whether the cc build was started (``startOptimisedBuild(workLeft:)``).
    public var buildStarted: Bool { build != nil }

    private var build: OptimisedBuild?
    private let tiered: TieredBackend
    private let analysis: ModelAnalysis
    private var failureReported = false
    private var finished = false

    /// Compiles `analysis` with tcc (now, on this thread). The cc build of the same C starts on
    /// another thread with ``startOptimisedBuild(workLeft:)`` (at once with the testing hook).
    /// - Throws: the tcc build's errors (``JITError``).
    public init(analysis: ModelAnalysis, options: CompileOptions, tiered: TieredBackend) throws {
        current = try CompiledModel(analysis: analysis, backend: TCCBackend(), options: options)
        self.analysis = analysis
        self.tiered = tiered
        if tiered.switchAtStep != nil { startOptimisedBuild(workLeft: .infinity) }
    }

    /// Starts the cc build if `workLeft`, the seconds the rest of the work would take on tcc
    /// (measured on its first step or batch), is at least the back end's `minimumWork`. Returns
    /// whether the build runs (started now or before).
    @discardableResult
    public func startOptimisedBuild(workLeft: Double) -> Bool {
        guard build == nil else { return true }
        guard !finished, workLeft >= tiered.minimumWork * (Self.coreIsIdle() ? 1 : 10) else { return false }
        var cc = tiered.optimised
        let cancellation = CompileCancellation()
        cc.cancellation = cancellation
        cc.niceness = 10  // the training beside it keeps its core on a busy machine
        build = OptimisedBuild(analysis: analysis, compilation: current.compilation, backend: cc,
                               cancellation: cancellation)
        return true
    }

    /// At a step boundary: moves to the cc build if it is ready (with the forced switch step of
    /// tests, exactly at that step, waiting for the build). Returns true when it switched now.
    /// A failed build is left behind: ``failure`` says why, and ``takeFailure()`` hands the
    /// message over once.
    @discardableResult
    public func switchIfReady() -> Bool {
        guard switchedAtStep == nil, failure == nil, let build else { return false }
        let result: Result<CompiledModel, Error>
        if let k = tiered.switchAtStep {
            guard current.step >= k else { return false }
            result = build.wait()
        } else {
            guard let ready = build.result else { return false }
            result = ready
        }
        switch result {
        case .success(let optimised):
            do {
                try optimised.takeState(from: current)
            } catch {
                failure = "\(error)"
                return false
            }
            switchedAtStep = optimised.step
            current = optimised
            return true
        case .failure(let error):
            failure = (error as? JITError).map { "\($0)" } ?? "\(error)"
            return false
        }
    }

    /// Whether the one-minute load average leaves a core free beside this run (true when the
    /// load cannot be read).
    static func coreIsIdle() -> Bool {
        var load = [0.0, 0.0, 0.0]
        guard getloadavg(&load, 3) >= 1 else { return true }
        return load[0] <= Double(ProcessInfo.processInfo.activeProcessorCount) - 1
    }

    /// The cc build's failure message the first time it is asked for after the build failed
    /// (so that a caller warns once); nil otherwise.
    public func takeFailure() -> String? {
        guard let failure, !failureReported else { return nil }
        failureReported = true
        return failure
    }

    /// Starts the cc build if it has not started and blocks until it is done (tests and
    /// benchmarks); then ``switchIfReady()`` switches.
    public func waitForOptimisedBuild() {
        startOptimisedBuild(workLeft: .infinity)
        _ = build?.wait()
    }

    /// Stops the cc build if it still runs (the compiler is terminated, its files removed) and
    /// waits for its thread; no build starts after it. Called when the run ends.
    public func finish() {
        finished = true
        build?.cancel()
        _ = build?.wait()
    }

    deinit { finish() }
}

/// The cc build of a tiered model, on its own thread.
private final class OptimisedBuild: @unchecked Sendable {
    private let condition = NSCondition()
    private var done: Result<CompiledModel, Error>?
    private var elapsed = 0.0
    private let cancellation: CompileCancellation

    init(analysis: ModelAnalysis, compilation: Compilation, backend: CCBackend, cancellation: CompileCancellation) {
        self.cancellation = cancellation
        let thread = Thread { [self] in
            let start = DispatchTime.now().uptimeNanoseconds
            let outcome: Result<CompiledModel, Error> = Result {
                try CompiledModel(analysis: analysis, compilation: compilation, backend: backend)
            }
            condition.lock()
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            done = outcome
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "nngen cc build"
        thread.start()
    }

    /// The outcome if the build is done, without waiting.
    var result: Result<CompiledModel, Error>? {
        condition.lock()
        defer { condition.unlock() }
        return done
    }

    /// Seconds the build took (0 until it is done).
    var seconds: Double {
        condition.lock()
        defer { condition.unlock() }
        return elapsed
    }

    /// Waits for the outcome.
    func wait() -> Result<CompiledModel, Error> {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let done { return done }
            condition.wait()
        }
    }

    func cancel() { cancellation.cancel() }
}
