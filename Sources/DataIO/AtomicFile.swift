import Foundation

/// Atomic writes of any file (logs, plots), with the same guarantees and messages as a
/// safetensors save: a temporary file next to the destination, flushed, then renamed over it.
public enum AtomicFile {
    /// Writes `data` to `url` in one atomic step; on failure whatever was at `url` is unchanged
    /// and the error names `url` and the reason in plain words.
    public static func write(_ data: Data, to url: URL) throws(DataError) {
        try FileIO.writeAtomically(data, to: url)
    }

    /// Whether `write(_:to:)` can work at `url` (its directory exists and takes a new file, and
    /// `url` is not a directory); throws the error the write would.
    public static func checkWritable(_ url: URL) throws(DataError) {
        try FileIO.checkWritable(url)
    }
}
