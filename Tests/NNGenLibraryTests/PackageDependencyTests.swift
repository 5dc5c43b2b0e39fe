import Foundation
import XCTest

/// The repository root, found from this file.
private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Guards the build graph against stale objects.
///
/// A module that imports `NNGen` sees the modules NNGen re-exports (`@_exported import DataIO`...)
/// and compiles their value types' layouts into its code (stack temporaries of `Dataset`,
/// `TCCBackend`...). SwiftPM reruns a target's compilation only when a swiftmodule of one of its
/// *direct* dependencies changes, and NNGen.swiftmodule is not rewritten when only a re-exported
/// module changes. So when DataIO's `Dataset` gained stored properties, NNGenLibraryTests kept
/// its objects compiled for the old, smaller layout: in `testFitMatchesTheCommandsTrainerAndContinues`
/// the `ModelData.load` result (0x60 bytes now) overlapped the `TCCBackend()` temporary, the
/// data set's last field held TCCBackend's `libraries` array without a retain, and destroying
/// the data set in `Trainer.init` released that array a second time (signal 11 later, or not).
final class PackageDependencyTests: XCTestCase {
    /// Every target lists, as direct dependencies, each module its dependencies re-export
    /// (transitively), so that a change to such a module rebuilds it.
    func testTargetsDependDirectlyOnEveryReexportedModule() throws {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let targets = Self.targetDependencies(manifest)
        XCTAssertNotNil(targets["NNGenLibraryTests"], "Package.swift was not parsed: \(targets.keys.sorted())")
        XCTAssertNotNil(targets["NNGen"], "Package.swift was not parsed: \(targets.keys.sorted())")

        // The modules each source target re-exports.
        var reexports: [String: Set<String>] = [:]
        for name in targets.keys {
            let dir = root.appendingPathComponent("Sources/\(name)")
            guard let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in files where file.pathExtension == "swift" {
                let text = try String(contentsOf: file, encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("@_exported import ") {
                    let module = line.dropFirst("@_exported import ".count).trimmingCharacters(in: .whitespaces)
                    reexports[name, default: []].insert(module)
                }
            }
        }
        XCTAssertEqual(reexports["NNGen"], ["CodeGen", "DataIO", "JIT", "ModelSpec", "NNGenKit"])

        func reexported(by module: String, seen: inout Set<String>) -> Set<String> {
            var out: Set<String> = []
            for m in reexports[module] ?? [] where seen.insert(m).inserted {
                out.insert(m)
                out.formUnion(reexported(by: m, seen: &seen))
            }
            return out
        }
        for (target, deps) in targets.sorted(by: { $0.key < $1.key }) {
            var needed: Set<String> = []
            for d in deps {
                var seen: Set<String> = []
                needed.formUnion(reexported(by: d, seen: &seen))
            }
            let missing = needed.subtracting(deps).filter { targets[$0] != nil }
            XCTAssertTrue(missing.isEmpty,
                          "target \(target) uses modules re-exported by its dependencies but does not depend on "
                          + "\(missing.sorted()) directly: its objects are not rebuilt when their layouts change")
        }
    }

    /// Target name -> the names of its dependencies (strings in its `dependencies: [...]`, products
    /// of other packages left out), read from the text of Package.swift.
    static func targetDependencies(_ manifest: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        let declaration = try! NSRegularExpression(
            pattern: #"\.(?:target|testTarget|executableTarget)\(\s*name:\s*"([^"]+)""#)
        let text = manifest as NSString
        for match in declaration.matches(in: manifest, range: NSRange(location: 0, length: text.length)) {
            let name = text.substring(with: match.range(at: 1))
            var deps: Set<String> = []
            // The target's own argument list: up to the parenthesis that closes `.target(`.
            let rest = text.substring(from: match.range.location + match.range.length)
            var depth = 1, end = rest.startIndex
            for i in rest.indices {
                if rest[i] == "(" { depth += 1 } else if rest[i] == ")" { depth -= 1 }
                if depth == 0 { end = i; break }
            }
            let arguments = String(rest[..<end])
            if let open = arguments.range(of: "dependencies:") {
                var list = arguments[open.upperBound...]
                if let close = list.firstIndex(of: "]") { list = list[..<close] }
                // Drop `.product(name: "...", package: "...")` entries: other packages' products.
                let cleaned = String(list).replacingOccurrences(of: #"\.product\([^)]*\)"#, with: "",
                                                                options: .regularExpression)
                let quoted = try! NSRegularExpression(pattern: #""([^"]+)""#)
                let c = cleaned as NSString
                for q in quoted.matches(in: cleaned, range: NSRange(location: 0, length: c.length)) {
                    deps.insert(c.substring(with: q.range(at: 1)))
                }
            }
            result[name] = deps
        }
        return result
    }
}
