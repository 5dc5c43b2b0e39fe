import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The input values of a data set in one block of memory, in their own element type: owned
/// (filled by a reader, grown with `realloc`) or a read-only view of a memory-mapped file.
///
/// A data set keeps its inputs here as read, F32 when every value is exactly a float (so an
/// MNIST-sized CSV of pixels takes 4 bytes a value, not 8) and F64 otherwise; values are widened
/// to double one at a time when a batch is gathered. Splits, shuffles and standardisation make no
/// copy of this block (see `Dataset`).
public final class SampleStore: @unchecked Sendable {
    /// The element type of the values (any of the four; little-endian when mapped).
    public let dtype: DType
    /// The number of values (set only by the readers that fill an owned store).
    public internal(set) var count: Int
    /// The first value.
    private(set) var base: UnsafeMutableRawPointer?
    /// The bytes allocated (owned) or mapped.
    private var capacityBytes: Int
    /// The mapped file the values are in, kept open as long as the store; nil when owned.
    private let mapping: MappedFile?

    /// An owned store of `values`, as F64.
    public convenience init(doubles values: [Double]) {
        self.init(ownedDType: .f64, capacity: values.count)
        values.withUnsafeBufferPointer { src in
            if let a = src.baseAddress, !src.isEmpty { base!.copyMemory(from: a, byteCount: src.count * 8) }
        }
        count = values.count
    }

    /// An empty owned store of `dtype` with room for `capacity` values.
    init(ownedDType dtype: DType, capacity: Int) {
        self.dtype = dtype
        count = 0
        capacityBytes = max(capacity, 1) * dtype.byteSize
        base = malloc(capacityBytes)
        mapping = nil
    }

    /// A view of `count` values of `dtype` at byte `offset` of `file`.
    init(mapped file: MappedFile, offset: Int, dtype: DType, count: Int) {
        self.dtype = dtype
        self.count = count
        base = file.address + offset
        capacityBytes = count * dtype.byteSize
        mapping = file
    }

    /// An owned store of the values of `tensor`: F32 stays F32, any other dtype becomes F64.
    public convenience init(tensor: Tensor) {
        switch tensor.storage {
        case .f32(let v):
            self.init(ownedDType: .f32, capacity: v.count)
            v.withUnsafeBytes { if let a = $0.baseAddress, !$0.isEmpty { base!.copyMemory(from: a, byteCount: $0.count) } }
            count = v.count
        default:
            self.init(doubles: tensor.asDoubles())
        }
    }

    deinit {
        if mapping == nil { free(base) }
    }

    /// The index of the first value that is NaN or infinite, or nil.
    public func firstNonFinite() -> Int? {
        switch dtype {
        case .i32, .i64: return nil
        case .f32 where Int(bitPattern: base) % 4 == 0:
            let p = UnsafeRawPointer(base!).assumingMemoryBound(to: UInt32.self)
            for i in 0..<count where UInt32(littleEndian: p[i]) & 0x7F80_0000 == 0x7F80_0000 { return i }
            return nil
        case .f64 where Int(bitPattern: base) % 8 == 0:
            let p = UnsafeRawPointer(base!).assumingMemoryBound(to: UInt64.self)
            for i in 0..<count where UInt64(littleEndian: p[i]) & 0x7FF0_0000_0000_0000 == 0x7FF0_0000_0000_0000 { return i }
            return nil
        case .f32, .f64:
            for i in 0..<count where !value(i).isFinite { return i }
            return nil
        }
    }

    /// Whether the values are in a memory-mapped file.
    public var isMapped: Bool { mapping != nil }

    /// Value `i` as a double.
    @inline(__always)
    public func value(_ i: Int) -> Double {
        let p = UnsafeRawPointer(base!)
        switch dtype {
        case .f32: return Double(Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
        case .f64: return Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
        case .i32: return Double(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        case .i64: return Double(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        }
    }

    /// Values `start ..< start + n` as doubles into `out[0..<n]`.
    @inline(__always)
    func copy(from start: Int, _ n: Int, to out: UnsafeMutablePointer<Double>) {
        let p = UnsafeRawPointer(base!)
        switch dtype {
        case .f32:
            let src = p.advanced(by: 4 * start)
            if Int(bitPattern: src) % 4 == 0 {
                let f = src.assumingMemoryBound(to: Float.self)
                for j in 0..<n { out[j] = Double(f[j]) }
            } else {
                for j in 0..<n { out[j] = value(start + j) }
            }
        case .f64:
            let src = p.advanced(by: 8 * start)
            if Int(bitPattern: src) % 8 == 0 {
                out.update(from: src.assumingMemoryBound(to: Double.self), count: n)
            } else {
                for j in 0..<n { out[j] = value(start + j) }
            }
        default:
            for j in 0..<n { out[j] = value(start + j) }
        }
    }

    /// Makes room for `n` more values of an owned store, growing it by `realloc` (which for
    /// large blocks remaps pages instead of copying them); false when memory runs out.
    @inline(__always)
    func reserve(_ n: Int) -> Bool {
        let needed = (count + n) * dtype.byteSize
        return needed <= capacityBytes || grow(toAtLeast: needed)
    }

    /// Appends a value to an owned F32 or F64 store that has room for it (`reserve`).
    @inline(__always)
    func appendReserved(_ v: Double) {
        if dtype == .f32 {
            base!.storeBytes(of: Float(v), toByteOffset: 4 * count, as: Float.self)
        } else {
            base!.storeBytes(of: v, toByteOffset: 8 * count, as: Double.self)
        }
        count += 1
    }

    /// Room for at least `bytes` bytes, growing by half each time; false when memory runs out.
    private func grow(toAtLeast bytes: Int) -> Bool {
        var cap = max(capacityBytes, 4096)
        while cap < bytes { cap += cap / 2 }
        guard let p = realloc(base, cap) else { return false }
        base = p
        capacityBytes = cap
        return true
    }

    /// An owned F64 store with the values of this F32 one (the reader widens when it meets a
    /// value that is not exactly a float), with room for `capacity` values.
    func widened(capacity: Int) -> SampleStore {
        let out = SampleStore(ownedDType: .f64, capacity: max(capacity, count))
        let dst = out.base!.assumingMemoryBound(to: Double.self)
        copy(from: 0, count, to: dst)
        out.count = count
        return out
    }

    /// Returns unused capacity of an owned store to the system.
    func shrinkToFit() {
        guard mapping == nil, capacityBytes > max(count, 1) * dtype.byteSize,
              let p = realloc(base, max(count, 1) * dtype.byteSize) else { return }
        base = p
        capacityBytes = max(count, 1) * dtype.byteSize
    }
}
