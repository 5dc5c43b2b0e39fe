import ArgumentParser
import Foundation
import JIT
import ModelSpec

/// The `nngen` command: describe, compile, check and train fixed-shape neural networks.
@main
struct NNGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nngen",
        abstract: "Compile neural-network training code to fused fixed-shape C, JIT it, and check its gradients.",
        discussion: """
        Exit codes: 0 success, 1 a user error (message on stderr), 2 a usage error.
        Model files are JSON (see README.md); MODEL may also be omitted where a default is documented.
        """,
        version: nngenVersion,
        subcommands: CommandList.all)

    /// Runs the command; maps errors to the documented exit codes (0, 1, 2) with no stack trace.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as UserError {
            FileHandle.standardError.write(Data(("error: " + error.message + "\n").utf8))
            Foundation.exit(1)
        } catch let error as UsageError {
            FileHandle.standardError.write(Data(("error: " + error.message + "\n").utf8))
            Foundation.exit(2)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version: printed as they are
                exit(withError: error)
            }
            if code == .validationFailure || isUsageError(error) {
                let text = cutQuotedValues(fullMessage(for: error))
                FileHandle.standardError.write(Data((text + "\n").utf8))
                Foundation.exit(2)
            }
            // Any other error is a user error: print its description, no stack trace.
            FileHandle.standardError.write(Data(("error: " + describe(error) + "\n").utf8))
            Foundation.exit(1)
        }
    }

    /// Errors argument-parser raises while parsing, which are usage errors.
    private static func isUsageError(_ error: Error) -> Bool {
        String(describing: type(of: error)).contains("CommandError") || error is ValidationError
    }
}

/// What `nngen --version` prints.
let nngenVersion = "nngen 0.11.0"

/// `text` with every value argument-parser echoes between single quotes (`The value '...' is
/// invalid for '--dtype <dtype>'`) cut by `Messages.shown`.
func cutQuotedValues(_ text: String) -> String {
    var out = ""
    var rest = Substring(text)
    while let open = rest.firstIndex(of: "'") {
        out += rest[...open]
        rest = rest[rest.index(after: open)...]
        guard let close = rest.firstIndex(of: "'") else { break }
        out += Messages.shown(String(rest[..<close])) + "'"
        rest = rest[rest.index(after: close)...]
    }
    return out + rest
}

/// Turns any error into a one-paragraph message for users.
func describe(_ error: Error) -> String {
    // A C compiler failure names the model and says what to try.
    if let e = error as? JITError { return e.message(model: lastLoadedModel?.name, file: lastLoadedModel?.file) }
    return String(describing: error)
}

/// The model file the command loaded last (`loadModel`), named in compiler failures.
nonisolated(unsafe) var lastLoadedModel: (name: String, file: String)?

/// A usage error found while running (after parsing), such as a missing option that depends on
/// a file's contents: printed as `error: MESSAGE` on stderr with exit code 2.
struct UsageError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A user-facing error: printed as `error: MESSAGE` on stderr with exit code 1.
struct UserError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The `--backend` help of every command that runs generated code: its values and the default.
let backendHelp = ArgumentHelp("Back end: auto (the default: starts at once on tcc and moves to the cc build once it is compiled; the same numbers), tcc (libtcc, in-process, fast to compile) or cc (the system C compiler, optimised code).")

/// The `--dtype` help of every command that generates code: its values and the default.
let dtypeHelp = ArgumentHelp("Scalar type of the generated code: f32 (the default) or f64.")
