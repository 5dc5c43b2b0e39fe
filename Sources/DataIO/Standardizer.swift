/// Per-feature standardisation `x' = (x - mean) / std`, fitted on training data.
///
/// `mean[f]` is the mean of feature `f` over the fitted samples and `std[f]` the population
/// standard deviation (`sqrt(sum((x - mean)^2) / n)`, two passes, in double); a `std` of exactly
/// 0 (a constant feature) is stored as 1, so such a feature becomes 0. For a sequence input each
/// of the `L*C` position-channel values is its own feature. `mean` and `std` are plain arrays so
/// that a checkpoint can store them (see `tensors(meanName:stdName:dtype:)`).
public struct Standardizer: Sendable, Equatable {
    /// The per-feature means.
    public let mean: [Double]
    /// The per-feature standard deviations, all finite and positive.
    public let std: [Double]

    /// A standardizer from saved values; `std` must be finite and positive, `mean` finite.
    public init(mean: [Double], std: [Double]) throws(DataError) {
        guard mean.count == std.count, !mean.isEmpty else {
            throw DataError(file: nil, .invalidArgument(
                "mean and std must have the same non-zero length, got \(mean.count) and \(std.count)"))
        }
        if let i = mean.firstIndex(where: { !$0.isFinite }) {
            throw DataError(file: nil, .invalidArgument("mean[\(i)] is \(mean[i]); it must be finite"))
        }
        if let i = std.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
            throw DataError(file: nil, .invalidArgument("std[\(i)] is \(std[i]); it must be finite and positive"))
        }
        self.mean = mean
        self.std = std
    }

    /// Fits mean and std on every sample of `data` (pass the training part only).
    public init(fitting data: Dataset) throws(DataError) {
        guard data.count >= 1 else {
            throw DataError(file: nil, .tooFewSamples(count: 0, needed: 1, purpose: "fitting a standardizer"))
        }
        let f = data.features
        let n = Double(data.count)
        var mean = [Double](repeating: 0, count: f)
        for s in 0..<data.count {
            for j in 0..<f { mean[j] += data.x[s * f + j] }
        }
        for j in 0..<f { mean[j] /= n }
        var variance = [Double](repeating: 0, count: f)
        for s in 0..<data.count {
            for j in 0..<f {
                let d = data.x[s * f + j] - mean[j]
                variance[j] += d * d
            }
        }
        let std = variance.map { v -> Double in
            let s = (v / n).squareRoot()
            return s == 0 ? 1 : s
        }
        try self.init(mean: mean, std: std)
    }

    /// The number of features.
    public var features: Int { mean.count }

    /// `data` with every feature standardised.
    public func apply(to data: Dataset) throws(DataError) -> Dataset {
        guard data.features == features else {
            throw DataError(file: nil, .featureCountMismatch(expected: features, found: data.features))
        }
        var x = data.x
        for s in 0..<data.count {
            for j in 0..<features { x[s * features + j] = (x[s * features + j] - mean[j]) / std[j] }
        }
        return try Dataset(x: x, inputShape: data.inputShape, targets: data.targets)
    }

    /// One sample's features standardised.
    public func apply(toSample sample: [Double]) throws(DataError) -> [Double] {
        guard sample.count == features else {
            throw DataError(file: nil, .featureCountMismatch(expected: features, found: sample.count))
        }
        return (0..<features).map { (sample[$0] - mean[$0]) / std[$0] }
    }

    /// `mean` and `std` as two 1-d tensors, for a checkpoint.
    public func tensors(meanName: String = "standardizer.mean", stdName: String = "standardizer.std",
                        dtype: DType = .f64) throws(DataError) -> [Tensor] {
        [try Tensor(name: meanName, shape: [features], doubles: mean, dtype: dtype),
         try Tensor(name: stdName, shape: [features], doubles: std, dtype: dtype)]
    }

    /// The standardizer saved by `tensors(meanName:stdName:dtype:)` in `file`; `source` names the
    /// file in errors.
    public init(file: SafetensorsFile, source: String, meanName: String = "standardizer.mean",
                stdName: String = "standardizer.std") throws(DataError) {
        guard let m = file[meanName] else {
            throw DataError(file: source, .missingTensor(name: meanName, available: file.names))
        }
        guard let s = file[stdName] else {
            throw DataError(file: source, .missingTensor(name: stdName, available: file.names))
        }
        guard m.shape.count == 1 else {
            throw DataError(file: source, .wrongTensor(name: meanName, expected: "1-d", found: "shape \(m.shape)"))
        }
        guard s.shape == m.shape else {
            throw DataError(file: source, .wrongTensor(name: stdName, expected: "of shape \(m.shape) like \(meanName)",
                                                       found: "shape \(s.shape)"))
        }
        do {
            try self.init(mean: m.asDoubles(), std: s.asDoubles())
        } catch {
            throw DataError(file: source, error.kind)
        }
    }
}
