import ModelSpec

/// A data set to compile into the on-device trainer: row-major inputs already in the form the
/// model trains on (standardised when the model says so) and one label or `outputs` values per row.
public struct DeviceData: Sendable, Equatable {
    /// `rows * INPUT_SIZE` input values, row-major.
    public var x: [Double]
    /// One class label per row (softmax cross-entropy), or nil.
    public var labels: [Int]?
    /// `rows * TARGET_COUNT` target values (the other losses), or nil.
    public var values: [Double]?
    /// The number of rows.
    public var rows: Int
    /// Where the rows came from (a file name, for the comments of the generated files).
    public var source: String
    /// Whether `x` was standardised (for the comments of the generated files).
    public var standardized: Bool

    /// A data set of `rows` rows; exactly one of `labels` and `values` is given.
    public init(x: [Double], labels: [Int]?, values: [Double]?, rows: Int, source: String, standardized: Bool) {
        self.x = x
        self.labels = labels
        self.values = values
        self.rows = rows
        self.source = source
        self.standardized = standardized
    }
}

/// What the on-device trainer does besides the data: epochs, seed, learning rate, and the
/// parameters training starts from (a checkpoint's, for fine-tuning) or none (drawn from the seed).
public struct DeviceOptions: Sendable, Equatable {
    /// The epochs `main` trains.
    public var epochs: Int
    /// Seeds the initial parameters (when none are given) and the shuffles.
    public var seed: UInt64
    /// The learning rate of every step.
    public var learningRate: Double
    /// `PARAM_COUNT` initial parameter values, or nil to draw them from the seed.
    public var initialParameters: [Double]?
    /// Where the initial parameters came from (a file name, for the comments).
    public var parametersSource: String

    /// Options of the on-device trainer.
    public init(epochs: Int, seed: UInt64, learningRate: Double, initialParameters: [Double]? = nil,
                parametersSource: String = "") {
        self.epochs = epochs
        self.seed = seed
        self.learningRate = learningRate
        self.initialParameters = initialParameters
        self.parametersSource = parametersSource
    }
}

/// The Cortex-M cores the embedded target builds for, with the flags of their hard-float ABI.
public enum DeviceCore: String, CaseIterable, Sendable {
    /// Cortex-M4F: single-precision FPU (fpv4-sp-d16).
    case cortexM4 = "cortex-m4"
    /// Cortex-M7: FPU with double precision (fpv5-d16).
    case cortexM7 = "cortex-m7"

    /// The `arm-none-eabi-gcc` flags of the core (the device Makefile's M4 and M7).
    public var flags: [String] {
        switch self {
        case .cortexM4: return ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
        case .cortexM7: return ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"]
        }
    }

    /// The flags every Arm build takes besides the core's and the optimisation level (the device
    /// Makefile's ARM_FLAGS): C99 (so no contraction of multiply-adds), the kernels' plain loops,
    /// their local arrays in one static buffer rather than on the stack (`NN_STATIC_LOCALS`), a
    /// section per function for --gc-sections, and no aggressive loop optimisations (gcc 12 for
    /// 32-bit Arm warns falsely about the reduction helpers' tail loops otherwise).
    public static let commonFlags = ["-std=c99", "-DNN_PLAIN_C", "-DNN_STATIC_LOCALS", "-ffunction-sections",
                                     "-fdata-sections", "-fno-aggressive-loop-optimizations"]
}

/// The on-device trainer `nngen emit --target embedded` writes next to `NAME.h` and `NAME.c`:
/// `NAME_device.h`, `train_device.c` (every buffer static, no malloc and no stdio), the data set
/// as const arrays (`NAME_data.c`), the initial parameters (`NAME_params.c`, when given), a
/// start-up file and linker script for qemu's MPS2 Cortex-M boards (`device_startup.c`,
/// `device_mps2.ld`), the host's platform file (`device_host.c`) and a `Makefile`. Rendered from
/// the templates of the same names (`templates/device.h`, `templates/Makefile.device`).
public enum Device {
    /// The file names the embedded target writes besides the model's own: a model may not take
    /// one of them as its name (its `NAME.c` would be overwritten).
    public static let fixedFileNames = ["train_device", "device_startup", "device_host", "device_mps2"]

    /// Bytes the embedded data set takes in flash: the inputs in the scalar type, and int32 labels
    /// or target values in the scalar type.
    public static func dataBytes(rows: Int, analysis: ModelAnalysis, scalar: ScalarType) -> Int {
        let features = analysis.model.input.shape.elementCount
        let targets = analysis.model.loss.usesLabels ? 4 : analysis.outputCount * scalar.size
        return rows * (features * scalar.size + targets)
    }

    /// The C type of the order array: 16-bit indices up to 65,535 rows, 32-bit beyond.
    public static func indexType(rows: Int) -> (name: String, size: Int) {
        rows <= 65_535 ? ("uint16_t", 2) : ("uint32_t", 4)
    }

    /// Every file of the embedded target, in the order they are best read. A core compiled with
    /// `CompileOptions.frozenApart` (frozen parameters in flash) needs `options.initialParameters`:
    /// the frozen ones come from there (`NAME_frozen_params`), without them the program does not link.
    public static func files(for compilation: Compilation, data: DeviceData, options: DeviceOptions) -> [GeneratedFile] {
        let model = compilation.analysis.model
        let name = model.name
        let scalar = compilation.code.scalar
        let real = scalar.cName
        let targetType = model.loss.usesLabels ? "int32_t" : real
        let hasParams = options.initialParameters != nil
        let apart = compilation.code.frozenApart
        // The RAM parameter array: all of them, or only the trainable ones when the frozen are in flash.
        let paramsCount = apart ? "\(name)_GRAD_COUNT" : "\(name)_PARAM_COUNT"
        var sources = ["\(name).c", "train_device.c", "\(name)_data.c"]
        if hasParams { sources.append("\(name)_params.c") }
        let common = [
            "NAME": name,
            "REAL": real,
            "TARGET_T": targetType,
            "OPTIMIZER": model.optimizer.typeName,
            "PARAMS_COUNT": paramsCount,
            "PARAMS_WHAT": apart ? "the trainable parameters (the frozen ones are in flash)" : "the parameters",
        ]
        let header = Templates.render("device.h", common.merging([
            "GUARD": "NNGEN_" + name + "_DEVICE_H",
            "EPOCHS": "\(options.epochs)",
            "SEED": "\(options.seed)",
            "LR": Standalone.cDouble(options.learningRate),
            "ROWS": "\(data.rows)",
            "HAS_PARAMS": hasParams ? "1" : "0",
            "DATA_SOURCE": commentText(data.source),
            "PARAMS_SOURCE": commentText(options.parametersSource),
            "STANDARDIZED": data.standardized ? " (standardised)" : "",
            "TARGET_DOC": model.loss.usesLabels ? "class label (int32)" : "target value(s)",
        ]) { $1 })
        let trainer = Templates.render("train_device.c", common.merging([
            "PRELUDE": Templates.text("prelude.h"),
            "RNG_BELOW": Templates.text("rng_below.h"),
            "INDEX_T": indexType(rows: data.rows).name,
        ]) { $1 })
        var files = [
            GeneratedFile(name: "\(name).h", contents: compilation.code.header),
            GeneratedFile(name: "\(name).c", contents: compilation.code.source),
            GeneratedFile(name: "\(name)_device.h", contents: header),
            GeneratedFile(name: "train_device.c", contents: trainer),
            GeneratedFile(name: "\(name)_data.c", contents: dataSource(name: name, data: data, scalar: scalar,
                                                                        targetType: targetType)),
        ]
        if let params = options.initialParameters {
            files.append(GeneratedFile(name: "\(name)_params.c", contents: paramsSource(
                name: name, params: params, scalar: scalar, source: options.parametersSource,
                frozenApart: apart ? compilation.analysis : nil)))
        }
        files += [
            GeneratedFile(name: "device_startup.c", contents: Templates.text("device_startup.c")),
            GeneratedFile(name: "device_mps2.ld", contents: Templates.text("device_mps2.ld")),
            GeneratedFile(name: "device_host.c", contents: Templates.text("device_host.c")),
            GeneratedFile(name: "Makefile", contents: Templates.render("Makefile.device", [
                "NAME": name, "SOURCES": sources.joined(separator: " "),
                "ARM_FLAGS": DeviceCore.commonFlags.joined(separator: " "),
                "M4_FLAGS": DeviceCore.cortexM4.flags.joined(separator: " "),
                "M7_FLAGS": DeviceCore.cortexM7.flags.joined(separator: " "),
            ])),
        ]
        return files
    }

    /// `NAME_data.c`: the inputs and targets as const arrays, eight values a line.
    static func dataSource(name: String, data: DeviceData, scalar: ScalarType, targetType: String) -> String {
        var s = """
        /* \(name)_data.c -- the data set of model "\(name)" compiled in by nngen (`nngen emit --target embedded
         * --embed-data`): \(data.rows) rows from \(commentText(data.source))\(data.standardized ? ", inputs standardised" : "").
         * Do not edit: regenerate instead. Const, so it stays in flash.
         */
        #include "\(name)_device.h"

        const \(scalar.cName) \(name)_data_x[\(name)_DATA_ROWS * \(name)_INPUT_SIZE] = {

        """
        s += valueLines(data.x.map { literal($0, scalar) })
        s += "};\n\nconst \(targetType) \(name)_data_y[\(name)_DATA_ROWS * \(name)_DEVICE_ROW_TARGETS] = {\n"
        if let labels = data.labels {
            s += valueLines(labels.map(String.init))
        } else {
            s += valueLines((data.values ?? []).map { literal($0, scalar) })
        }
        return s + "};\n"
    }

    /// `NAME_params.c`: the initial parameters as one const array. With `frozenApart` (the model's
    /// analysis, for a core compiled with `CompileOptions.frozenApart`), two: the trainable
    /// parameters (`NAME_initial_params`, copied to RAM) and the frozen ones (`NAME_frozen_params`,
    /// which the core reads where they are), each in the order of the flat layout.
    static func paramsSource(name: String, params: [Double], scalar: ScalarType, source: String,
                             frozenApart analysis: ModelAnalysis? = nil) -> String {
        let head = """
        /* \(name)_params.c -- the parameters model "\(name)" starts training from on the device, from
         * \(commentText(source)) (`nngen emit --target embedded --embed-params`). Do not edit: regenerate
         * instead. Const, so it stays in flash; offsets and shapes as in \(name).h.
         */
        #include "\(name)_device.h"


        """
        guard let analysis else {
            return head + "const \(scalar.cName) \(name)_initial_params[\(name)_PARAM_COUNT] = {\n"
                + valueLines(params.map { literal($0, scalar) }) + "};\n"
        }
        func values(trainable: Bool) -> [String] {
            analysis.parameters.filter { $0.trainable == trainable }
                .flatMap { params[$0.offset..<min($0.offset + $0.count, params.count)] }.map { literal($0, scalar) }
        }
        return head + "/* The trainable parameters: copied to RAM, where training changes them. */\n"
            + "const \(scalar.cName) \(name)_initial_params[\(name)_GRAD_COUNT] = {\n" + valueLines(values(trainable: true))
            + "};\n\n/* The frozen parameters: the core reads them here, in flash. */\n"
            + "const \(scalar.cName) \(name)_frozen_params[\(name)_FROZEN_COUNT] = {\n" + valueLines(values(trainable: false))
            + "};\n"
    }

    /// Values eight to a line, each followed by a comma.
    static func valueLines(_ values: [String]) -> String {
        var s = ""
        var i = 0
        while i < values.count {
            s += "    " + values[i..<min(i + 8, values.count)].map { $0 + "," }.joined(separator: " ") + "\n"
            i += 8
        }
        return s
    }

    /// A finite value as a C literal that reads back exactly in the scalar type (`0.5f`, `-1.25`).
    static func literal(_ v: Double, _ scalar: ScalarType) -> String {
        switch scalar {
        case .f32:
            var s = "\(Float(v))"
            if !s.contains(".") && !s.contains("e") { s += ".0" }
            return s + "f"
        case .f64:
            return CSyntax(scalar: .f64).lit(v)
        }
    }

    /// A file name for a C comment: printable ASCII only, no `*/` or `/*`, and no `{` (which could
    /// form a template placeholder).
    static func commentText(_ text: String) -> String {
        let printable = String(String.UnicodeScalarView(text.unicodeScalars.map {
            (0x20...0x7E).contains($0.value) ? $0 : "?"
        }))
        return printable.replacingOccurrences(of: "*/", with: "*_/").replacingOccurrences(of: "/*", with: "/_*")
            .replacingOccurrences(of: "{", with: "(")
    }
}
