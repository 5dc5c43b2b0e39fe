import Foundation

extension Dataset {
    /// Writes the data set as a data batch file (docs/CONVENTIONS.md, Files), atomically: `x` of
    /// shape `[count] + inputShape` in `xDType` (F32 or F64), then `y`: labels as I64 of shape
    /// `[count]`, or values of shape `[count, outputs]` in `xDType`; `metadata` in the header.
    /// The inputs go from the store to the file a block of samples at a time (standardised when
    /// the data set is), with no copy of the whole data set.
    public func writeBatchFile(to url: URL, xDType: DType, metadata: [String: String]) throws(DataError) {
        guard xDType == .f32 || xDType == .f64 else {
            throw DataError(file: nil, .invalidArgument("inputs are stored as F32 or F64, not \(xDType.rawValue)"))
        }
        let yDType: DType
        let yShape: [Int]
        switch targets {
        case .labels: (yDType, yShape) = (.i64, [count])
        case .values(_, let outputs): (yDType, yShape) = (xDType, [count, outputs])
        }
        let head = SafetensorsFile.header(metadata: metadata, tensors: [("x", xDType, [count] + inputShape),
                                                                        ("y", yDType, yShape)])
        let f = features
        let block = max(1, 65_536 / f)
        try FileIO.writeAtomically(to: url) { emit in
            guard head.withUnsafeBytes({ emit($0) }) else { return }
            var doubles = [Double](repeating: 0, count: block * f)
            var floats = [Float](repeating: 0, count: block * f)
            var start = 0
            while start < count {
                let rows = min(block, count - start)
                for r in 0..<rows { copyInput(start + r, into: &doubles, at: r * f) }
                let ok: Bool
                if xDType == .f32 {
                    for i in 0..<(rows * f) { floats[i] = Float(doubles[i]) }
                    ok = floats.withUnsafeBytes { emit(UnsafeRawBufferPointer(rebasing: $0[..<(rows * f * 4)])) }
                } else {
                    ok = doubles.withUnsafeBytes { emit(UnsafeRawBufferPointer(rebasing: $0[..<(rows * f * 8)])) }
                }
                guard ok else { return }
                start += rows
            }
            switch targets {
            case .labels(let labels, _):
                _ = labels.map { Int64($0).littleEndian }.withUnsafeBytes { emit($0) }
            case .values(let values, _):
                if xDType == .f32 {
                    _ = values.map { Float($0) }.withUnsafeBytes { emit($0) }
                } else {
                    _ = values.withUnsafeBytes { emit($0) }
                }
            }
        }
    }
}
