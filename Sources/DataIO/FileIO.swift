import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading whole files and replacing them atomically.
enum FileIO {
    /// The bytes of `url`, or a `readFailed` error naming the file.
    static func readData(_ url: URL) throws(DataError) -> Data {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw DataError(file: url.path, .readFailed(reason: "it is a directory"))
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            let reason = FileManager.default.fileExists(atPath: url.path)
                ? error.localizedDescription : "no such file"
            throw DataError(file: url.path, .readFailed(reason: reason))
        }
    }

    /// Writes `data` to a temporary file next to `url`, flushes it to disk, then renames it over
    /// `url` (one atomic step on POSIX file systems). On failure the temporary file is removed and
    /// whatever was at `url` is unchanged.
    static func writeAtomically(_ data: Data, to url: URL) throws(DataError) {
        let directory = url.deletingLastPathComponent()
        // The name is cut so that the temporary name stays within file-name limits.
        let temp = directory.appendingPathComponent(
            ".\(url.lastPathComponent.prefix(100)).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        do {
            try data.write(to: temp, options: .withoutOverwriting)
            let handle = try FileHandle(forWritingTo: temp)
            defer { try? handle.close() }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw DataError(file: url.path, .writeFailed(
                reason: "cannot write a temporary file in \(directory.path): \(error.localizedDescription)"))
        }
        if rename(temp.path, url.path) != 0 {
            let code = errno
            let reason = String(cString: strerror(code))
            try? FileManager.default.removeItem(at: temp)
            throw DataError(file: url.path, .writeFailed(reason: "cannot replace the file: \(reason)"))
        }
    }
}
