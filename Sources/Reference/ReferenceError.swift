import ModelSpec

/// Why the reference interpreter or optimizer refused its arguments.
///
/// Every case says what was expected and what was given, so the message alone tells the
/// caller what to fix.
public enum ReferenceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The batch size asked for is below 1.
    case invalidBatch(rows: Int)
    /// The parameter array does not hold the model's parameter count.
    case parameterCount(expected: Int, got: Int)
    /// The input array does not hold `rows * perSample` values.
    case inputCount(expected: Int, got: Int, rows: Int, perSample: Int)
    /// Labels were given for a loss that needs values, or the other way round.
    case targetKind(loss: Loss, got: String)
    /// The targets do not hold `rows` labels or `rows * outputs` values.
    case targetCount(expected: Int, got: Int, rows: Int, perSample: Int)
    /// A class label is outside `[0, classes)`.
    case labelOutOfRange(row: Int, label: Int, classes: Int)
    /// An optimizer buffer (parameters, gradients or a state slot) has the wrong size or the
    /// state has the wrong number of slots.
    case optimizerSize(what: String, expected: Int, got: Int)
    /// The step count given to a restored optimizer is negative.
    case invalidStep(Int)
    /// The `ModelAnalysis` does not describe a consistent network (it was changed after
    /// `Model.analyze()` produced it).
    case inconsistentAnalysis(place: String, reason: String)

    /// One sentence naming what was expected and what was given.
    public var description: String {
        switch self {
        case .invalidBatch(let rows):
            return "the batch must have at least 1 row (got \(rows))"
        case .parameterCount(let expected, let got):
            return "the parameter array holds \(got) values but the model has \(expected) parameters"
        case .inputCount(let expected, let got, let rows, let perSample):
            return "the input holds \(got) values but \(rows) rows of \(perSample) values each need \(expected)"
        case .targetKind(let loss, let got):
            let want = loss.usesLabels ? "integer class labels (Targets.labels)" : "float values (Targets.values)"
            return "the loss \(loss.typeName) needs \(want) but was given \(got)"
        case .targetCount(let expected, let got, let rows, let perSample):
            if perSample == 1 {
                return "the targets hold \(got) values but \(rows) rows need \(expected) (one each)"
            }
            return "the targets hold \(got) values but \(rows) rows of \(perSample) outputs each need \(expected)"
        case .labelOutOfRange(let row, let label, let classes):
            return "label \(label) of row \(row) is outside [0, \(classes)): the model has \(classes) classes"
        case .optimizerSize(let what, let expected, let got):
            return "the optimizer's \(what) has \(got) elements but \(expected) are needed"
        case .invalidStep(let step):
            return "the optimizer's step count must be >= 0 (got \(step))"
        case .inconsistentAnalysis(let place, let reason):
            return "\(place): the model analysis is inconsistent (\(reason)); use the ModelAnalysis that Model.analyze() returns, unchanged"
        }
    }
}
