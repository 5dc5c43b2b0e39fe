import CTCC
import Foundation

/// Compiles C in memory with libtcc: no files written, unoptimised code, and fast
/// compilation (about 0.5 ms for a small file; `#include <math.h>` alone adds about
/// 4 ms of glibc header parsing, so generated code should declare the few libm
/// prototypes it needs instead). Suited to tests and quick iterations.
///
/// libtcc keeps global state and is not thread-safe, so every libtcc call made by
/// this module runs under one process-wide lock. Compilations from several threads
/// are therefore serialised.
///
/// Libraries such as libm are resolved from the running process and from
/// `libraries` (default `["m"]`), so `expf`, `erf`, `tanhf`, `sqrtf`… work after
/// `#include <math.h>`.
public struct TCCBackend: CBackend {
    public var name: String { "tcc" }

    /// The directory that holds `libtcc1.a` and tcc's own `include/` directory.
    /// `nil` searches ``TCCBackend/runtimeDirectoryCandidates``.
    public var runtimeDirectory: String?
    /// Extra system include directories, searched after tcc's own.
    public var includePaths: [String]
    /// Libraries linked by name, as with `-l` (for example `"m"`).
    public var libraries: [String]
    /// Command-line options passed to `tcc_set_options` (for example `["-Wall"]`).
    /// Optimisation flags have no effect on tcc.
    public var options: [String]

    /// Where libtcc's runtime directory is looked for, in order.
    public static let runtimeDirectoryCandidates = [
        "/usr/lib/x86_64-linux-gnu/tcc", "/usr/lib/aarch64-linux-gnu/tcc",
        "/usr/lib/tcc", "/usr/local/lib/tcc", "/usr/lib64/tcc", "/opt/homebrew/lib/tcc",
    ]

    /// The system include directories added by default.
    public static let defaultIncludePaths: [String] = {
        #if arch(x86_64)
        return ["/usr/include", "/usr/include/x86_64-linux-gnu"]
        #elseif arch(arm64)
        return ["/usr/include", "/usr/include/aarch64-linux-gnu"]
        #else
        return ["/usr/include"]
        #endif
    }()

    /// The first candidate directory that contains `libtcc1.a`, or `nil`.
    public static let discoveredRuntimeDirectory: String? = runtimeDirectoryCandidates.first {
        FileManager.default.fileExists(atPath: $0 + "/libtcc1.a")
    }

    public init(runtimeDirectory: String? = nil,
                includePaths: [String] = TCCBackend.defaultIncludePaths,
                libraries: [String] = ["m"],
                options: [String] = []) {
        self.runtimeDirectory = runtimeDirectory
        self.includePaths = includePaths
        self.libraries = libraries
        self.options = options
    }

    public func compile(source: String, symbols: [String: UnsafeRawPointer]) throws -> any CompiledLibrary {
        try compileLibrary(source: source, symbols: symbols)
    }

    /// Like ``compile(source:symbols:)`` but returns the concrete library type,
    /// which also exposes tcc's warnings.
    public func compileLibrary(source: String, symbols: [String: UnsafeRawPointer] = [:]) throws -> TCCLibrary {
        guard let runtime = runtimeDirectory ?? Self.discoveredRuntimeDirectory else {
            throw JITError.toolMissing(
                "libtcc's runtime directory (containing libtcc1.a) was not found in "
                    + Self.runtimeDirectoryCandidates.joined(separator: ", ")
                    + "; install it with 'apt-get install libtcc-dev tcc' or pass runtimeDirectory.")
        }
        guard FileManager.default.fileExists(atPath: runtime + "/libtcc1.a") else {
            throw JITError.toolMissing("'\(runtime)' does not contain libtcc1.a; pass the directory "
                + "of libtcc's runtime library as runtimeDirectory.")
        }
        return try TCCLock.withLock { () throws -> TCCLibrary in
            guard let state = tcc_new() else {
                throw JITError.compileFailed(backend: name, message: "tcc_new() failed (out of memory?)")
            }
            let diagnostics = TCCDiagnostics()
            var keep = false
            defer { if !keep { tcc_delete(state) } }

            tcc_set_error_func(state, Unmanaged.passUnretained(diagnostics).toOpaque(), tccCollectMessage)
            tcc_set_lib_path(state, runtime)
            _ = tcc_add_sysinclude_path(state, runtime + "/include")
            for path in includePaths { _ = tcc_add_sysinclude_path(state, path) }
            if !options.isEmpty { tcc_set_options(state, options.joined(separator: " ")) }
            guard tcc_set_output_type(state, TCC_OUTPUT_MEMORY) == 0 else {
                throw JITError.compileFailed(backend: name, message: diagnostics.text)
            }
            for library in libraries where tcc_add_library(state, library) != 0 {
                throw JITError.toolMissing("tcc could not find the library '\(library)': \(diagnostics.text)")
            }
            guard tcc_compile_string(state, source) == 0 else {
                throw JITError.compileFailed(backend: name, message: diagnostics.text)
            }
            for (symbol, address) in symbols.sorted(by: { $0.key < $1.key }) {
                guard tcc_add_symbol(state, symbol, address) == 0 else {
                    throw JITError.relocationFailed("could not add the symbol '\(symbol)': \(diagnostics.text)")
                }
            }
            // TCC_RELOCATE_AUTO is the macro `(void*)1`, which Swift cannot import.
            guard tcc_relocate(state, UnsafeMutableRawPointer(bitPattern: 1)) >= 0 else {
                throw JITError.relocationFailed(diagnostics.text)
            }
            keep = true
            return TCCLibrary(state: state, diagnostics: diagnostics)
        }
    }
}

/// The single lock guarding every libtcc call (libtcc 0.9.27 has global state).
enum TCCLock {
    private static let lock = NSLock()

    static func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}

/// Collects the messages libtcc reports through its error callback. Only touched
/// while ``TCCLock`` is held.
final class TCCDiagnostics {
    var messages: [String] = []
    var text: String { messages.joined(separator: "\n") }
}

/// libtcc's error callback: appends the message to the ``TCCDiagnostics`` passed as `opaque`.
private let tccCollectMessage: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void = {
    opaque, message in
    guard let opaque, let message else { return }
    Unmanaged<TCCDiagnostics>.fromOpaque(opaque).takeUnretainedValue().messages.append(String(cString: message))
}
