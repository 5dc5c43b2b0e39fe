import Foundation
import ModelSpec
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading whole files and replacing them atomically. Every reason is in plain words
/// (`Messages.fileProblem`), never Foundation's error domain and code.
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
            throw DataError(file: url.path, .readFailed(reason: Messages.fileProblem(error, path: url.path)))
        }
    }

    /// One atomic write at a time in this process, so that the temporaries of this process
    /// found by a save are stale (see `removeStaleTemporaries`).
    private static let lock = NSLock()

    /// The directory and the file name of `url` as the C runtime splits them.
    private static func parts(_ url: URL) -> (directory: String, base: String) {
        let path = url.path
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = slash == path.startIndex ? "/" : String(path[..<slash])
        return (dir, String(path[path.index(after: slash)...]))
    }

    /// `.BASE.tmp-`, BASE cut to its first 100 bytes: the prefix of the temporary files of
    /// saves to a file called BASE, as in the standalone runtime (`".%.100s.tmp-%ld-%d"`, PID
    /// and attempt number).
    static func temporaryPrefix(base: String) -> [UInt8] {
        Array(".".utf8) + Array(base.utf8.prefix(100)) + Array(".tmp-".utf8)
    }

    /// Removes the temporaries that earlier saves to a file called `base` in `directory` left
    /// behind (a save killed mid-way leaves its `.BASE.tmp-PID-N`): those whose process PID is
    /// no longer running, or is this one (no save of this process is under way: `lock`). Best
    /// effort, like the standalone runtime's `nn_remove_stale_temporaries`.
    static func removeStaleTemporaries(directory: String, base: String) {
        let prefix = temporaryPrefix(base: base)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let me = getpid()
        for name in names {
            let bytes = Array(name.utf8)
            guard bytes.count > prefix.count, Array(bytes[..<prefix.count]) == prefix else { continue }
            var i = prefix.count
            var pid = 0, digits = 0, attemptDigits = 0
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57, digits < 9 {
                pid = pid * 10 + Int(bytes[i] - 48); i += 1; digits += 1
            }
            guard digits > 0, i < bytes.count, bytes[i] == UInt8(ascii: "-") else { continue }
            i += 1
            while i < bytes.count, bytes[i] >= 48, bytes[i] <= 57 { i += 1; attemptDigits += 1 }
            guard attemptDigits > 0, i == bytes.count, pid > 0 else { continue }
            if pid_t(pid) != me && (kill(pid_t(pid), 0) == 0 || errno != ESRCH) { continue }  // its saver may run
            _ = unlink(directory + "/" + name)
        }
    }

    /// Creates the temporary file for a save to `url` (`.BASE.tmp-PID-N`, the first free N
    /// below 100); its descriptor and path.
    private static func createTemporary(_ url: URL) throws(DataError) -> (fd: Int32, path: String) {
        let (directory, base) = parts(url)
        let stem = String(decoding: temporaryPrefix(base: base), as: UTF8.self)
        var code: Int32 = EEXIST
        for attempt in 0..<100 {
            let path = (directory == "/" ? "/" : directory + "/") + stem + "\(getpid())-\(attempt)"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o666)
            if fd >= 0 { return (fd, path) }
            code = errno
            if code != EEXIST { break }
        }
        throw DataError(file: url.path, .writeFailed(reason: "cannot write a temporary file in "
            + "\(directory): \(reason(code, path: directory, writing: true))"))
    }

    /// Plain words for `code` about `path`.
    private static func reason(_ code: Int32, path: String, writing: Bool) -> String {
        Messages.fileProblem(errno: code, path: path, writing: writing) ?? String(cString: strerror(code))
    }

    /// Whether a save to `url` can work at all: `url` is not a directory and its directory
    /// exists and takes a new file (created and removed again). Throws the `writeFailed` error a
    /// save would.
    static func checkWritable(_ url: URL) throws(DataError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw DataError(file: url.path, .writeFailed(reason: "it is a directory"))
        }
        let (directory, _) = parts(url)
        var parentIsDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &parentIsDirectory) {
            throw DataError(file: url.path, .writeFailed(reason: "the directory \(directory) does not exist"))
        }
        if !parentIsDirectory.boolValue {
            throw DataError(file: url.path, .writeFailed(reason: "\(directory) is not a directory"))
        }
        lock.lock()
        defer { lock.unlock() }
        let (fd, path) = try createTemporary(url)
        close(fd)
        unlink(path)
    }

    /// Writes `data` to a temporary file next to `url` (`.BASE.tmp-PID-N`), flushes it to disk,
    /// then renames it over `url` (one atomic step on POSIX file systems). Stale temporaries of
    /// earlier saves to `url` are removed first. On failure the temporary file is removed and
    /// whatever was at `url` is unchanged.
    static func writeAtomically(_ data: Data, to url: URL) throws(DataError) {
        try writeAtomically(to: url) { emit in
            data.withUnsafeBytes { raw in _ = emit(raw) }
        }
    }

    /// As `writeAtomically(_:to:)`, with the bytes given piece by piece: `produce` calls its
    /// argument with each piece in order, and stops when it returns false (a write failed).
    static func writeAtomically(to url: URL, _ produce: ((UnsafeRawBufferPointer) -> Bool) -> Void) throws(DataError) {
        lock.lock()
        defer { lock.unlock() }
        let (directory, base) = parts(url)
        removeStaleTemporaries(directory: directory, base: base)
        let (fd, temp) = try createTemporary(url)
        var failure: String?
        produce { (raw: UnsafeRawBufferPointer) -> Bool in
            guard failure == nil else { return false }
            var done = 0
            while done < raw.count {
                let w = write(fd, raw.baseAddress! + done, raw.count - done)
                if w < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write a temporary file in \(directory): "
                        + reason(errno, path: directory, writing: true)
                    return false
                }
                done += w
            }
            return true
        }
        if failure == nil, fsync(fd) != 0 {
            failure = "cannot flush a temporary file in \(directory): " + reason(errno, path: directory, writing: true)
        }
        if close(fd) != 0, failure == nil {
            failure = "cannot close a temporary file in \(directory): " + reason(errno, path: directory, writing: true)
        }
        if failure == nil, rename(temp, url.path) != 0 {
            failure = "cannot replace the file: " + reason(errno, path: url.path, writing: true)
        }
        if let failure {
            unlink(temp)
            throw DataError(file: url.path, .writeFailed(reason: failure))
        }
        let dfd = open(directory, O_RDONLY)  // make the rename durable; best effort
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

extension SafetensorsFile {
    /// Whether `write(to:)` can work at `url`: its directory exists and takes a new file and
    /// `url` is not a directory. Throws the error the save would, naming `url` and the reason.
    public static func checkWritable(_ url: URL) throws(DataError) {
        try FileIO.checkWritable(url)
    }
}
