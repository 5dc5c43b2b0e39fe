import ModelSpec

/// The seeded sample order, defined exactly so that generated C can reproduce it.
public enum SampleOrder {
    /// The order of `count` samples for `seed`:
    ///
    /// ```
    /// order = [0, 1, ..., count-1]
    /// rng = Xoshiro256StarStar(seed: seed)      // splitmix64 seeding, see Random.swift
    /// for i = count-1 down to 1:                 // Fisher-Yates, last index first
    ///     j = rng.nextBelow(i + 1)               // unbiased, by rejection
    ///     swap(order[i], order[j])
    /// ```
    ///
    /// that is `rng.shuffle(&order)` on a fresh generator. No draw is made for `count <= 1`.
    public static func shuffled(count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<max(count, 0))
        var rng = Xoshiro256StarStar(seed: seed)
        rng.shuffle(&order)
        return order
    }

    /// The number of validation samples for `count` samples and `fraction`:
    /// `round(count * fraction)` (halves away from zero, as C's `round`), then, when
    /// `fraction > 0`, at least 1 and at most `count - 1`, so that both parts have a sample.
    /// `fraction` must be in `[0, 1)`; a positive fraction needs at least 2 samples.
    public static func validationCount(count: Int, fraction: Double) throws(DataError) -> Int {
        guard fraction.isFinite, fraction >= 0, fraction < 1 else {
            throw DataError(file: nil, .invalidArgument(
                "the validation fraction must be at least 0 and below 1, got \(fraction)"))
        }
        guard fraction > 0 else { return 0 }
        guard count >= 2 else {
            throw DataError(file: nil, .tooFewSamples(count: count, needed: 2, purpose: "a validation split"))
        }
        let rounded = Int((Double(count) * fraction).rounded(.toNearestOrAwayFromZero))
        return min(max(rounded, 1), count - 1)
    }
}

/// A data set cut into a training part and a validation part.
public struct DatasetSplit: Sendable, Equatable {
    /// The training samples, in shuffled order.
    public let train: Dataset
    /// The validation samples, in shuffled order (empty when the fraction is 0).
    public let validation: Dataset
    /// For each training sample, its index in the original data set.
    public let trainIndices: [Int]
    /// For each validation sample, its index in the original data set.
    public let validationIndices: [Int]
}

extension Dataset {
    /// The samples in the order `SampleOrder.shuffled(count:seed:)`.
    public func shuffled(seed: UInt64) throws(DataError) -> Dataset {
        try subset(SampleOrder.shuffled(count: count, seed: seed))
    }

    /// Splits into training and validation parts.
    ///
    /// The order is `SampleOrder.shuffled(count:seed:)`, or the file order when `seed` is nil.
    /// With `v = SampleOrder.validationCount(count:fraction:)`, the **last** `v` samples of that
    /// order are the validation part and the first `count - v` the training part, each keeping
    /// the shuffled order.
    public func split(validationFraction fraction: Double, seed: UInt64?) throws(DataError) -> DatasetSplit {
        let v = try SampleOrder.validationCount(count: count, fraction: fraction)
        let order = seed.map { SampleOrder.shuffled(count: count, seed: $0) } ?? Array(0..<count)
        let trainIndices = Array(order[..<(count - v)])
        let validationIndices = Array(order[(count - v)...])
        return DatasetSplit(train: try subset(trainIndices), validation: try subset(validationIndices),
                            trainIndices: trainIndices, validationIndices: validationIndices)
    }
}
