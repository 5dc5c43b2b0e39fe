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

    /// Fits mean and std on every sample of `data` (pass the training part only), as
    /// docs/TRAINING.md step 3 defines them, without overflow: per input value j, with `s_j` the
    /// power of two `2^e`, `e` the binary exponent of the largest `|x_j|` (`frexp`'s minus 1; 1
    /// for a column of zeros), `mean_j = (sum of x_j / s_j) / n * s_j` and
    /// `std_j = sqrt((sum of (x_j / s_j - mean_j / s_j)^2) / n) * s_j`, sums in sample order.
    /// Dividing by a power of two is exact, so these are the bits of the plain formulas wherever
    /// those neither overflow nor underflow (their squares and sums stay within the normal
    /// range), and they stay finite for every finite data set (`std <= max |x|`).
    ///
    /// - Throws: `notStandardizable` naming the file (`data.source`), the column (1-based, and
    ///   its header name when `data.featureNames` has one) when a value is not finite.
    public init(fitting data: Dataset) throws(DataError) {
        guard data.count >= 1 else {
            throw DataError(file: data.source, .tooFewSamples(count: 0, needed: 1, purpose: "fitting a standardizer"))
        }
        let f = data.features
        let n = Double(data.count)
        var scale = [Double](repeating: 0, count: f)
        var row = [Double](repeating: 0, count: f)
        for s in 0..<data.count {
            data.copyInput(s, into: &row, at: 0)
            for j in 0..<f { scale[j] = Swift.max(scale[j], Swift.abs(row[j])) }
        }
        for j in 0..<f {
            guard scale[j].isFinite else {
                throw Self.error(data, j, "it holds a value that is not finite")
            }
            scale[j] = Self.powerOfTwoScale(scale[j])
        }
        var mean = [Double](repeating: 0, count: f)
        for s in 0..<data.count {
            data.copyInput(s, into: &row, at: 0)
            for j in 0..<f { mean[j] += row[j] / scale[j] }
        }
        for j in 0..<f { mean[j] /= n }  // scaled
        var variance = [Double](repeating: 0, count: f)
        for s in 0..<data.count {
            data.copyInput(s, into: &row, at: 0)
            for j in 0..<f {
                let d = row[j] / scale[j] - mean[j]
                variance[j] += d * d
            }
        }
        var std = [Double](repeating: 0, count: f)
        for j in 0..<f {
            std[j] = (variance[j] / n).squareRoot() * scale[j]
            if std[j] == 0 { std[j] = 1 }
            mean[j] *= scale[j]
            guard mean[j].isFinite, std[j].isFinite else {
                throw Self.error(data, j, "its mean \(mean[j]) or std \(std[j]) is not a finite number")
            }
        }
        try self.init(mean: mean, std: std)
    }

    /// `2^e` with `e` the binary exponent of `m` (`m / 2^e` in [1, 2)); 1 for 0. As C:
    /// `frexp(m, &e); ldexp(1.0, e - 1)`.
    static func powerOfTwoScale(_ m: Double) -> Double {
        m == 0 ? 1 : Double(sign: .plus, exponent: m.exponent, significand: 1)
    }

    /// The error for input value `j` of `data`: its file, its CSV column and header name.
    static func error(_ data: Dataset, _ j: Int, _ detail: String) -> DataError {
        let name = data.featureNames.flatMap { j < $0.count ? $0[j] : nil }
        return DataError(file: data.source, column: data.featureNames != nil || data.source?.hasSuffix(".csv") == true ? j + 1 : nil,
                         .notStandardizable(feature: j, name: name, detail: detail))
    }

    /// The number of features.
    public var features: Int { mean.count }

    /// `(x - mean) / std`, as docs/TRAINING.md step 3, in double; when `x - mean` overflows
    /// (a column of huge values of both signs), `((x / 2 - mean / 2) / std) * 2`, which is finite
    /// since `|x - mean| / std <= sqrt(n)`.
    @inline(__always)
    public static func standardized(_ x: Double, mean: Double, std: Double) -> Double {
        let d = x - mean
        if d.isFinite { return d / std }
        return ((x / 2 - mean / 2) / std) * 2
    }

    /// `data` with every feature standardised. The values are checked here and computed again
    /// whenever they are read (`Dataset.copyInput`): the inputs are not copied.
    public func apply(to data: Dataset) throws(DataError) -> Dataset {
        guard data.features == features else {
            throw DataError(file: data.source, .featureCountMismatch(expected: features, found: data.features))
        }
        var base = data
        if data.standardization != nil {  // standardising twice: the first result, as stored values
            base = try Dataset(x: data.x, inputShape: data.inputShape, targets: data.targets).withProvenance(of: data)
        }
        var row = [Double](repeating: 0, count: features)
        for s in 0..<base.count {
            base.copyInput(s, into: &row, at: 0)
            for j in 0..<features {
                let v = Self.standardized(row[j], mean: mean[j], std: std[j])
                guard v.isFinite else {
                    throw Self.error(data, j, "sample \(s) becomes \(v) with mean \(mean[j]) and std \(std[j])")
                }
            }
        }
        return base.standardized(by: self)
    }

    /// One sample's features standardised.
    public func apply(toSample sample: [Double]) throws(DataError) -> [Double] {
        guard sample.count == features else {
            throw DataError(file: nil, .featureCountMismatch(expected: features, found: sample.count))
        }
        return (0..<features).map { Self.standardized(sample[$0], mean: mean[$0], std: std[$0]) }
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
