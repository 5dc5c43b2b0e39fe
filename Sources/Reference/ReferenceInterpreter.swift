import ModelSpec

/// The targets of one batch.
public enum Targets: Hashable, Sendable {
    /// One integer class label per row, in `[0, classes)` (softmax cross-entropy).
    case labels([Int])
    /// `rows * outputs` floats, row-major (mse, bce_with_logits).
    case values([Double])
}

/// The result of a backward pass.
public struct Gradients: Hashable, Sendable {
    /// The loss of the batch (a mean, see docs/CONVENTIONS.md).
    public var loss: Double
    /// `dL/dparameters` in the flat parameter layout (`ParameterInfo.offset`); 0 for frozen parameters.
    public var parameters: [Double]
    /// `dL/dinput`, `rows * inputs` values, or nil when not asked for.
    public var input: [Double]?
    /// The model's output (logits) for the batch, `rows * outputs` values.
    public var output: [Double]
}

/// One layer's input and output during a forward pass, for comparing intermediate values.
public struct LayerTrace: Hashable, Sendable {
    /// The layer, as `ModelAnalysis.layers` lists it.
    public var layer: LayerInfo
    /// The layer's input for the whole batch (`rows * layer.input.elementCount`).
    public var input: [Double]
    /// The layer's output for the whole batch (`rows * layer.output.elementCount`); for a
    /// residual block, `x + f(x)`.
    public var output: [Double]
}

/// An independent, deliberately plain implementation of a model's forward pass, loss and
/// gradients in `Double`, written straight from docs/CONVENTIONS.md, to check generated code against.
///
/// Every tensor is a flat row-major `[Double]`: inputs `[rows, F]` or `[rows, L, C]`, outputs
/// `[rows, outputs]`, parameters one flat array laid out as `ModelAnalysis.parameters` says.
/// Nothing here is fast; everything is meant to be obviously right.
public struct ReferenceInterpreter: Sendable {
    /// The analysed model.
    public let analysis: ModelAnalysis
    /// The resolved network, or why the analysis could not be resolved.
    private let network: Result<[Step], ReferenceError>

    /// An interpreter for a model analysed by `Model.analyze()`.
    ///
    /// The analysis is checked here; if it was altered into something inconsistent every
    /// method throws `ReferenceError.inconsistentAnalysis`.
    public init(_ analysis: ModelAnalysis) {
        self.analysis = analysis
        do {
            network = .success(try NetworkBuilder(analysis: analysis).build())
        } catch {
            network = .failure(error)
        }
    }

    /// Analyses `model` and makes an interpreter for it.
    /// - Throws: `ModelSpecError` if the model is not valid.
    public init(_ model: Model) throws {
        self.init(try model.analyze())
    }

    /// The initial parameters of docs/CONVENTIONS.md "Initial values": one
    /// `Xoshiro256StarStar(seed:)` for the whole model; for each parameter in flat order and
    /// each of its elements in order, `.uniform(bound)` draws `rng.uniform(-bound, bound)` and
    /// `.constant(v)` gives `v` without a draw.
    public func initialParameters(seed: UInt64) -> [Double] {
        var rng = Xoshiro256StarStar(seed: seed)
        var values: [Double] = []
        values.reserveCapacity(analysis.parameterCount)
        for p in analysis.parameters {
            for _ in 0..<max(p.count, 0) {
                switch p.initializer {
                case .uniform(let bound): values.append(rng.uniform(-bound, bound))
                case .constant(let v): values.append(v)
                }
            }
        }
        return values
    }

    /// The model's output (logits) for a batch.
    ///
    /// - Parameters:
    ///   - parameters: the flat parameter array (`analysis.parameterCount` values).
    ///   - input: `rows * inputs` values, row-major (`[rows, F]` or `[rows, L, C]`).
    ///   - rows: the number of rows; the model's batch size when nil.
    /// - Returns: `rows * analysis.outputCount` values.
    public func forward(parameters: [Double], input: [Double], batch rows: Int? = nil) throws(ReferenceError) -> [Double] {
        let (steps, n) = try prepare(parameters: parameters, input: input, rows: rows)
        return runForward(steps, input, rows: n, parameters: parameters).last?.output ?? input
    }

    /// Every layer's input and output for a batch, in the order of `analysis.layers` (depth
    /// first, a residual block before the layers of its body). Arguments as `forward`.
    public func trace(parameters: [Double], input: [Double], batch rows: Int? = nil) throws(ReferenceError) -> [LayerTrace] {
        let (steps, n) = try prepare(parameters: parameters, input: input, rows: rows)
        return flattenRecords(runForward(steps, input, rows: n, parameters: parameters)).map {
            LayerTrace(layer: $0.step.info, input: $0.input, output: $0.output)
        }
    }

    /// The loss of a batch.
    ///
    /// - Parameters:
    ///   - targets: `.labels` (`rows` labels) for softmax cross-entropy, `.values`
    ///     (`rows * outputs`) for mse and bce_with_logits.
    ///   - Others: as `forward`.
    public func loss(parameters: [Double], input: [Double], targets: Targets,
                     batch rows: Int? = nil) throws(ReferenceError) -> Double {
        let (steps, n) = try prepare(parameters: parameters, input: input, rows: rows)
        try check(targets, rows: n)
        let output = runForward(steps, input, rows: n, parameters: parameters).last?.output ?? input
        return lossValue(analysis.model.loss, output, targets, classes: analysis.outputCount)
    }

    /// The loss of a batch and its gradients with respect to the parameters and the input.
    ///
    /// - Parameters:
    ///   - inputGradient: whether to return `dL/dinput` (`Gradients.input` is nil otherwise).
    ///   - Others: as `loss`.
    public func gradients(parameters: [Double], input: [Double], targets: Targets, inputGradient: Bool = true,
                          batch rows: Int? = nil) throws(ReferenceError) -> Gradients {
        let (steps, n) = try prepare(parameters: parameters, input: input, rows: rows)
        try check(targets, rows: n)
        let records = runForward(steps, input, rows: n, parameters: parameters)
        let output = records.last?.output ?? input
        let loss = analysis.model.loss
        let classes = analysis.outputCount
        var grads = [Double](repeating: 0, count: parameters.count)
        let dOutput = lossGradient(loss, output, targets, classes: classes)
        let dInput = runBackward(records, dOutput, rows: n, parameters: parameters, gradients: &grads)
        // Frozen parameters have no gradient (docs/CONVENTIONS.md "Trainable parameters").
        for (i, trains) in trainableMask.enumerated() where !trains { grads[i] = 0 }
        return Gradients(loss: lossValue(loss, output, targets, classes: classes), parameters: grads,
                         input: inputGradient ? dInput : nil, output: output)
    }

    /// One flag per element of the flat parameter array: whether training updates it. Worked
    /// out here from the model's `trainable` settings (the layer's own, else its enclosing
    /// block's, else true), not from the analysis's offsets.
    public var trainableMask: [Bool] {
        var mask: [Bool] = []
        mask.reserveCapacity(analysis.parameterCount)
        for p in analysis.parameters {
            let setting = analysis.model.trainability(ofLayerAt: p.layerPath)
            let trains: Bool
            switch setting {
            case .all: trains = true
            case .frozen: trains = false
            case .biasOnly: trains = p.role == .bias
            case .weightOnly: trains = p.role == .weight
            }
            mask += Array(repeating: trains, count: max(p.count, 0))
        }
        return mask
    }

    // MARK: - Argument checks

    /// The steps and the row count, once the parameters and input have the right sizes.
    private func prepare(parameters: [Double], input: [Double], rows: Int?) throws(ReferenceError) -> ([Step], Int) {
        let steps = try network.get()
        let n = rows ?? analysis.model.batch
        guard n >= 1 else { throw .invalidBatch(rows: n) }
        guard parameters.count == analysis.parameterCount else {
            throw .parameterCount(expected: analysis.parameterCount, got: parameters.count)
        }
        let perSample = analysis.model.input.shape.elementCount
        let (expected, overflow) = n.multipliedReportingOverflow(by: perSample)
        guard !overflow, input.count == expected else {
            throw .inputCount(expected: overflow ? Int.max : expected, got: input.count, rows: n, perSample: perSample)
        }
        return (steps, n)
    }

    /// The targets must be of the loss's kind, hold one label or `outputs` values per row,
    /// and every label must name a class.
    private func check(_ targets: Targets, rows: Int) throws(ReferenceError) {
        let loss = analysis.model.loss
        let outputs = analysis.outputCount
        switch targets {
        case .labels(let labels):
            guard loss.usesLabels else { throw .targetKind(loss: loss, got: "integer class labels (Targets.labels)") }
            guard labels.count == rows else {
                throw .targetCount(expected: rows, got: labels.count, rows: rows, perSample: 1)
            }
            for (row, label) in labels.enumerated() where !(0..<outputs).contains(label) {
                throw .labelOutOfRange(row: row, label: label, classes: outputs)
            }
        case .values(let values):
            guard !loss.usesLabels else { throw .targetKind(loss: loss, got: "float values (Targets.values)") }
            let (expected, overflow) = rows.multipliedReportingOverflow(by: outputs)
            guard !overflow, values.count == expected else {
                throw .targetCount(expected: overflow ? Int.max : expected, got: values.count, rows: rows, perSample: outputs)
            }
        }
    }
}
