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

    /// The compiler: a name looked up in `PATH`, or a path.
    public var compiler: String
    /// The main flags. Keep `-shared` and `-fPIC`, which loading requires.
    public var flags: [String]
    /// Flags appended after ``flags`` (for example `["-fopenmp"]` or `["-Wall"]`).
    public var extraFlags: [String]
    /// Libraries linked after the source, as `-l` options (default `["m"]`).
    public var libraries: [String]

    public init(compiler: String = "cc", flags: [String] = CCBackend.defaultFlags,
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

        let output = try Self.run(executable, arguments: arguments)
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
    static func run(_ executable: URL, arguments: [String]) throws -> (status: Int32, text: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do {
            try process.run()
        } catch {
            throw JITError.toolMissing("cannot start '\(executable.path)': \(error.localizedDescription)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal {
            return (128 + process.terminationStatus, text + "\n(killed by signal \(process.terminationStatus))")
        }
        return (process.terminationStatus, text)
    }
}
