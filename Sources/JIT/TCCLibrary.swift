import CTCC

/// Code compiled and relocated in memory by ``TCCBackend``. Owns the `TCCState`;
/// the code is freed (`tcc_delete`) when this object is released.
///
/// Every libtcc call goes through the module's global tcc lock, so instances may be
/// shared between threads.
public final class TCCLibrary: CompiledLibrary, @unchecked Sendable {
    private let state: OpaquePointer
    private let diagnostics: TCCDiagnostics

    /// Warnings tcc printed while compiling (empty for clean code).
    public var warnings: [String] { TCCLock.withLock { diagnostics.messages } }

    init(state: OpaquePointer, diagnostics: TCCDiagnostics) {
        self.state = state
        self.diagnostics = diagnostics
    }

    public func address(of symbol: String) throws -> UnsafeMutableRawPointer {
        guard let address = TCCLock.withLock({ tcc_get_symbol(state, symbol) }) else {
            throw JITError.symbolMissing(symbol)
        }
        return address
    }

    deinit {
        TCCLock.withLock { tcc_delete(state) }
    }
}
