import Foundation

extension Dataset {
    /// Loads a data batch file (docs/CONVENTIONS.md, Files): `x` of shape `[N, F]` or `[N, L, C]` in
    /// any dtype, and `y` of shape `[N]` with an integer dtype (I32, I64) for `.classes(k)`, or
    /// `[N, outs]` for `.values(outs)`. When `features` is given, `F` (or `L*C`) must equal it.
    /// All values must be finite; labels must lie in `0..<k`.
    public static func loadSafetensors(from url: URL, target: TargetKind, features: Int? = nil)
        throws(DataError) -> Dataset
    {
        try Dataset(batch: SafetensorsFile.read(from: url), source: url.path, target: target, features: features)
    }

    /// A data set from a batch file already read; `source` names it in errors.
    public init(batch file: SafetensorsFile, source: String, target: TargetKind, features: Int? = nil)
        throws(DataError)
    {
        try target.validate()
        func wrong(_ name: String, _ expected: String, _ found: String) -> DataError {
            DataError(file: source, .wrongTensor(name: name, expected: expected, found: found))
        }
        func describe(_ t: Tensor) -> String { "\(t.dtype.rawValue) \(t.shape)" }
        func get(_ name: String) throws(DataError) -> Tensor {
            guard let t = file[name] else { throw DataError(file: source, .missingTensor(name: name, available: file.names)) }
            return t
        }
        func firstNonFinite(_ values: [Double]) -> Int? { values.firstIndex { !$0.isFinite } }

        let xt = try get("x")
        guard xt.shape.count == 2 || xt.shape.count == 3, xt.shape.allSatisfy({ $0 >= 1 }) else {
            throw wrong("x", "of shape [N, F] or [N, L, C] with every dimension at least 1", describe(xt))
        }
        let n = xt.shape[0]
        let inputShape = Array(xt.shape.dropFirst())
        let f = inputShape.reduce(1, *)
        if let features, features != f {
            throw wrong("x", "of shape [N, \(features)] (or [N, L, C] with L*C = \(features))", describe(xt))
        }
        let x = xt.asDoubles()
        if let bad = firstNonFinite(x) {
            throw wrong("x", "finite", "\(x[bad]) at sample \(bad / f), feature \(bad % f)")
        }

        let yt = try get("y")
        switch target {
        case .classes(let k):
            guard yt.shape == [n], yt.dtype.isInteger else {
                throw wrong("y", "integer labels (I32 or I64) of shape [\(n)]", describe(yt))
            }
            let labels = try yt.asInts()
            if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= k }) {
                throw wrong("y", "labels in 0...\(k - 1)", "label \(labels[bad]) at sample \(bad)")
            }
            try self.init(x: x, inputShape: inputShape, targets: .labels(labels, classes: k))
        case .values(let outs):
            guard yt.shape == [n, outs] else { throw wrong("y", "of shape [\(n), \(outs)]", describe(yt)) }
            let y = yt.asDoubles()
            if let bad = firstNonFinite(y) {
                throw wrong("y", "finite", "\(y[bad]) at sample \(bad / outs), output \(bad % outs)")
            }
            try self.init(x: x, inputShape: inputShape, targets: .values(y, outputs: outs))
        }
        self.source = source
    }

    /// The data set as a batch file: `x` of shape `[count] + inputShape` in `xDType`, and `y`:
    /// labels of shape `[count]` in `labelDType` (I32 or I64), or values of shape
    /// `[count, outputs]` in `xDType`.
    public func batchFile(xDType: DType = .f32, labelDType: DType = .i64) throws(DataError) -> SafetensorsFile {
        let xt = try Tensor(name: "x", shape: [count] + inputShape, doubles: x, dtype: xDType)
        let yt: Tensor
        switch targets {
        case .labels(let labels, _):
            guard labelDType.isInteger else {
                throw DataError(file: nil, .invalidArgument("labels are stored as I32 or I64, not \(labelDType.rawValue)"))
            }
            yt = try Tensor(name: "y", shape: [count], ints: labels, dtype: labelDType)
        case .values(let values, let outputs):
            yt = try Tensor(name: "y", shape: [count, outputs], doubles: values, dtype: xDType)
        }
        return try SafetensorsFile(tensors: [xt, yt])
    }
}
