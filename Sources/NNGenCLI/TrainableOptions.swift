import ArgumentParser
import ModelSpec

/// `--freeze PATTERN` and `--train-only PATTERN` (repeatable), shared by `nngen train` and
/// `nngen describe`: per-run overrides of the model's `"trainable"` fields over parameter
/// names, where `*` matches any run of characters (docs/TRAINING.md "Fine-tuning").
struct TrainableOptions: ParsableArguments {
    @Option(name: .customLong("freeze"), help: ArgumentHelp(
        "Freeze the parameters whose names match (`layers.0.*`, `*.weight`); repeatable.", valueName: "pattern"))
    var freeze: [String] = []

    @Option(name: .customLong("train-only"), help: ArgumentHelp(
        "Train only the parameters whose names match (`layers.4.*`); every other one is frozen; repeatable.",
        valueName: "pattern"))
    var trainOnly: [String] = []

    /// The model with the overrides applied (unchanged without them).
    func apply(to model: Model, file: String) throws -> Model {
        guard !freeze.isEmpty || !trainOnly.isEmpty else { return model }
        do {
            return try model.overridingTrainable(freeze: freeze, trainOnly: trainOnly)
        } catch var e as ModelSpecError {
            if e.file == nil { e.file = file }
            throw e
        }
    }
}
