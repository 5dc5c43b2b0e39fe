import ArgumentParser
import CodeGen
import Foundation
import ModelSpec

/// `nngen emit MODEL -o DIR`: writes NAME.h, NAME.c and the standalone training program
/// (train.c, the model-independent runtime nn_runtime.h/.c and nn_rt_*.c, Makefile, README.md).
struct Emit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model's generated C (NAME.h, NAME.c) and a standalone training program (train.c, the runtime nn_runtime.* and nn_rt_*, Makefile, README.md) into a directory.",
        discussion: "In DIR, `make` builds ./train with any C99 compiler; see DIR/README.md.")

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(name: .shortAndLong, help: "The output directory (created if missing).")
    var output: String

    @Option(help: "Scalar type of the generated code: f32 or f64.")
    var dtype: ScalarType = .f32

    @Option(help: "Print what a stage produced instead of writing files: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dumpAfter: Stage?

    @Flag(help: "Apply no fusion rule: one kernel per primitive node (to see what fusion does).")
    var noFusion = false

    func run() throws {
        let analysis = try loadModel(model)
        try analysis.validate(for: dtype)
        let compilation = compile(analysis, options: CompileOptions(scalar: dtype, fusionRules: noFusion ? [] : FusionRule.all))
        if let stage = dumpAfter {
            print(compilation.dump(after: stage), terminator: "")
            return
        }
        let dir = URL(fileURLWithPath: output)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw UserError("cannot create the output directory \(output): "
                            + Messages.fileProblem(error, path: output, writing: true))
        }
        let files = Standalone.files(for: compilation)
        for file in files {
            try writeText(file.contents, to: dir.appendingPathComponent(file.name))
        }
        print("wrote \(files.map(\.name).joined(separator: ", ")) in \(dir.path)")
    }
}

extension ScalarType: ExpressibleByArgument {}
extension Stage: ExpressibleByArgument {}

/// Reads and validates a model file; errors name the file and the place.
func loadModel(_ path: String) throws -> ModelAnalysis {
    let url = URL(fileURLWithPath: path)
    let model = try Model.load(from: url)
    lastLoadedModel = (model.name, path)
    return try model.analyze(file: path)
}

/// Writes a text file atomically, with a user error naming the file on failure.
func writeText(_ text: String, to url: URL) throws {
    do {
        try Data(text.utf8).write(to: url, options: .atomic)
    } catch {
        throw UserError("cannot write \(url.path): \(Messages.fileProblem(error, path: url.path, writing: true))")
    }
}
