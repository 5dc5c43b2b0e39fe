import Foundation

/// What `nngen train` uses when called without a model: the digits MLP on the bundled digits
/// data, found from any working directory.
public enum TrainingDefaults {
    /// The default model, the text of `examples/digits_mlp.json` (a test keeps them identical).
    public static let modelJSON = """
        {
          "name": "digits_mlp",
          "input": {"features": 64},
          "batch": 32,
          "standardize": true,
          "layers": [
            {"type": "dense", "units": 128},
            {"type": "relu"},
            {"type": "dense", "units": 64},
            {"type": "relu"},
            {"type": "dense", "units": 10}
          ],
          "loss": {"type": "softmax_cross_entropy"},
          "optimizer": {"type": "adam", "lr": 0.002}
        }

        """

    /// How the default model is named in messages.
    public static let modelSource = "built-in default model (examples/digits_mlp.json)"

    /// The default data file, relative to the package root.
    public static let dataRelativePath = "examples/data/digits.csv"

    /// The default number of epochs.
    public static let epochs = 20
    /// The default validation fraction.
    public static let validationSplit = 0.2
    /// The default seed.
    public static let seed: UInt64 = 1

    /// The folders searched for `relativePath`: each folder from `start` up to the root.
    static func ancestors(of start: URL) -> [URL] {
        var out: [URL] = []
        var dir = start.standardizedFileURL
        while true {
            out.append(dir)
            let parent = dir.deletingLastPathComponent().standardizedFileURL
            if parent.path == dir.path || out.count > 64 { break }
            dir = parent
        }
        return out
    }

    /// Finds `relativePath` (default `examples/data/digits.csv`) in the folder of `executable`
    /// or one of its ancestors (`.build/release/nngen` sits two or three levels below the package
    /// root), then in `currentDirectory` or one of its ancestors.
    /// - Throws: `TrainingError.defaultDataNotFound` naming the places searched.
    public static func locateData(relativePath: String = dataRelativePath,
                                  executable: URL? = Bundle.main.executableURL,
                                  currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        throws -> URL
    {
        var starts: [URL] = []
        if let executable { starts.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
        starts.append(currentDirectory)
        for start in starts {
            for dir in ancestors(of: start) {
                let candidate = dir.appendingPathComponent(relativePath)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    return candidate
                }
            }
        }
        throw TrainingError.defaultDataNotFound(relativePath: relativePath, searched: starts.map(\.path))
    }
}
