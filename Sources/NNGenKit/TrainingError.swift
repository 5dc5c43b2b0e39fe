import Foundation

/// What can go wrong while loading data for a model, training, checkpointing, predicting or
/// evaluating. Every message names the file or the place and says what was expected.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data file's columns do not fit the model: `file`, what the model needs, what was found.
    case dataDoesNotFitModel(file: String, model: String, expected: String, found: String)
    /// The data file's extension is neither `.csv` nor `.safetensors`.
    case unknownDataFormat(file: String)
    /// The training part has fewer samples than one batch, so an epoch would take no step.
    case noFullBatch(trainingSamples: Int, batch: Int, validationSplit: Double)
    /// The default data file was not found in any of the searched folders.
    case defaultDataNotFound(relativePath: String, searched: [String])
    /// The loss became NaN or infinite (or a parameter did): `step` is 1-based within `epoch`.
    /// `checkpoint` is the last good checkpoint kept on disk (and its epoch), if there is one.
    /// `inputScale` is the largest |x| of the training inputs when they were not standardised;
    /// above `farFromUnitScale` the message also suggests --standardize.
    case diverged(epoch: Int, step: Int, steps: Int, loss: Double, learningRate: Double,
                  checkpoint: String?, checkpointEpoch: Int?, inputScale: Double? = nil)
    /// An option value that cannot be used (named, with the reason).
    case invalidOption(String)
    /// A resumed run asks for another seed, split or dtype than the checkpoint's.
    case resumeMismatch(file: String, what: String, checkpoint: String, requested: String)

    /// The largest |x| above which unstandardised inputs count as far from unit scale in the
    /// divergence message (the standalone program uses the same bound).
    public static let farFromUnitScale = 10.0

    public var description: String {
        switch self {
        case .dataDoesNotFitModel(let file, let model, let expected, let found):
            return "\(file): the data does not fit model \(model): expected \(expected), found \(found)"
        case .unknownDataFormat(let file):
            return "\(file): unknown data format; give a .csv file (header optional, the target in the "
                + "last column(s)) or a .safetensors file holding x and y"
        case .noFullBatch(let n, let batch, let split):
            return "the training part holds \(n) samples, fewer than one batch of \(batch): an epoch would "
                + "take no step (the last partial batch is dropped). Use more data, a smaller batch in the "
                + "model, or a smaller --val-split (now \(split))"
        case .defaultDataNotFound(let path, let searched):
            return "cannot find the default data file \(path); looked upward from "
                + searched.joined(separator: " and ")
                + ". Pass --data FILE, or run from the nngen package folder"
        case .diverged(let epoch, let step, let steps, let loss, let lr, let checkpoint, let ckEpoch, let scale):
            let value = loss.isNaN ? "NaN" : loss.isInfinite ? (loss > 0 ? "infinite" : "-infinite") : "\(loss)"
            var text = "training diverged at epoch \(epoch), step \(step) of \(steps): the loss is \(value)"
            if loss.isFinite { text += " but a parameter became NaN or infinite" }
            text += ". "
            if let checkpoint, let ckEpoch {
                text += "The last good checkpoint \(checkpoint) (epoch \(ckEpoch)) is kept unchanged. "
            } else {
                text += "No checkpoint was saved by this run. "
            }
            let lower = lr / 10
            text += "Try a learning rate 10x lower: --lr \(formatNumber(lower))"
            if let checkpoint, ckEpoch != nil { text += " (for example --resume \(checkpoint) --lr \(formatNumber(lower)))" }
            if let scale, scale > Self.farFromUnitScale {
                text += ". The inputs are far from unit scale (the largest |x| is \(formatNumber(scale))): "
                    + "standardise them with --standardize (or \"standardize\": true in the model)"
            }
            return text
        case .invalidOption(let text):
            return text
        case .resumeMismatch(let file, let what, let checkpoint, let requested):
            return "\(file): the checkpoint was trained with \(what) \(checkpoint), this run asks for \(requested); "
                + "a resumed run keeps the checkpoint's \(what) (leave the option out)"
        }
    }
}

extension TrainingError: LocalizedError {
    /// The same text as `description`.
    public var errorDescription: String? { description }
}

/// A learning rate as a user would type it, to 6 significant digits: `0.0002`, `1e-05`, `1e+29`.
func formatNumber(_ d: Double) -> String {
    String(format: "%.6g", d)
}
