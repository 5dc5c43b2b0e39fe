import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A shared object built by ``CCBackend`` and loaded with `dlopen`; `dlclose`d when
/// this object is released. Instances may be shared between threads (the handle is
/// only used under a lock).
public final class CCLibrary: CompiledLibrary, @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let lock = NSLock()

    /// The temporary directory the library was built in. It has already been
    /// removed; exposed so tests can check that.
    public let buildDirectory: URL
    /// What the compiler printed on success (warnings), possibly empty.
    public let diagnostics: String

    init(loading path: String, buildDirectory: URL, diagnostics: String) throws {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw JITError.loadFailed(reason)
        }
        self.handle = handle
        self.buildDirectory = buildDirectory
        self.diagnostics = diagnostics
    }

    public func address(of symbol: String) throws -> UnsafeMutableRawPointer {
        guard let address = lock.withLock({ dlsym(handle, symbol) }) else {
            throw JITError.symbolMissing(symbol)
        }
        return address
    }

    deinit {
        dlclose(handle)
    }
}
