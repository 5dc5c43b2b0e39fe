import ArgumentParser
import CodeGen
import Foundation
import ModelSpec
import NNGenKit

/// `nngen describe MODEL`: the layer table and totals.
struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a table of the model's layers with shapes, parameters and FLOPs, and its memory totals.",
        discussion: """
        The model is validated first; every problem found is printed and the exit code is 1.
        FLOPs follow docs/BENCHMARKS.md: 2*M*N*K for each matrix product of the forward pass (a conv1d \
        counts 2*B*L_out*C_out*C_in*kernel), elementwise work not counted; a training step is 3x forward.
        A model with frozen parameters ("trainable" in the model file, or --freeze / --train-only) also \
        gets a table of what training it costs next to full training.
        """)

    @Argument(help: "The model file (JSON).")
    var model: String

    @OptionGroup var trainable: TrainableOptions

    // MARK: the footprint on a microcontroller (issue 16, docs/EMBEDDED.md)

    @Option(help: "Also print the RAM and flash of training on this core with train_device.c (float32): \(DeviceCore.allCases.map(\.rawValue).joined(separator: ", ")).")
    var target: DeviceCore?

    @Option(help: "With --target: fail unless the RAM fits this many bytes (e.g. 256KiB).")
    var ramBudget: ByteCount?

    func validate() throws {
        if ramBudget != nil && target == nil { throw ValidationError("--ram-budget needs --target (e.g. --target cortex-m4)") }
    }

    func run() throws {
        let m = try trainable.apply(to: Model.load(from: URL(fileURLWithPath: model)), file: model)
        let a = try m.analyze(file: model)
        print(ModelSummary(a).text, terminator: "")
        if let core = target {
            try m.validate(for: .f32, file: model)
            // As emit --target embedded compiles it: frozen parameters in flash.
            let footprint = Footprint.of(compile(a, options: CompileOptions(scalar: .f32, frozenApart: true)), core: core)
            print("\n" + footprint.text, terminator: "")
            if let budget = ramBudget { try footprint.check(ramBudget: budget.bytes, analysis: a) }
        }
    }
}

// MARK: - Arena (planned)

/// The activation arena as CodeGen's memory planner lays it out for the training step
/// (forward, backward with the input gradient, update): activations, saved statistics and
/// activation gradients, with buffers reused once their last reader has run, and the naive sum
/// of the same buffers without reuse.
func plannedArena(_ analysis: ModelAnalysis) -> (arena: Int, naive: Int) {
    let plan = memoryPlan(for: analysis)  // the plan alone: writing the C would take longer
    return (plan.arenaElements, plan.naiveElements)
}

// MARK: - The summary text

/// The text `nngen describe` prints: a header, one row per layer, then totals and memory.
struct ModelSummary {
    let analysis: ModelAnalysis

    init(_ analysis: ModelAnalysis) { self.analysis = analysis }

    var text: String {
        header + "\n" + layerTable + "\n" + totals + "\n" + memoryTable
            + (analysis.hasFrozenParameters ? "\n" + trainingTable : "")
    }

    /// Frozen parameters: what a training step costs as given and with every parameter trained.
    var trainingTable: String {
        var fullModel = model
        fullModel.trainable = [:]
        guard let full = try? fullModel.analyze() else { return "" }
        let s = 4  // float32 bytes
        func costs(_ a: ModelAnalysis) -> [Int] {
            let arena = plannedArena(a).arena
            let beyond = a.gradientCount + a.optimizerStateElements + arena
            return [a.gradientCount, a.gradientCount * s, a.optimizerStateElements * s, arena * s, beyond * s,
                    (a.parameterCount + beyond) * s, a.trainableStepFLOPs]
        }
        let given = costs(analysis), all = costs(full)
        let names = ["trainable parameters", "gradients", "optimizer state", "arena (planned)",
                     "memory beyond parameters", "total with parameters", "FLOPs per training step"]
        var rows: [[String]] = [["Training (float32)", "as given", "full training", "as given / full"]]
        for i in names.indices {
            let text: (Int) -> String = i == 0 || i == names.count - 1 ? { Self.grouped($0) } : { Self.bytes($0) }
            let ratio = all[i] > 0 ? String(format: "%.3f", Double(given[i]) / Double(all[i])) : "-"
            rows.append([names[i], text(given[i]), text(all[i]), ratio])
        }
        let frozen = analysis.parameters.filter { !$0.trainable }.count
        return Self.table(rows, rightAligned: [1, 2, 3])
            + "(\(frozen) of \(analysis.parameters.count) parameter tensors frozen: no gradient, no optimizer state, "
            + "no backward work before the first trainable one)\n"
    }

    private var model: Model { analysis.model }

    // MARK: Header

    var header: String {
        var input: String
        switch model.input {
        case .features(let f): input = "[\(f)] (\(f) \(f == 1 ? "feature" : "features"))"
        case .sequence(let l, let c): input = "[\(l), \(c)] (\(l) positions x \(c) channels)"
        }
        input += ", batch \(model.batch)"
        if model.standardize { input += ", standardized" }
        let n = analysis.outputCount
        let loss: String
        switch model.loss {
        case .softmaxCrossEntropy: loss = "softmax_cross_entropy (\(n) classes, integer labels)"
        case .huber(let delta): loss = "huber, delta \(delta) (\(n) \(n == 1 ? "output" : "outputs"))"
        case .bceWithLogits, .mse: loss = "\(model.loss.typeName) (\(n) \(n == 1 ? "output" : "outputs"))"
        }
        let rows = [("input", input), ("loss", loss), ("optimizer", Self.optimizerText(model.optimizer))]
        return "Model \(model.name)\n" + rows.map { "  " + $0.0.padding(toLength: 11, withPad: " ", startingAt: 0) + $0.1 }
            .joined(separator: "\n") + "\n"
    }

    static func optimizerText(_ o: Optimizer) -> String {
        switch o {
        case .sgd(let lr, let m, let nesterov, let wd):
            return "sgd(lr=\(number(lr)), momentum=\(number(m)), nesterov=\(nesterov), weight_decay=\(number(wd)))"
        case .adam(let lr, let b1, let b2, let eps, let wd), .adamw(let lr, let b1, let b2, let eps, let wd):
            return "\(o.typeName)(lr=\(number(lr)), beta1=\(number(b1)), beta2=\(number(b2)), eps=\(number(eps)), "
                + "weight_decay=\(number(wd)))"
        }
    }

    // MARK: Layers

    /// A layer's type with its key options, e.g. `dense(128)` or `conv1d(32, k=5, s=1, p=2, d=1)`.
    static func layerText(_ layer: Layer) -> String {
        let noBias = ", bias=false"
        switch layer {
        case .dense(let units, let bias):
            return "dense(\(units)\(bias ? "" : noBias))"
        case .conv1d(let filters, let kernel, let stride, let padding, let dilation, let bias):
            let p: String
            switch padding {
            case .explicit(let v): p = "\(v)"
            case .same: p = "same"
            case .valid: p = "valid"
            }
            return "conv1d(\(filters), k=\(kernel), s=\(stride), p=\(p), d=\(dilation)\(bias ? "" : noBias))"
        case .layerNorm(let eps, let affine):
            return "layernorm(eps=\(number(eps))\(affine ? "" : ", affine=false"))"
        case .activation(.leakyReLU(let slope)):
            return "leaky_relu(\(number(slope)))"
        case .maxPool1d(let kernel, let stride), .avgPool1d(let kernel, let stride):
            return "\(layer.typeName)(k=\(kernel), s=\(stride))"
        case .residual(let body):
            return "residual(\(body.count) \(body.count == 1 ? "layer" : "layers"))"
        case .activation, .globalAvgPool1d, .flatten:
            return layer.typeName
        }
    }

    /// The shape of a whole batch, e.g. `[32, 128]`.
    func batchShape(_ s: Shape) -> String {
        "[" + ([model.batch] + s.dimensions).map(String.init).joined(separator: ", ") + "]"
    }

    var layerTable: String {
        var rows: [[String]] = [["Layer", "Type", "Output shape", "Parameters", "Forward FLOPs"]]
        rows.append(["input", "", batchShape(model.input.shape), "", ""])
        var hasResidual = false
        for (index, info) in analysis.layers.enumerated() {
            let indent = String(repeating: "  ", count: info.depth)
            var params = info.parameterCount
            var flops = Self.grouped(info.forwardFLOPs)
            var paramText = Self.grouped(params)
            if case .residual = info.layer {
                // The block's own row totals its body (the rows below it, one level deeper).
                hasResidual = true
                params = analysis.layers[(index + 1)...].prefix { $0.depth > info.depth }
                    .reduce(0) { $0 + $1.parameterCount }
                paramText = "(\(Self.grouped(params)))"
                flops = "(\(flops))"
            }
            rows.append([indent + info.path, Self.layerText(info.layer), batchShape(info.output), paramText, flops])
        }
        var text = Self.table(rows, rightAligned: [3, 4])
        if hasResidual {
            text += "(figures in parentheses: the residual block's body, listed indented below it)\n"
        }
        return text
    }

    // MARK: Totals

    var totals: String {
        let p = analysis.parameterCount
        let f = analysis.forwardFLOPs
        let t = analysis.trainingStepFLOPs
        let rows = [
            ["Parameters", Self.grouped(p), ""],
            ["Forward FLOPs", Self.grouped(f), "(\(Self.si(f)) per batch of \(model.batch))"],
            ["FLOPs per training step", Self.grouped(t), "(\(Self.si(t)), 3 x forward)"],
        ] + (!analysis.hasFrozenParameters ? [] : [
            ["FLOPs per training step, frozen parameters pruned", Self.grouped(analysis.trainableStepFLOPs),
             "(\(Self.si(analysis.trainableStepFLOPs)))"],
        ]) + [
        ]
        return Self.table(rows, rightAligned: [1], header: false)
    }

    var memoryTable: String {
        let p = analysis.parameterCount
        let slots = model.optimizer.stateSlotsPerParameter
        let state = analysis.optimizerStateElements
        let activations = analysis.naiveActivationElements + analysis.inputElements
        let planned = plannedArena(analysis)
        let g = analysis.gradientCount
        let total = p + g + state + planned.arena
        func row(_ name: String, _ elements: Int, _ note: String = "") -> [String] {
            [name, Self.grouped(elements), Self.bytes(elements * 4), Self.bytes(elements * 8), note]
        }
        let saving = planned.naive > 0 ? 100 * Double(planned.naive - planned.arena) / Double(planned.naive) : 0
        let rows: [[String]] = [
            ["Memory", "Elements", "float32", "float64", ""],
            row("parameters", p),
            row("gradients", g, g == p ? "" : "trainable parameters only"),
            row("optimizer state", state, "\(model.optimizer.typeName): \(slots) per parameter"),
            row("activations", activations, "input + every layer output"),
            row("arena, naive", planned.naive, "every forward and backward buffer, no reuse"),
            row("arena (planned)", planned.arena, String(format: "buffers reused by liveness: %.0f%% smaller", saving)),
            row("total", total, "parameters + gradients + optimizer state + arena"),
        ]
        return Self.table(rows, rightAligned: [1, 2, 3], ruleBefore: [rows.count - 1], endRule: false,
                          ruleColumns: 4)
    }

    // MARK: Formatting

    /// Lays out rows as aligned columns two spaces apart, with a rule under the header row,
    /// before the rows listed in `ruleBefore` and at the end (`endRule`); rules span the first
    /// `ruleColumns` columns (all by default).
    static func table(_ rows: [[String]], rightAligned: Set<Int>, header: Bool = true,
                      ruleBefore: Set<Int> = [], endRule: Bool = true, ruleColumns: Int? = nil) -> String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ r: [String]) -> String {
            var parts: [String] = []
            for (i, cell) in r.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                parts.append(rightAligned.contains(i) ? pad + cell : cell + pad)
            }
            var s = parts.joined(separator: "  ")
            while s.last == " " { s.removeLast() }  // trailing spaces
            return s
        }
        let spanned = min(ruleColumns ?? columns, columns)
        let width = widths.prefix(spanned).reduce(0, +) + 2 * max(0, spanned - 1)
        let rule = String(repeating: "-", count: width)
        var out: [String] = []
        for (i, r) in rows.enumerated() {
            if ruleBefore.contains(i) { out.append(rule) }
            out.append(line(r))
            if header && i == 0 { out.append(rule) }
        }
        if header && endRule { out.append(rule) }
        return out.joined(separator: "\n") + "\n"
    }

    /// `1234567` as `1,234,567`.
    static func grouped(_ n: Int) -> String { ByteSize.grouped(n) }

    /// FLOPs with an SI prefix, as docs/BENCHMARKS.md quotes them: `3.27 M`, `82.6 M`, `513.5 M`.
    static func si(_ n: Int) -> String {
        let units: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        let v = Double(n)
        for (scale, name) in units where v >= scale {
            let x = v / scale
            return String(format: x < 10 ? "%.2f %@" : "%.1f %@", x, name)
        }
        return "\(n)"
    }

    /// Bytes with a binary prefix: `512 B`, `67.3 KiB`, `1.50 GiB`.
    static func bytes(_ n: Int) -> String { ByteSize.short(n) }

    /// A number as the model file would write it: integers without a fraction, others shortest.
    static func number(_ d: Double) -> String {
        if d.isFinite && d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
