import Foundation

extension Dataset {
    /// Loads a data batch file (docs/CONVENTIONS.md, Files): `x` of shape `[N, F]` or `[N, L, C]` in
    /// any dtype, and `y` of shape `[N]` with an integer dtype (I32, I64) for `.classes(k)`, or
    /// `[N, outs]` for `.values(outs)` (`[N]` too when `outs` is 1). When `features` is given, `F` (or `L*C`) must equal it.
    /// All values must be finite; labels must lie in `0..<k`.
    /// The file is memory-mapped, not read: `x` stays in the mapping (the page cache) and is
    /// widened to double only when batches are gathered, so start-up takes the time of one check
    /// that every value is finite and the process's own memory does not grow with the number of
    /// samples (the labels or targets, 4 to 8 bytes a sample, are copied). Where the file cannot be
    /// mapped it is read into memory instead, with the same checks and errors.
    public static func loadSafetensors(from url: URL, target: TargetKind, features: Int? = nil)
        throws(DataError) -> Dataset
    {
        if let mapped = MappedFile(url) {
            let layout = try mapped.withBytes { raw throws(DataError) in
                try SafetensorsFile.checkedLayout(raw, source: url.path)
            }
            let names = layout.entries.map(\.name)
            var xPart: (store: SampleStore, shape: [Int])?
            var yTensor: Tensor?
            for entry in layout.entries where entry.name == "x" || entry.name == "y" {
                if entry.name == "x" {
                    xPart = (mapped.store(offset: layout.dataStart + entry.begin, dtype: entry.dtype, count: entry.count),
                             entry.shape)
                } else {
                    let storage = mapped.withBytes { raw in
                        SafetensorsFile.readStorage(raw, from: layout.dataStart + entry.begin, count: entry.count, dtype: entry.dtype)
                    }
                    yTensor = Tensor(checkedName: "y", shape: entry.shape, storage: storage)
                }
            }
            return try Dataset(x: xPart, y: yTensor, names: names, source: url.path, target: target, features: features)
        }
        return try Dataset(batch: SafetensorsFile.read(from: url), source: url.path, target: target, features: features)
    }

    /// A data set from a batch file already read; `source` names it in errors.
    public init(batch file: SafetensorsFile, source: String, target: TargetKind, features: Int? = nil)
        throws(DataError)
    {
        let xPart = file["x"].map { (store: SampleStore(tensor: $0), shape: $0.shape) }
        try self.init(x: xPart, y: file["y"], names: file.names, source: source, target: target, features: features)
    }

    /// The checks of a data batch file, in this order, on its `x` (values and shape) and `y`;
    /// `names` are the file's tensors, for the message when one is missing.
    init(x xPart: (store: SampleStore, shape: [Int])?, y yTensor: Tensor?, names: [String], source: String,
         target: TargetKind, features: Int?) throws(DataError) {
        try target.validate()
        func wrong(_ name: String, _ expected: String, _ found: String) -> DataError {
            DataError(file: source, .wrongTensor(name: name, expected: expected, found: found))
        }
        func describe(_ dtype: DType, _ shape: [Int]) -> String { "\(dtype.rawValue) \(shape)" }
        func firstNonFinite(_ values: [Double]) -> Int? { values.firstIndex { !$0.isFinite } }

        guard let (store, shape) = xPart else { throw DataError(file: source, .missingTensor(name: "x", available: names)) }
        guard shape.count == 2 || shape.count == 3, shape.allSatisfy({ $0 >= 1 }) else {
            throw wrong("x", "of shape [N, F] or [N, L, C] with every dimension at least 1", describe(store.dtype, shape))
        }
        let n = shape[0]
        let inputShape = Array(shape.dropFirst())
        let f = inputShape.reduce(1, *)
        if let features, features != f {
            throw wrong("x", "of shape [N, \(features)] (or [N, L, C] with L*C = \(features))", describe(store.dtype, shape))
        }
        if let bad = store.firstNonFinite() {
            throw wrong("x", "finite", "\(store.value(bad)) at sample \(bad / f), feature \(bad % f)")
        }

        guard let yt = yTensor else { throw DataError(file: source, .missingTensor(name: "y", available: names)) }
        switch target {
        case .classes(let k):
            guard yt.shape == [n], yt.dtype.isInteger else {
                throw wrong("y", "integer labels (I32 or I64) of shape [\(n)]", describe(yt.dtype, yt.shape))
            }
            let labels = try yt.asInts()
            if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= k }) {
                throw wrong("y", "labels in 0...\(k - 1)", "label \(labels[bad]) at sample \(bad)")
            }
            try self.init(store: store, inputShape: inputShape, targets: .labels(labels, classes: k))
        case .values(let outs):
            // One target value per sample may also be a vector [N] (nngen convert writes whole
            // numbers as labels: the same file then serves a classifier and a regression model).
            guard yt.shape == [n, outs] || (outs == 1 && yt.shape == [n]) else {
                throw wrong("y", "of shape [\(n), \(outs)]", describe(yt.dtype, yt.shape))
            }
            let y = yt.asDoubles()
            if let bad = firstNonFinite(y) {
                throw wrong("y", "finite", "\(y[bad]) at sample \(bad / outs), output \(bad % outs)")
            }
            try self.init(store: store, inputShape: inputShape, targets: .values(y, outputs: outs))
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
