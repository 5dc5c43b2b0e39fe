import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Helpers every error message of nngen uses (ModelSpec, DataIO, the CLI), so that messages stay
/// one short line whatever the input.
public enum Messages {
    /// The most characters of a value echoed in a message.
    public static let maxShown = 60

    /// `text` itself when it has at most `maxShown` characters, else its first `maxShown`
    /// characters and `... (N characters)`, N the full length. Characters are Unicode scalars
    /// (code points), so that the standalone runtime, counting UTF-8 lead bytes, cuts the same.
    public static func shown(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > maxShown else { return text }
        return String(String.UnicodeScalarView(scalars.prefix(maxShown))) + "... (\(scalars.count) characters)"
    }

    /// `shown(String(describing: value))`.
    public static func shown<T>(_ value: T) -> String { shown(String(describing: value)) }

    /// Why reading or writing `path` failed, in plain words (`is a directory`, `does not exist`,
    /// `permission denied`, `read-only file system`, `disk full`...), from the error Foundation or
    /// the system gave; never Foundation's domain and code.
    public static func fileProblem(_ error: Error, path: String, writing: Bool = false) -> String {
        let ns = error as NSError
        var posix: Int32?
        if ns.domain == NSPOSIXErrorDomain { posix = Int32(ns.code) }
        if posix == nil, let under = ns.userInfo[NSUnderlyingErrorKey] as? NSError, under.domain == NSPOSIXErrorDomain {
            posix = Int32(under.code)
        }
        if let posix, let words = fileProblem(errno: posix, path: path, writing: writing) { return words }
        if ns.domain == NSCocoaErrorDomain {
            switch ns.code {
            case CocoaError.fileNoSuchFile.rawValue, CocoaError.fileReadNoSuchFile.rawValue:
                return fileProblem(errno: ENOENT, path: path, writing: writing) ?? "does not exist"
            case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue:
                return "permission denied"
            case CocoaError.fileWriteVolumeReadOnly.rawValue: return "read-only file system"
            case CocoaError.fileWriteOutOfSpace.rawValue: return "disk full"
            case CocoaError.fileWriteFileExists.rawValue: return "a file of that name already exists"
            default: break
            }
        }
        // Unknown error: work it out from the file system.
        if let state = pathState(path, writing: writing) { return state }
        return writing ? "it cannot be written" : "it cannot be read"
    }

    /// Plain words for a system error number about `path`, or nil for an unusual one.
    public static func fileProblem(errno code: Int32, path: String, writing: Bool = false) -> String? {
        switch code {
        case ENOENT: return pathState(path, writing: writing) ?? "does not exist"
        case EISDIR: return "is a directory"
        case ENOTDIR: return "a part of the path is not a directory"
        case EACCES, EPERM: return "permission denied"
        case EROFS: return "read-only file system"
        case ENOSPC, EDQUOT: return "disk full"
        case ENAMETOOLONG: return "the name is too long"
        case EEXIST: return "a file of that name already exists"
        default: return nil
        }
    }

    /// `is a directory`, `does not exist` or `the directory D does not exist` (writing) when the
    /// path explains the failure by itself; nil otherwise.
    public static func pathState(_ path: String, writing: Bool) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? "is a directory" : nil
        }
        if writing {
            let parent = URL(fileURLWithPath: path).deletingLastPathComponent().path
            var parentIsDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: parent, isDirectory: &parentIsDirectory) {
                return "the directory \(shown(parent)) does not exist"
            }
            if !parentIsDirectory.boolValue { return "\(shown(parent)) is not a directory" }
            return nil
        }
        return "does not exist"
    }
}
