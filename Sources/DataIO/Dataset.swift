import Foundation
/// What the last columns of a data file hold.
public enum TargetKind: Sendable, Equatable {
    /// One integer class label in `0..<k` per sample (softmax cross-entropy); `k >= 1`.
    case classes(Int)
    /// `outs` real-valued targets per sample (MSE, logistic loss).
    case values(Int)

    /// The number of CSV columns the target takes: 1 for a label, `outs` for values.
    public var columns: Int {
        switch self {
        case .classes: return 1
        case .values(let outs): return outs
        }
    }

    /// Throws unless the class or output count is at least 1.
    func validate() throws(DataError) {
        switch self {
        case .classes(let k) where k < 1:
            throw DataError(file: nil, .invalidArgument("the number of classes must be at least 1, got \(k)"))
        case .values(let outs) where outs < 1:
            throw DataError(file: nil, .invalidArgument("the number of target values must be at least 1, got \(outs)"))
        default: break
        }
    }
}

/// The targets of a data set.
public enum DatasetTargets: Sendable, Equatable {
    /// One label in `0..<classes` per sample.
    case labels([Int], classes: Int)
    /// `outputs` values per sample, row-major (`count * outputs`).
    case values([Double], outputs: Int)
}

/// Samples: inputs (`count * features` values, one sample after another) and their targets.
///
/// `inputShape` is the shape of one sample: `[features]` for a vector, `[L, C]` for a sequence,
/// whose `L*C` values are stored position by position (docs/CONVENTIONS.md, Tensors and layouts).
///
/// The inputs live once, in a `SampleStore` (owned, or a memory-mapped data file), in the element
/// type they were read in. A subset, a split or a shuffle keeps the store and lists the rows it
/// takes; standardisation keeps the store and the statistics, and applies them when values are
/// read (`copyInput`, `x`), in double, so the values are those of standardising a copy.
public struct Dataset: Sendable, Equatable {
    /// Where the input values are, in the store's row order.
    public let store: SampleStore
    /// For each sample, its row in `store`; nil when sample `i` is row `i`.
    let rows: [Int]?
    /// Applied to every input value read, when the data set has been standardised.
    public private(set) var standardization: Standardizer?
    /// The targets.
    public let targets: DatasetTargets
    /// The number of samples.
    public let count: Int
    /// The shape of one sample's input.
    public let inputShape: [Int]
    /// The file the samples came from, for messages (not compared by `==`).
    public var source: String?
    /// The names of the input values (a CSV header's first fields), for messages (not compared
    /// by `==`).
    public var featureNames: [String]?

    /// The array behind `x`, made on first use.
    private var materialized = MaterializedInputs()

    /// The inputs, `count * features` values, one sample after another, as doubles (standardised
    /// when the data set is). Made on first use and kept (8 bytes a value): training and
    /// evaluation read samples with `copyInput` instead and never make it.
    public var x: [Double] {
        materialized.value {
            let f = features
            return [Double](unsafeUninitializedCapacity: count * f) { buffer, initialized in
                for i in 0..<count { copyInput(i, to: buffer.baseAddress! + i * f) }
                initialized = count * f
            }
        }
    }

    /// Equal samples and targets (`source` and `featureNames` are left out).
    public static func == (a: Dataset, b: Dataset) -> Bool {
        a.count == b.count && a.inputShape == b.inputShape && a.targets == b.targets && a.x == b.x
    }

    /// The store row of sample `i`.
    @inline(__always)
    func row(_ i: Int) -> Int { rows?[i] ?? i }

    /// The input values of sample `i` as doubles (standardised when the data set is) into
    /// `out[0..<features]`.
    @inline(__always)
    public func copyInput(_ i: Int, to out: UnsafeMutablePointer<Double>) {
        let f = features
        store.copy(from: row(i) * f, f, to: out)
        if let s = standardization {
            s.mean.withUnsafeBufferPointer { mean in
                s.std.withUnsafeBufferPointer { std in
                    for j in 0..<f { out[j] = Standardizer.standardized(out[j], mean: mean[j], std: std[j]) }
                }
            }
        }
    }

    /// The input values of sample `i` into `out[offset ..< offset + features]`.
    public func copyInput(_ i: Int, into out: inout [Double], at offset: Int) {
        precondition(offset >= 0 && offset + features <= out.count, "copyInput: the destination is too small")
        out.withUnsafeMutableBufferPointer { copyInput(i, to: $0.baseAddress! + offset) }
    }

    /// The same samples with `standardizer` applied when values are read; `standardization`
    /// must be nil (`Standardizer.apply(to:)` checks the values first).
    func standardized(by standardizer: Standardizer) -> Dataset {
        var d = self
        d.standardization = standardizer
        d.materialized = MaterializedInputs()
        return d
    }

    /// The largest |x| over every input value (standardised when the data set is); 0 when empty.
    public func largestMagnitude() -> Double {
        var row = [Double](repeating: 0, count: features)
        var m = 0.0
        for i in 0..<count {
            copyInput(i, into: &row, at: 0)
            for v in row { m = Swift.max(m, Swift.abs(v)) }
        }
        return m
    }

    /// Input value `j` of sample `i` as stored (not standardised).
    @inline(__always)
    func rawValue(_ i: Int, _ j: Int) -> Double { store.value(row(i) * features + j) }

    /// A data set of `count` samples over `store` (its rows `rows`, or the first `count`).
    init(store: SampleStore, rows: [Int]?, inputShape: [Int], targets: DatasetTargets, count: Int,
         standardization: Standardizer?) {
        self.store = store
        self.rows = rows
        self.inputShape = inputShape
        self.targets = targets
        self.count = count
        self.standardization = standardization
    }

    /// The same data set with `source` and `featureNames` of `other`.
    func withProvenance(of other: Dataset) -> Dataset {
        var d = self
        d.source = other.source
        d.featureNames = other.featureNames
        return d
    }

    /// The number of input values per sample, the product of `inputShape`.
    public var features: Int { inputShape.reduce(1, *) }

    /// The model outputs the targets call for: the number of classes, or of target values.
    public var outputs: Int {
        switch targets {
        case .labels(_, let classes): return classes
        case .values(_, let outputs): return outputs
        }
    }

    /// The kind of target.
    public var targetKind: TargetKind {
        switch targets {
        case .labels(_, let classes): return .classes(classes)
        case .values(_, let outputs): return .values(outputs)
        }
    }

    /// The labels, for a classification data set.
    public var labels: [Int]? {
        if case .labels(let labels, _) = targets { return labels }
        return nil
    }

    /// The target values (`count * outputs`), for a regression data set.
    public var y: [Double]? {
        if case .values(let values, _) = targets { return values }
        return nil
    }

    /// A data set from its parts; checks that the sizes agree and the labels are in range.
    public init(x: [Double], inputShape: [Int], targets: DatasetTargets) throws(DataError) {
        try self.init(store: SampleStore(doubles: x), inputShape: inputShape, targets: targets)
    }

    /// A data set of every row of `store`; checks as `init(x:inputShape:targets:)` does.
    public init(store: SampleStore, inputShape: [Int], targets: DatasetTargets) throws(DataError) {
        let x = store
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }),
              let features = Tensor.elementCount(of: inputShape) else {
            throw DataError(file: nil, .invalidArgument(
                "the input shape must be one or more positive dimensions, got \(inputShape)"))
        }
        guard x.count % features == 0 else {
            throw DataError(file: nil, .invalidArgument(
                "x holds \(x.count) values, not a whole number of samples of \(features) features"))
        }
        let count = x.count / features
        switch targets {
        case .labels(let labels, let classes):
            try TargetKind.classes(classes).validate()
            guard labels.count == count else {
                throw DataError(file: nil, .invalidArgument("\(count) samples but \(labels.count) labels"))
            }
            if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
                throw DataError(file: nil, .labelOutOfRange(label: bad, classes: classes))
            }
        case .values(let values, let outputs):
            try TargetKind.values(outputs).validate()
            guard values.count == count * outputs else {
                throw DataError(file: nil, .invalidArgument(
                    "\(count) samples of \(outputs) target values need \(count * outputs) values, got \(values.count)"))
            }
        }
        self.store = store
        self.rows = nil
        self.standardization = nil
        self.targets = targets
        self.count = count
        self.inputShape = inputShape
    }

    /// The same samples with another shape per sample, for example `[8, 8]` for the 64 pixels
    /// of a digit read as 8 positions of 8 channels. The product must equal `features`.
    public func withInputShape(_ shape: [Int]) throws(DataError) -> Dataset {
        guard Tensor.elementCount(of: shape) == features, !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }) else {
            throw DataError(file: nil, .invalidArgument(
                "input shape \(shape) does not hold the \(features) features of each sample"))
        }
        return Dataset(store: store, rows: rows, inputShape: shape, targets: targets, count: count,
                       standardization: standardization).withProvenance(of: self)
    }

    /// The input values of sample `i`.
    public func input(_ i: Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: features) { buffer, initialized in
            copyInput(i, to: buffer.baseAddress!)
            initialized = features
        }
    }

    /// The samples at `indices`, in that order (repeats allowed); the inputs are not copied.
    public func subset(_ indices: [Int]) throws(DataError) -> Dataset {
        if let bad = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw DataError(file: nil, .invalidArgument("sample index \(bad) is outside 0..<\(count)"))
        }
        let newTargets: DatasetTargets
        switch targets {
        case .labels(let labels, let classes):
            newTargets = .labels(indices.map { labels[$0] }, classes: classes)
        case .values(let values, let outputs):
            var newY: [Double] = []
            newY.reserveCapacity(indices.count * outputs)
            for i in indices { newY.append(contentsOf: values[(i * outputs)..<((i + 1) * outputs)]) }
            newTargets = .values(newY, outputs: outputs)
        }
        return Dataset(store: store, rows: indices.map { row($0) }, inputShape: inputShape, targets: newTargets,
                       count: indices.count, standardization: standardization).withProvenance(of: self)
    }
}

/// The inputs of a data set as one array of doubles, made once, when first asked for.
final class MaterializedInputs: @unchecked Sendable {
    private let lock = NSLock()
    private var array: [Double]?

    /// The array, made by `make` the first time.
    func value(_ make: () -> [Double]) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        if let array { return array }
        let made = make()
        array = made
        return made
    }
}
