import DataIO
import Foundation
import ModelSpec

/// What a parameters file says about the run that wrote it: the model it carries (checkpoints
/// and `nngen init` files both store the model JSON) and, for a checkpoint, its split. Lets
/// `eval` and `predict` work from a checkpoint alone and `eval --held-out` score exactly the
/// validation part training used.
public struct StoredRun: Sendable, Equatable {
    /// The model JSON the file carries, decoded; nil when it carries none.
    public var model: Model?
    /// The seed of the split (checkpoints) or of the initial parameters (`nngen init`).
    public var seed: UInt64?
    /// The validation fraction of the run (checkpoints only).
    public var validationSplit: Double?
    /// Whether the file is a training checkpoint (format nngen-checkpoint-1).
    public var isCheckpoint: Bool

    /// Reads the metadata of the safetensors file at `url`.
    /// - Throws: the `DataError` of an unreadable file, or `CheckpointError.badMetadata` when the
    ///   stored model JSON is not a valid model.
    public static func read(from url: URL) throws -> StoredRun {
        let file = try SafetensorsFile.read(from: url)
        let meta = file.metadata
        let model = meta["model"] == nil ? nil : try Checkpoint.storedModel(file, source: url.path)
        return StoredRun(model: model, seed: meta["seed"].flatMap { UInt64($0) },
                         validationSplit: meta["val_split"].flatMap { Double($0) },
                         isCheckpoint: meta["format"] == Checkpoint.format)
    }
}
