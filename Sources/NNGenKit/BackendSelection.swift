import JIT

/// The back end of `nngen train`, `predict` and `eval` (`--backend auto|tcc|cc`) with `--threads`:
/// `auto` runs the tcc build at once and moves to the cc build (with `threads` threads) once it
/// is ready; tcc and cc are `benchBackend`'s.
/// - Throws: `BenchError` for an unknown name, or threads that tcc cannot run.
public func backendSelection(_ name: String, threads: Int) throws -> BackendSelection {
    guard name == "auto" else { return .single(try benchBackend(name, threads: threads)) }
    guard let cc = try benchBackend("cc", threads: threads) as? CCBackend else {
        throw BenchError("the cc back end of --backend auto is not the system compiler")
    }
    return .auto(TieredBackend(optimised: cc))
}
