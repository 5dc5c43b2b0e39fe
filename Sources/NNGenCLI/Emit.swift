import ArgumentParser
import CodeGen
import DataIO
import Foundation
import ModelSpec
import NNGenKit

/// `nngen emit MODEL -o DIR`: writes NAME.h, NAME.c and the standalone training program
/// (train.c, the model-independent runtime nn_runtime.h/.c and nn_rt_*.c, Makefile, README.md).
struct Emit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the model's generated C (NAME.h, NAME.c) and a standalone training program (train.c, the runtime nn_runtime.* and nn_rt_*, Makefile, README.md) into a directory.",
        discussion: """
        In DIR, `make` builds ./train with any C99 compiler, and `make mpi` builds ./train_mpi with Open MPI's \
        mpicc for data-parallel training (mpirun -np P ./train_mpi DATA ...); see DIR/README.md. With --target \
        embedded, DIR holds instead the on-device trainer (train_device.c, the data as C arrays, a start-up file \
        and linker script for qemu's MPS2 boards, a Makefile for arm-none-eabi-gcc) and its footprint is \
        printed; see docs/EMBEDDED.md.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @Option(name: .shortAndLong, help: "The output directory (created if missing); not needed with --dump-after.")
    var output: String?

    @Option(help: dtypeHelp)
    var dtype: ScalarType = .f32

    @Option(help: "Print what a stage produced instead of writing files: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dumpAfter: Stage?

    @Flag(help: "Apply no fusion rule: one kernel per primitive node (to see what fusion does).")
    var noFusion = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Generate the code for this batch size instead of the model's (as train --batch).", valueName: "n"))
    var batch: Int?

    // MARK: the embedded target (docs/EMBEDDED.md)

    @Option(help: "What to write beside NAME.h and NAME.c: standalone (./train, the runtime) or embedded (train_device.c for a Cortex-M: static buffers, data compiled in).")
    var target: EmitTarget = .standalone

    @Option(help: "embedded: the data set to compile in as C arrays (.csv or .safetensors, as for nngen train).")
    var embedData: String?

    @Option(help: "embedded: compile in only the first N rows of --embed-data.")
    var embedRows: Int?

    @Option(help: "embedded: the most bytes the data arrays may take (e.g. 512KiB).")
    var embedLimit: ByteCount = ByteCount(bytes: EmbeddedTarget.defaultDataLimit)

    @Option(help: "embedded: a checkpoint (nngen train --save) whose parameters the device starts from (fine-tuning).")
    var embedParams: String?

    @Option(help: "embedded: the epochs the device trains.")
    var epochs: Int = 10

    @Option(help: "embedded: the seed of the initial parameters and the shuffles.")
    var seed: UInt64 = TrainingDefaults.seed

    @Option(help: "embedded: the learning rate (default: the model's).")
    var lr: Double?

    @Option(help: "embedded: the core of the footprint report: \(DeviceCore.allCases.map(\.rawValue).joined(separator: ", ")).")
    var core: DeviceCore = .cortexM4

    @Option(help: "embedded: fail unless the RAM the device needs fits this many bytes (e.g. 256KiB).")
    var ramBudget: ByteCount?

    /// Freezing is decided when the code is generated: ./train takes no --freeze of its own.
    @OptionGroup var trainable: TrainableOptions

    func validate() throws {
        if output == nil && dumpAfter == nil {
            throw ValidationError("emit needs -o DIR, the directory to write the files into (or --dump-after STAGE to print a stage)")
        }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1 (got \(batch))") }
        if target != .embedded {
            let given = [("--embed-data", embedData != nil), ("--embed-rows", embedRows != nil),
                         ("--embed-params", embedParams != nil), ("--ram-budget", ramBudget != nil)]
                .filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) needs --target embedded")
            }
        } else if embedData == nil {
            throw ValidationError("--target embedded needs --embed-data FILE (the data set the device trains on)")
        }
        if let n = embedRows, n < 1 { throw ValidationError("--embed-rows must be at least 1, not \(n)") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, not \(epochs)") }
        if let lr, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be a positive number") }
    }

    func run() throws {
        var analysis = try loadModel(model)
        if let batch {
            var spec = analysis.model
            spec.batch = batch
            analysis = try spec.analyze(file: model)
        }
        if !trainable.freeze.isEmpty || !trainable.trainOnly.isEmpty {
            analysis = try trainable.apply(to: analysis.model, file: model).analyze(file: model)
        }
        try analysis.validate(for: dtype)
        // The embedded target reads frozen parameters from flash (NAME_frozen_params, from --embed-params);
        // the standalone program's backward marks finished gradients for train_mpi (NN_GRADS_READY).
        let compilation = compile(analysis, options: CompileOptions(scalar: dtype, fusionRules: noFusion ? [] : FusionRule.all,
                                                                    frozenApart: target == .embedded,
                                                                    gradientHooks: target != .embedded))
        if let stage = dumpAfter {
            print(compilation.dump(after: stage), terminator: "")
            return
        }
        guard let output else { return }  // validate() asks for -o without --dump-after
        if target == .embedded { try checkFrozenParameters(compilation) }
        let dir = URL(fileURLWithPath: output)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw UserError("cannot create the output directory \(output): "
                            + Messages.fileProblem(error, path: output, writing: true))
        }
        let files = target == .embedded ? try embeddedFiles(compilation) : Standalone.files(for: compilation)
        for file in files {
            try writeText(file.contents, to: dir.appendingPathComponent(file.name))
        }
        print("wrote \(files.map(\.name).joined(separator: ", ")) in \(dir.path)")
    }

    /// A model with frozen layers on the embedded target needs --embed-params: the core reads their
    /// parameters from flash, so they must come from a checkpoint (checked before anything is written).
    func checkFrozenParameters(_ compilation: Compilation) throws {
        let model = compilation.analysis.model
        if compilation.code.frozenApart && embedParams == nil {
            var frozen: [String] = []
            for p in compilation.analysis.parameters where !p.trainable && !frozen.contains(p.layerPath) {
                frozen.append(p.layerPath)
            }
            throw UserError("\(self.model): model \(model.name) has frozen layers (\(frozen.joined(separator: ", "))): on the "
                            + "device their parameters stay in flash and never change, so they must come from a checkpoint; "
                            + "give --embed-params CKPT (nngen train ... --save CKPT)")
        }
    }

    /// The embedded target's files, after printing its footprint and checking the RAM budget.
    func embeddedFiles(_ compilation: Compilation) throws -> [GeneratedFile] {
        let model = compilation.analysis.model
        if Device.fixedFileNames.contains(model.name) {
            throw UserError("\(self.model): model name \(model.name) is the name of a file of the embedded target "
                            + "(\(Device.fixedFileNames.joined(separator: ", "))); rename the model")
        }
        var initial: (parameters: [Double], standardizer: Standardizer?)?
        if let ckpt = embedParams {
            initial = try EmbeddedTarget.parameters(from: URL(fileURLWithPath: ckpt), analysis: compilation.analysis,
                                                     scalar: dtype)
        }
        let data = try EmbeddedTarget.data(from: URL(fileURLWithPath: embedData ?? ""), analysis: compilation.analysis,
                                           scalar: dtype, maxRows: embedRows, limit: embedLimit.bytes,
                                           standardizer: initial?.standardizer)
        let footprint = Footprint.of(compilation, core: core, dataRows: data.rows, embedsParameters: initial != nil)
        print(footprint.text, terminator: "")
        if let budget = ramBudget {
            try footprint.check(ramBudget: budget.bytes, analysis: compilation.analysis)
        }
        let options = DeviceOptions(epochs: epochs, seed: seed, learningRate: lr ?? model.optimizer.learningRate,
                                    initialParameters: initial?.parameters,
                                    parametersSource: embedParams.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "")
        return Device.files(for: compilation, data: data, options: options)
    }
}

/// A byte count given as a flag: `65536`, `64K`, `64KiB`, `256KB`, `1M`, `1MiB` (K = 1024).
struct ByteCount: ExpressibleByArgument {
    var bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        guard let n = ByteSize.parse(argument) else { return nil }
        bytes = n
    }

    var defaultValueDescription: String { ByteSize.text(bytes) }
}

extension EmitTarget: ExpressibleByArgument {}
extension DeviceCore: ExpressibleByArgument {}
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
