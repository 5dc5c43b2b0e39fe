import ModelSpec

/// One generated text file: its name inside the output directory, and its contents.
public struct GeneratedFile: Sendable, Equatable {
    /// The file name, without a directory (`digits_mlp.h`, `train.c`, `Makefile`...).
    public var name: String
    /// The text of the file.
    public var contents: String

    /// A file called `name` holding `contents`.
    public init(name: String, contents: String) {
        self.name = name
        self.contents = contents
    }
}

/// The standalone training program `nngen emit` writes next to `NAME.h` and `NAME.c`, in two
/// parts: a short model-specific `train.c` that describes the model in an `nn_model` struct, and
/// the model-independent runtime (data loading, split, standardisation, epochs, checkpoints, as
/// docs/TRAINING.md specifies), the same files for every model and dtype: its interface
/// `nn_runtime.h`, `nn_runtime.c` (`nn_train_main`), the header its files share
/// (`nn_rt_internal.h`) and one `nn_rt_*.c` per idea; plus a `Makefile` and a `README.md`.
/// Rendered from `templates/train.c`, `templates/nn_runtime.*`, `templates/nn_rt_*`,
/// `templates/Makefile.template` and `templates/README.standalone.md`.
public enum Standalone {
    /// Every file of the standalone program, in the order they are best read: `NAME.h`, `NAME.c`,
    /// the trainer (`train.c`), the runtime (`nn_runtime.h`, `nn_runtime.c`, `nn_rt_internal.h`,
    /// the `nn_rt_*.c` files by name), `Makefile`, `README.md`.
    public static func files(for compilation: Compilation) -> [GeneratedFile] {
        let name = compilation.analysis.model.name
        return [
            GeneratedFile(name: "\(name).h", contents: compilation.code.header),
            GeneratedFile(name: "\(name).c", contents: compilation.code.source),
            GeneratedFile(name: trainerFileName(modelName: name), contents: trainProgram(compilation)),
        ] + runtimeFiles(modelName: name) + [
            GeneratedFile(name: "Makefile", contents: makefile(compilation)),
            GeneratedFile(name: "README.md", contents: readme(compilation)),
        ]
    }

    /// The runtime's templates, in file order: `nn_runtime.h`, `nn_runtime.c`, then every
    /// `nn_rt_*` template of templates/ (`nn_rt_internal.h` first, then the `.c` files by name).
    public static var runtimeTemplateNames: [String] {
        let parts = Templates.names.filter { $0.hasPrefix("nn_rt_") }
        return ["nn_runtime.h", "nn_runtime.c"] + parts.filter { $0.hasSuffix(".h") }.sorted()
            + parts.filter { $0.hasSuffix(".c") }.sorted()
    }

    /// The prefix of every runtime file name: `nn` (`nn_runtime.c`, `nn_rt_io.c`...), or `nngen`
    /// (`nngen_runtime.c`, `nngen_rt_io.c`...) for a model named like one of them without its
    /// extension (`nn_runtime`, `nn_rt_io`...), whose own code already takes that name.
    public static func runtimePrefix(modelName: String) -> String {
        let stems = Set(runtimeTemplateNames.map { String($0.prefix { $0 != "." }) })
        return stems.contains(modelName) ? "nngen" : "nn"
    }

    /// A runtime template's file name in the output: `nn_rt_io.c`, or `nngen_rt_io.c` when the
    /// model is named like a runtime file.
    public static func runtimeFileName(_ template: String, modelName: String) -> String {
        runtimePrefix(modelName: modelName) + template.dropFirst(2)
    }

    /// The runtime's interface file name without `.h` or `.c`: `nn_runtime`, or `nngen_runtime`
    /// for a model named like a runtime file (see ``runtimePrefix(modelName:)``).
    public static func runtimeFileStem(modelName: String) -> String {
        runtimePrefix(modelName: modelName) + "_runtime"
    }

    /// The runtime: `nn_runtime.h` (the `nn_model` struct and `nn_train_main`), `nn_runtime.c`
    /// and the `nn_rt_*` files (arguments, CSV, JSON and safetensors, split, standardisation,
    /// epochs, validation, checkpoints, messages). The same texts for every model and dtype but
    /// one named like a runtime file, whose runtime files are `nngen_*` and say so.
    public static func runtimeFiles(modelName: String) -> [GeneratedFile] {
        let values = ["PRELUDE": Templates.text("prelude.h"), "RNG_BELOW": Templates.text("rng_below.h"),
                      "RUNTIME": runtimeFileStem(modelName: modelName),
                      "RT": runtimePrefix(modelName: modelName)]
        return runtimeTemplateNames.map {
            GeneratedFile(name: runtimeFileName($0, modelName: modelName), contents: Templates.render($0, values))
        }
    }

    /// `nn_runtime.h`: the `nn_model` struct and `nn_train_main` (see ``runtimeFiles(modelName:)``).
    public static func runtimeHeader(modelName: String) -> String {
        runtimeFiles(modelName: modelName)[0].contents
    }

    /// `nn_runtime.c`: `nn_train_main` (see ``runtimeFiles(modelName:)``).
    public static func runtimeSource(modelName: String) -> String {
        runtimeFiles(modelName: modelName)[1].contents
    }

    /// The trainer's source file name: `train.c`, or `train_main.c` for a model named `train`
    /// (whose own code is already `train.c`).
    public static func trainerFileName(modelName: String) -> String {
        modelName == "train" ? "train_main.c" : "train.c"
    }

    /// The model-specific C99 part of the training program: it includes `NAME.h` and
    /// `nn_runtime.h`, describes the model in an `nn_model` and calls `nn_train_main`.
    public static func trainProgram(_ compilation: Compilation) -> String {
        let analysis = compilation.analysis
        let model = analysis.model
        let scalar = compilation.code.scalar
        let slots = slotNames(model.optimizer)
        var dims = ""
        var entries = ""
        var at = 0
        for p in analysis.parameters {
            dims += p.shape.map { "\($0), " }.joined()
            entries += "    { \(cStringLiteral(p.name)), \(p.shape.count), nn_dims + \(at), \(p.offset), \(p.count) },\n"
            at += p.shape.count
        }
        let json = cStringPieces(model.jsonString).map { "    \($0),\n" }.joined()
        let real = scalar.cName
        return Templates.render("train.c", [
            "NAME": model.name,
            "TRAINER_FILE": trainerFileName(modelName: model.name),
            "RUNTIME": runtimeFileStem(modelName: model.name),
            "REAL": scalar.cName,
            "TARGET_T": model.loss.usesLabels ? "int32_t" : scalar.cName,
            "STANDARDIZE": model.standardize ? "1" : "0",
            "SCORING": scoring(model.loss),
            "LOSS_NAME": model.loss.typeName,
            "LR": cDouble(model.optimizer.learningRate),
            "OPTIMIZER": model.optimizer.typeName,
            "OPT_SLOTS": "\(slots.count)",
            "SLOT_NAMES": slots.map { cStringLiteral($0) + ", " }.joined(),
            "PARAM_TENSORS": "\(analysis.parameters.count)",
            "PARAM_DIMS": dims,
            "PARAM_ENTRIES": entries,
            "MODEL_JSON": json,
            // Only a model with frozen parameters has gradient offsets of its own.
            "GRAD_OFFSETS": !analysis.hasFrozenParameters ? "" : "\n\n/* Each tensor's offset in grads and in each optimizer slot "
                + "(\(model.name)_GRAD_COUNT values); -1: frozen, no gradient, no optimizer state. */\n"
                + "static const long long nn_grad_offsets[] = { "
                + analysis.parameters.map { "\($0.gradientOffset ?? -1), " }.joined() + "0 };",
            "GRAD_FIELDS": !analysis.hasFrozenParameters ? "" : "\n        .grad_count = \(model.name)_GRAD_COUNT,"
                + "\n        .grad_offsets = nn_grad_offsets,",
            // train_mpi's share of the update (compiled with the gradient hooks, as `nngen emit` does).
            "UPDATE_RANGE_FN": !compilation.code.gradientHooks ? "" : """


                static void nn_update_range_fn(void *params, const void *grads, void *opt_state, int64_t step, double lr,
                                               size_t lo, size_t hi) {
                    \(model.name)_update_range((\(real) *)params, (const \(real) *)grads, (\(real) *)opt_state, step,
                                            (\(real))lr, (int64_t)lo, (int64_t)hi);
                }
                """,
            "UPDATE_RANGE_FIELD": !compilation.code.gradientHooks ? "" : "\n        .update_range = nn_update_range_fn,",
        ])
    }

    /// The Makefile: `make` builds `./train` with `$(CC) $(CFLAGS) $(OPENMP) -std=c99 ... -lm` (`OPENMP`:
    /// `-fopenmp -DNN_THREADS=N` with `make THREADS=N`, else empty), each C file
    /// its own object, every runtime object with a rule of its own; `make mpi` builds `./train_mpi`
    /// from the same objects but `nn_rt_mpi.c`, compiled by `$(MPICC)` with `-DNN_MPI`.
    public static func makefile(_ compilation: Compilation) -> String {
        let name = compilation.analysis.model.name
        let headers = runtimeFiles(modelName: name).map(\.name).filter { $0.hasSuffix(".h") }
        let sources = runtimeFiles(modelName: name).map(\.name).filter { $0.hasSuffix(".c") }
        let objects = sources.map { String($0.dropLast(2)) + ".o" }
        let rules = zip(sources, objects).map { source, object in
            "\(object): \(source) \(headers.joined(separator: " "))\n\t$(CC) $(CFLAGS) $(OPENMP) -std=c99 -c -o $@ \(source)\n"
        }.joined(separator: "\n")
        // train_mpi: the MPI file compiled by mpicc with -DNN_MPI into an object of its own (a model's
        // object cannot take that name: a model name has no dot).
        let mpiSource = runtimeFileName("nn_rt_mpi.c", modelName: name)
        let mpiObject = String(mpiSource.dropLast(2)) + ".mpi.o"
        let mpiRule = "\(mpiObject): \(mpiSource) \(headers.joined(separator: " "))\n"
            + "\t$(MPICC) $(CFLAGS) $(OPENMP) -std=c99 -DNN_MPI -c -o $@ \(mpiSource)\n"
        let mpiObjects = objects.map { $0 == String(mpiSource.dropLast(2)) + ".o" ? mpiObject : $0 }
        // ... and the model compiled with -DNN_MPI: its backward's NN_GRADS_READY hooks call the runtime.
        let modelMPIRule = "\(name).mpi.o: \(name).c \(name).h\n\t$(CC) $(CFLAGS) -std=c99 -DNN_MPI -c -o $@ \(name).c\n"

        return Templates.render("Makefile.template", [
            "NAME": name,
            "TRAINER_FILE": trainerFileName(modelName: name),
            "TRAINER_OBJECT": trainerFileName(modelName: name).replacingOccurrences(of: ".c", with: ".o"),
            "RUNTIME": runtimeFileStem(modelName: name),
            "RUNTIME_OBJECTS": objects.joined(separator: " "),
            "RUNTIME_RULES": rules,
            "MPI_RUNTIME_OBJECTS": mpiObjects.joined(separator: " "),
            "MPI_OBJECT": mpiObject,
            "MPI_RULE": mpiRule + "\n" + modelMPIRule,
            "RUNTIME_COUNT": "\(sources.count)",
            "RT": runtimePrefix(modelName: name),
        ])
    }

    /// The README: how to build and run, the flags, the data format and the checkpoint format.
    public static func readme(_ compilation: Compilation) -> String {
        let analysis = compilation.analysis
        let model = analysis.model
        let scalar = compilation.code.scalar
        let dtype = scalar == .f32 ? "F32" : "F64"
        let features = model.input.shape.elementCount
        let outputs = analysis.outputCount
        let labels = model.loss.usesLabels

        let accExample: String
        let accDoc: String
        switch model.loss.targets {
        case .labels:
            accExample = "  val_acc 96.11%"
            accDoc = " (mean cross-entropy); `val_acc`: the percentage of validation samples whose first "
                + "largest logit is the label"
        case .binary:
            accExample = "  val_acc 96.11%"
            accDoc = " (mean logistic loss over all outputs); `val_acc`: the percentage of outputs where "
                + "`logit > 0` agrees with `target >= 0.5`"
        case .values:
            accExample = ""
            accDoc = " (mean \(model.loss == .mse ? "squared error" : "\(model.loss.typeName) loss") over all outputs; "
                + "a regression prints no accuracy)"
        }
        let csvColumns = labels
            ? "the \(features) input values, then the class label (an integer in 0...\(outputs - 1), "
                + "written `3` or `3.0`) in the last column"
            : "the \(features) input values, then \(outputs) target value\(outputs == 1 ? "" : "s") in the "
                + "last column\(outputs == 1 ? "" : "s")"
        var inputDoc = ""
        var sequenceShape = ""
        if case .sequence(let l, let c) = model.input {
            inputDoc = " A row holds the \(l) x \(c) input sequence position by position (the \(c) channels "
                + "of position 0 first)."
            sequenceShape = " or `[N, \(l), \(c)]`"
        }
        let yDoc = labels
            ? "`[N]` integer labels (I32 or I64) in 0...\(outputs - 1)"
            : "`[N, \(outputs)]` target values (any dtype)"
        let standardizeDoc = model.standardize
            ? "on (the model says `\"standardize\": true`): every input value `j` becomes "
                + "`(x_j - mean_j) / std_j`, with the mean and the population standard deviation of the "
                + "training part (a std of 0 counts as 1), computed in double and rounded to "
                + "\(scalar.cName) last."
            : "off (the model does not say `\"standardize\": true`): inputs are used as they are."
        var table = analysis.parameters.map {
            "| `\($0.name)` | \(dtype) | `[\($0.shape.map(String.init).joined(separator: ", "))]` |\n"
        }.joined()
        let slots = slotNames(model.optimizer)
        if !slots.isEmpty {
            table += "| " + slots.map { "`optimizer.\($0).NAME`" }.joined(separator: ", ")
                + " for each \(analysis.hasFrozenParameters ? "trainable " : "")parameter NAME "
                + "(\(model.optimizer.typeName) state) | \(dtype) | the parameter's |\n"
        }
        let standardizerRows = model.standardize
            ? "| `standardizer.mean`, `standardizer.std` | F64 | `[\(features)]` |\n" : ""
        let summary = "\(model.input.shape) -> \(analysis.outputShape) per sample, \(analysis.layers.count) layers, "
            + "\(analysis.parameterCount) parameters, loss \(model.loss.typeName), optimizer "
            + "\(model.optimizer.typeName), \(scalar.rawValue)"
        return Templates.render("README.standalone.md", [
            "NAME": model.name,
            "SUMMARY": summary,
            "BATCH": "\(model.batch)",
            "DTYPE_NAME": scalar.rawValue,
            "TRAINER_FILE": trainerFileName(modelName: model.name),
            "RUNTIME": runtimeFileStem(modelName: model.name),
            "RT": runtimePrefix(modelName: model.name),
            "LR": "\(model.optimizer.learningRate)",
            "ACC_EXAMPLE": accExample,
            "ACC_DOC": accDoc,
            "CSV_COLUMNS": csvColumns,
            "INPUT_DOC": inputDoc,
            "INPUT_SIZE": "\(features)",
            "SEQUENCE_SHAPE": sequenceShape,
            "Y_DOC": yDoc,
            "STANDARDIZE_DOC": standardizeDoc,
            "TENSOR_TABLE": table,
            "STANDARDIZER_ROWS": standardizerRows,
        ])
    }

    // MARK: C string literals

    /// `text` as one C99 string literal that reproduces its UTF-8 bytes exactly, whatever they are.
    ///
    /// `"` and `\` are escaped, `?` is written `\?` (so that no trigraph such as `??/` can form),
    /// newline, tab and carriage return as `\n`, `\t`, `\r`, every other byte outside printable
    /// ASCII (controls, DEL, UTF-8 sequences) as a three-digit octal escape (which cannot run into
    /// the next character), and a `{` that follows `{` as `\173`, so that the literal never holds
    /// the `{{` of a template placeholder.
    public static func cStringLiteral(_ text: String) -> String {
        var out = "\""
        var previous: UInt8 = 0
        for byte in text.utf8 {
            out += escape(byte, after: previous)
            previous = byte
        }
        return out + "\""
    }

    /// `text` as C string literals to be concatenated at run time, each holding one line (up to
    /// and including its newline) or at most `maxBytes` escaped bytes, so that none exceeds the
    /// 4095 characters C99 compilers must accept (`-pedantic` warns beyond that). Joining the
    /// pieces' values gives back `text` byte for byte; an empty text gives one empty literal.
    public static func cStringPieces(_ text: String, maxBytes: Int = 120) -> [String] {
        let limit = max(maxBytes, 8)
        var pieces: [String] = []
        var current = ""
        var previous: UInt8 = 0
        for byte in text.utf8 {
            let e = escape(byte, after: previous)
            if current.utf8.count + e.utf8.count > limit {
                pieces.append("\"" + current + "\"")
                current = ""
            }
            current += e
            previous = byte
            if byte == 0x0A {
                pieces.append("\"" + current + "\"")
                current = ""
            }
        }
        if !current.isEmpty || pieces.isEmpty { pieces.append("\"" + current + "\"") }
        return pieces
    }

    private static func escape(_ byte: UInt8, after previous: UInt8) -> String {
        switch byte {
        case UInt8(ascii: "\""): return "\\\""
        case UInt8(ascii: "\\"): return "\\\\"
        case UInt8(ascii: "?"): return "\\?"
        case 0x0A: return "\\n"
        case 0x09: return "\\t"
        case 0x0D: return "\\r"
        case UInt8(ascii: "{") where previous == UInt8(ascii: "{"): return "\\173"
        case 0x20...0x7E: return String(UnicodeScalar(byte))
        default:
            let octal = String(byte, radix: 8)
            return "\\" + String(repeating: "0", count: 3 - octal.count) + octal
        }
    }

    // MARK: helpers

    /// The names of the optimizer's state arrays, in the order of the flat `opt_state` buffer.
    static func slotNames(_ optimizer: Optimizer) -> [String] {
        switch optimizer {
        case .sgd(_, let momentum, _, _): return momentum != 0 ? ["momentum_buffer"] : []
        case .adam, .adamw: return ["exp_avg", "exp_avg_sq"]
        }
    }

    /// How the runtime scores validation for `loss` (`nn_model.scoring`).
    static func scoring(_ loss: Loss) -> String {
        switch loss.targets {
        case .values: return "NN_SCORE_REGRESSION"
        case .binary: return "NN_SCORE_BINARY"
        case .labels: return "NN_SCORE_CLASSES"
        }
    }

    /// A finite double as a C literal that reads back exactly (Swift's shortest form is valid C).
    static func cDouble(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "0.001"
    }
}

// MARK: - Targets of `nngen emit`

/// What `nngen emit` writes beside the model's core (`NAME.h`, `NAME.c`).
public enum EmitTarget: String, CaseIterable, Sendable {
    /// The standalone training program for a machine with files and a heap (``Standalone``).
    case standalone
    /// The on-device trainer for a microcontroller: static buffers, compiled-in data (``Device``).
    case embedded
}
