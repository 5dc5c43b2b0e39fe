import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (POSIX `mmap`, `MAP_PRIVATE`), unmapped when the
/// last `SampleStore` over it goes away. Its pages belong to the page cache, not to the process's
/// anonymous memory: a data set in a mapped file costs the process nothing per sample.
final class MappedFile: @unchecked Sendable {
    /// The first byte of the mapping.
    let address: UnsafeMutableRawPointer
    /// The file's size in bytes.
    let length: Int

    /// Maps `url`; nil when it is not a regular, non-empty file or cannot be opened or mapped
    /// (the caller then reads it with `FileIO`, which reports why).
    init?(_ url: URL) {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else { return nil }
        let p = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { return nil }
        address = p
        length = Int(st.st_size)
    }

    deinit { munmap(address, length) }

    /// `body` on the mapped bytes.
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: address, count: length))
    }

    /// A store of `count` values of `dtype` at byte `offset`.
    func store(offset: Int, dtype: DType, count: Int) -> SampleStore {
        SampleStore(mapped: self, offset: offset, dtype: dtype, count: count)
    }
}
