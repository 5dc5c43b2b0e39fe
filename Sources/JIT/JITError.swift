import Foundation

/// Errors thrown while turning generated C code into callable machine code.
///
/// Every case carries enough text to explain to a user what went wrong and what to
/// try next; ``description`` renders it as a complete sentence.
public enum JITError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The C compiler rejected the translation unit. `message` is the compiler's
    /// complete diagnostic output (errors and warnings, in order).
    case compileFailed(backend: String, message: String)
    /// The compiled code does not export a symbol with this name.
    case symbolMissing(String)
    /// tcc compiled the code but could not link it in memory (usually an undefined
    /// function or object). The payload holds tcc's diagnostics.
    case relocationFailed(String)
    /// A required tool, library or runtime directory could not be found.
    case toolMissing(String)
    /// The shared object produced by the system compiler could not be loaded.
    case loadFailed(String)
    /// A type passed to ``CompiledLibrary/function(_:as:)`` cannot hold a C function pointer.
    case invalidFunctionType(String)
    /// Creating, writing or removing temporary build files failed.
    case ioFailed(String)
    /// The back end cannot honour a request (for example, extra symbols on a
    /// platform whose linker cannot define them).
    case unsupported(String)
    /// The compilation was stopped with ``CompileCancellation/cancel()`` (a tiered run that
    /// finished before its cc build).
    case cancelled

    public var description: String {
        switch self {
        case let .compileFailed(backend, message):
            let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
            return "the \(backend) back end could not compile the generated C code"
                + (text.isEmpty ? " (the compiler printed no diagnostics)." : ":\n\(text)")
        case let .symbolMissing(name):
            return "the compiled code does not define the symbol '\(name)'; check the spelling "
                + "and that it is not declared 'static'."
        case let .relocationFailed(message):
            return "tcc could not link the compiled code in memory (an undefined function or "
                + "object is the usual cause; pass it through the 'symbols' parameter):\n"
                + message.trimmingCharacters(in: .whitespacesAndNewlines)
        case let .toolMissing(message):
            return message
        case let .loadFailed(message):
            return "the compiled shared library could not be loaded: \(message)"
        case let .invalidFunctionType(message):
            return message
        case let .ioFailed(message):
            return "temporary build files could not be handled: \(message)"
        case let .unsupported(message):
            return message
        case .cancelled:
            return "the compilation was cancelled."
        }
    }
}

extension JITError {
    /// Whether a C compiler rejected the code (or tcc could not link it): for C that nngen
    /// generated from a valid model, a bug in nngen rather than in the model.
    public var isCompilerFailure: Bool {
        switch self {
        case .compileFailed, .relocationFailed: return true
        default: return false
        }
    }

    /// The message for a user whose model's generated C failed to compile: the error, the model
    /// (and its file when known), and what to try (report the bug with the model file; the other
    /// back end). Other errors: their description.
    public func message(model: String?, file: String?) -> String {
        guard isCompilerFailure else { return description }
        let backend: String
        if case let .compileFailed(name, _) = self { backend = name } else { backend = "tcc" }
        let other = backend == "tcc" ? "cc" : "tcc"
        var what = "the C generated for model"
        if let model { what += " '\(model)'" }
        if let file { what += " (\(file))" }
        return "compiling \(what) failed: " + description + "\n"
            + "This is a bug in nngen, not in the model: please report it with the model file"
            + (file.map { " \($0)" } ?? "") + ". Meanwhile, try the other back end: --backend \(other)."
    }
}
