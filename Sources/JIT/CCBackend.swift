import Foundation

/// Compiles C with the system compiler into a shared object and loads it with
/// `dlopen`. Slow to compile (tens to hundreds of milliseconds) but produces
/// optimised code.
///
/// Each compilation uses a fresh temporary directory, which is removed before
/// ``compile(source:symbols:)`` returns, whether it succeeds or fails.
///
/// `symbols` are bound with the linker option `--defsym=name=address`, which makes
/// each name an absolute symbol of the shared object. This needs a GNU-compatible
/// linker (GNU ld, gold, lld; not Apple's ld64, where non-empty `symbols` throw
/// ``JITError/unsupported(_:)``). A name that is also exported globally by the
/// running process (for example `erf`) resolves to the process's definition
/// instead, so give helpers unique names.
public struct CCBackend: CBackend {
    public var name: String { "cc" }

    /// The flags used unless others are given.
    public static let defaultFlags = ["-O3", "-march=native", "-fno-math-errno", "-std=c99", "-shared", "-fPIC"]

    /// The compiler used unless another is given: the environment variable `NNGEN_CC` when it is
    /// set and not empty (a name looked up in `PATH`, or a path), else `cc`.
    public static var defaultCompiler: String {
        if let cc = ProcessInfo.processInfo.environment["NNGEN_CC"], !cc.isEmpty { return cc }
        return "cc"
    }

    /// The compiler: a name looked up in `PATH`, or a path.
    public var compiler: String
    /// The main flags. Keep `-shared` and `-fPIC`, which loading requires.
    public var flags: [String]
    /// Flags appended after ``flags`` (for example `["-fopenmp"]` or `["-Wall"]`).
    public var extraFlags: [String]
    /// Libraries linked after the source, as `-l` options (default `["m"]`).
    public var libraries: [String]
    /// When set, ``CompileCancellation/cancel()`` stops the compiler this back end runs (the
    /// compilation then throws ``JITError/cancelled``). The tiered model uses it to stop a cc
    /// build that a finished run no longer needs.
    public var cancellation: CompileCancellation?
    /// The compiler's `nice` increment (0: none). The tiered model's background build uses 10,
    /// so that on a busy machine it never takes a core from the training it runs beside.
    public var niceness: Int32 = 0

    public init(compiler: String = CCBackend.defaultCompiler, flags: [String] = CCBackend.defaultFlags,
                extraFlags: [String] = [], libraries: [String] = ["m"]) {
        self.compiler = compiler
        self.flags = flags
        self.extraFlags = extraFlags
        self.libraries = libraries
    }

    /// A copy of this back end with `more` appended to ``extraFlags``.
    public func adding(flags more: [String]) -> CCBackend {
        var copy = self
        copy.extraFlags += more
        return copy
    }

    public func compile(source: String, symbols: [String: UnsafeRawPointer]) throws -> any CompiledLibrary {
        try compileLibrary(source: source, symbols: symbols)
    }

    /// Like ``compile(source:symbols:)`` but returns the concrete library type,
    /// which also exposes the compiler's warnings and the (removed) build directory.
    public func compileLibrary(source: String, symbols: [String: UnsafeRawPointer] = [:]) throws -> CCLibrary {
        let executable = try Self.locate(compiler)
        #if os(macOS)
        if !symbols.isEmpty {
            throw JITError.unsupported("the cc back end cannot bind 'symbols' on macOS (ld64 has no "
                + "--defsym); use TCCBackend or define the helpers in the C source.")
        }
        #endif

        let fileManager = FileManager.default
        let directory = fileManager.temporaryDirectory
            .appendingPathComponent("nngen-jit-\(UUID().uuidString)", isDirectory: true)
        do {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw JITError.ioFailed("cannot create '\(directory.path)': \(error.localizedDescription)")
        }
        defer { try? fileManager.removeItem(at: directory) }

        let sourceURL = directory.appendingPathComponent("module.c")
        let objectURL = directory.appendingPathComponent("module.so")
        do {
            try source.write(to: sourceURL, atomically: false, encoding: .utf8)
        } catch {
            throw JITError.ioFailed("cannot write '\(sourceURL.path)': \(error.localizedDescription)")
        }

        var arguments = flags + extraFlags + ["-o", objectURL.path, sourceURL.path]
        arguments += symbols.sorted(by: { $0.key < $1.key }).map { symbol, address in
            "-Wl,--defsym=\(symbol)=0x\(String(UInt(bitPattern: address), radix: 16))"
        }
        arguments += libraries.map { "-l\($0)" }

        let output = try Self.run(executable, arguments: arguments, cancellation: cancellation, niceness: niceness)
        if cancellation?.isCancelled == true { throw JITError.cancelled }
        guard output.status == 0 else {
            throw JITError.compileFailed(backend: name, message: "\(compiler) exited with status "
                + "\(output.status):\n\(output.text)")
        }
        return try CCLibrary(loading: objectURL.path, buildDirectory: directory, diagnostics: output.text)
    }

    /// Finds `tool` in `PATH` (or checks it, if it is a path).
    static func locate(_ tool: String) throws -> URL {
        if tool.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: tool) else {
                throw JITError.toolMissing("the C compiler '\(tool)' does not exist or is not executable.")
            }
            return URL(fileURLWithPath: tool)
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return URL(fileURLWithPath: candidate)
            }
        }
        throw JITError.toolMissing("the C compiler '\(tool)' was not found in PATH (\(path)); install "
            + "one (for example 'apt-get install gcc') or set CCBackend.compiler to its path.")
    }

    /// Runs `executable`, returning its exit status and combined stdout and stderr.
    static func run(_ executable: URL, arguments: [String], cancellation: CompileCancellation? = nil,
                    niceness: Int32 = 0) throws -> (status: Int32, text: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try cancellation?.starting(process)
            try process.run()
        } catch let error as JITError {
            throw error
        } catch {
            throw JITError.toolMissing("cannot start '\(executable.path)': \(error.localizedDescription)")
        }
        cancellation?.started(process)
        if niceness != 0 { lowerPriority(of: process, by: niceness) }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal {
            return (128 + process.terminationStatus, text + "\n(killed by signal \(process.terminationStatus))")
        }
        return (process.terminationStatus, text)
    }
}

/// Lowers the priority of `process` (the leader of its own process group, as Foundation starts
/// it) and of the programs it starts (cc1, as, ld inherit it) by `niceness`.
private func lowerPriority(of process: Process, by niceness: Int32) {
    let pid = process.processIdentifier
    guard pid > 0, getpgid(pid) == pid else { return }
    #if os(Linux)
    _ = setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(pid), niceness)
    #else
    _ = setpriority(PRIO_PGRP, id_t(pid), niceness)
    #endif
}

/// Stops a running ``CCBackend`` compilation from another thread: ``cancel()`` terminates the
/// compiler process (or keeps it from starting), and the compilation throws ``JITError/cancelled``.
public final class CompileCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false
    private var process: Process?

    public init() {}

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { lock.withLock { cancelled } }

    /// Stops the compiler if it runs, and any compilation that has not started yet.
    public func cancel() {
        let running: Process? = lock.withLock {
            cancelled = true
            return process
        }
        if let running { Self.stop(running) }
    }

    /// Terminates the compiler and the programs it started (cc1, as, ld): Foundation starts it
    /// as the leader of its own process group, so the group is signalled.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        if pid > 0, getpgid(pid) == pid { kill(-pid, SIGTERM) } else { process.terminate() }
    }

    /// Throws ``JITError/cancelled`` if the compilation was cancelled before its compiler started.
    func starting(_ process: Process) throws {
        try lock.withLock {
            if cancelled { throw JITError.cancelled }
            self.process = process
        }
    }

    /// Terminates `process` if ``cancel()`` came while it was being started.
    func started(_ process: Process) {
        if isCancelled { Self.stop(process) }
    }
}
