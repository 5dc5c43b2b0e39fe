import DataIO
import Foundation
import ModelSpec

/// What `nngen inspect` reports of a safetensors file (a checkpoint, a parameters file, a data
/// set or a gradient file): its size, its metadata, and each tensor with its statistics.
public struct Inspection: Sendable {
    /// One tensor: name, dtype, shape and the minimum, maximum and mean of its values (nil when
    /// it holds none). A NaN or infinite value is counted in `nonFinite` and left out of the rest.
    public struct TensorSummary: Sendable, Equatable {
        /// The tensor's name.
        public var name: String
        /// The stored dtype (F32, F64, I32, I64).
        public var dtype: DType
        /// The shape (`[]` for a scalar).
        public var shape: [Int]
        /// The smallest finite value.
        public var min: Double?
        /// The largest finite value.
        public var max: Double?
        /// The mean of the finite values, summed in double in storage order.
        public var mean: Double?
        /// How many values are NaN or infinite.
        public var nonFinite: Int
        /// The bytes of its data.
        public var bytes: Int
    }

    /// The file's size in bytes.
    public var fileBytes: Int
    /// The metadata, sorted by key.
    public var metadata: [(key: String, value: String)]
    /// The tensors, in file order.
    public var tensors: [TensorSummary]
    /// The model the file carries (metadata "model"), when it carries a valid one.
    public var model: Model?

    /// Reads and summarises the file at `url`.
    /// - Throws: the `DataError` of an unreadable or malformed safetensors file.
    public init(contentsOf url: URL) throws {
        let file = try SafetensorsFile.read(from: url)
        fileBytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        metadata = file.metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        tensors = file.orderedTensors.map { t in
            var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, n = 0, bad = 0
            for v in t.asDoubles() {
                guard v.isFinite else {
                    bad += 1
                    continue
                }
                lo = Swift.min(lo, v)
                hi = Swift.max(hi, v)
                sum += v
                n += 1
            }
            return TensorSummary(name: t.name, dtype: t.dtype, shape: t.shape, min: n > 0 ? lo : nil, max: n > 0 ? hi : nil,
                                 mean: n > 0 ? sum / Double(n) : nil, nonFinite: bad, bytes: t.elementCount * t.dtype.byteSize)
        }
        model = file.metadata["model"] == nil ? nil : try? Checkpoint.storedModel(file, source: url.path)
    }
}
