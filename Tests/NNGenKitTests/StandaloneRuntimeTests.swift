import CodeGen
import Foundation
import ModelSpec
import NNGenKit
import XCTest

/// The standalone program in its two parts: the model-independent runtime (`nn_runtime.h`,
/// `nn_runtime.c`, `nn_rt_internal.h` and the `nn_rt_*.c` files, the same files for every model
/// and dtype) and the short model-specific `train.c`; strict builds with gcc and clang, model
/// names that match the program's own identifiers and file names, leaks, and the checks of
/// `--save` (stale temporaries, paths that cannot work).
final class StandaloneRuntimeTests: XCTestCase {
    /// Every example and bench model in both dtypes.
    static func everyModel() throws -> [(ModelAnalysis, ScalarType)] {
        try (exampleModelFiles(bench: false) + exampleModelFiles(bench: true)).flatMap { a in
            ScalarType.allCases.map { (a, $0) }
        }
    }

    static func files(_ a: ModelAnalysis, _ scalar: ScalarType) -> [GeneratedFile] {
        Standalone.files(for: compile(a, options: CompileOptions(scalar: scalar)))
    }

    static func file(_ files: [GeneratedFile], _ name: String) throws -> String {
        try XCTUnwrap(files.first { $0.name == name }, "no \(name) among \(files.map(\.name))").contents
    }

    /// Writes the files of a model into a fresh directory.
    func write(_ files: [GeneratedFile], _ prefix: String) throws -> URL {
        let dir = try scratchDirectory(self, prefix)
        for f in files { try Data(f.contents.utf8).write(to: dir.appendingPathComponent(f.name)) }
        return dir
    }

    /// The runtime's file names: nn_runtime.h, nn_runtime.c, nn_rt_internal.h, then the nn_rt_*.c files.
    static var runtimeNames: [String] { Standalone.runtimeTemplateNames }

    /// The runtime's C files, each compiled on its own.
    static var runtimeSources: [String] { runtimeNames.filter { $0.hasSuffix(".c") } }

    // MARK: the split

    /// Every runtime file (nn_runtime.h, nn_runtime.c, nn_rt_internal.h, each nn_rt_*.c) is byte
    /// for byte the same for every example and bench model in both dtypes, names no model, and
    /// is at most 600 lines.
    func testRuntimeIsTheSameFilesForEveryModelAndDtype() throws {
        XCTAssertEqual(Array(Self.runtimeNames.prefix(3)), ["nn_runtime.h", "nn_runtime.c", "nn_rt_internal.h"])
        XCTAssertGreaterThanOrEqual(Self.runtimeSources.count, 8, "\(Self.runtimeNames)")
        var first: [String: String] = [:]
        for (a, scalar) in try Self.everyModel() {
            let files = Self.files(a, scalar)
            for name in Self.runtimeNames {
                let text = try Self.file(files, name)
                if let earlier = first[name] {
                    XCTAssertTrue(text == earlier, "\(name) differs for \(a.model.name) \(scalar)")
                } else {
                    first[name] = text
                }
                XCTAssertFalse(text.contains(a.model.name), "\(name) names \(a.model.name)")
            }
        }
        XCTAssertEqual(Set(first.keys), Set(Self.runtimeNames))
        for (name, text) in first {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count - 1
            XCTAssertLessThanOrEqual(lines, 600, "\(name) has \(lines) lines")
        }
    }

    /// train.c, the model's part, is at most 300 lines for every example and bench model.
    func testTrainerIsAtMost300Lines() throws {
        for (a, scalar) in try Self.everyModel() {
            let lines = try Self.file(Self.files(a, scalar), "train.c").split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertLessThanOrEqual(lines.count - 1, 300, "\(a.model.name) \(scalar): train.c has \(lines.count - 1) lines")
        }
    }

    /// `compiler -std=c99 -O2 -Wall -Wextra -Werror -pedantic`, and again with each of `variants`,
    /// compiles the runtime and every example's and bench model's train.c (both dtypes) without a
    /// diagnostic; `make CC=compiler CFLAGS="-O2 -Wall -Wextra -Werror -pedantic"` (the Makefile adds
    /// -std=c99) builds the whole program of every example in float32, and of digits_mlp (labels)
    /// and diabetes (regression) in float64, without a diagnostic, and it runs. (The model code
    /// alone is EmittedCTests'.)
    func assertStrictProgramBuilds(_ compiler: String, variants: [String]) throws {
        let program = URL(fileURLWithPath: compiler).lastPathComponent
        let flags = "-O2 -Wall -Wextra -Werror -pedantic"
        let bench = Set(try exampleModelFiles(bench: true).map(\.model.name))
        func compiles(_ unit: String, in dir: URL, _ key: String) throws {
            for extra in [""] + variants {
                let args = ["-std=c99"] + flags.split(separator: " ").map(String.init)
                    + extra.split(separator: " ").map(String.init) + ["-c", unit, "-o", "\(unit).o"]
                let cc = try StandaloneTests.run(compiler, args, in: dir)
                XCTAssertEqual(cc.status, 0, "\(program) \(extra) \(key) \(unit): \(cc.stderr)")
                XCTAssertEqual(cc.stderr, "", "\(program) \(extra) \(key) \(unit)")
            }
        }
        var runtimeCompiled = false
        for (a, scalar) in try Self.everyModel() {
            let name = a.model.name, key = "\(program) \(name) \(scalar)"
            let dir = try write(Self.files(a, scalar), "nngen-strict-program")
            try compiles("train.c", in: dir, key)
            if !runtimeCompiled {
                for unit in Self.runtimeSources { try compiles(unit, in: dir, key) }
                runtimeCompiled = true
            }
            guard !bench.contains(name), scalar == .f32 || name == "digits_mlp" || name == "diabetes" else { continue }
            let make = try StandaloneTests.run("/usr/bin/env", ["make", "CC=\(compiler)", "CFLAGS=\(flags)"], in: dir)
            XCTAssertEqual(make.status, 0, "\(key): \(make.stderr)")
            XCTAssertEqual(make.stderr, "", key)
            XCTAssertTrue(make.stdout.contains("-std=c99"), make.stdout)
            let run = try StandaloneTests.run(dir.appendingPathComponent("train").path, ["--help"], in: dir)
            XCTAssertEqual(run.status, 0, key)
            XCTAssertTrue(run.stdout.contains("Trains model \"\(name)\" (\(scalar.rawValue)"), run.stdout)
        }
    }

    func testProgramBuildsWithStrictGCC() throws {
        guard let gcc = findProgram("gcc") else { throw XCTSkip("gcc is not installed") }
        try assertStrictProgramBuilds(gcc, variants: [])
    }

    func testProgramBuildsWithStrictClang() throws {
        guard let clang = findProgram("clang") else { throw XCTSkip("clang is not installed") }
        try assertStrictProgramBuilds(clang, variants: ["-march=native"])
    }

    // MARK: model names

    /// A model may be named like anything the program itself defines: every nn_/NN_/NNGEN_
    /// identifier of train.c and the runtime's headers (nn_runtime.h, which a model's header
    /// meets in one translation unit, and nn_rt_internal.h, whose functions the program links
    /// with the model's), every runtime file's name (its files then are nngen_*), main, model,
    /// C keywords and libm names. Each builds without a diagnostic and trains an epoch.
    func testModelsNamedLikeTheProgramsIdentifiersBuildAndRun() throws {
        let iris = try Model.load(from: kitTestsPackageRoot.appendingPathComponent("examples/iris.json"))
        let plain = Self.files(try iris.analyze(), .f32)
        let headers = Self.runtimeNames.filter { $0.hasSuffix(".h") }
        XCTAssertEqual(headers, ["nn_runtime.h", "nn_rt_internal.h"])
        let text = try Self.file(plain, "train.c") + headers.map { try Self.file(plain, $0) }.joined()
        let pattern = try NSRegularExpression(pattern: #"\b(?:nn|NN|NNGEN)_[A-Za-z0-9_]*"#)
        let found = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap {
            Range($0.range, in: text).map { String(text[$0]) }
        }
        let stems = Self.runtimeNames.map { String($0.prefix { $0 != "." }) }
        let names = Set(found + stems + stems.map { "nngen" + $0.dropFirst(2) }
                        + ["NN", "nn", "nn_model", "main", "model", "int", "exp", "train"]).sorted()
        XCTAssertTrue(names.contains("nn_train_main") && names.contains("NN_SCORE_CLASSES") && names.contains("nn_buf_add")
                      && names.contains("nn_rt_io") && names.contains("nngen_rt_internal"), "\(names)")
        for stem in stems {
            var model = iris
            model.name = stem
            let files = Self.files(try model.analyze(), .f32).map(\.name)
            let runtime = Self.runtimeNames.map { "nngen" + $0.dropFirst(2) }
            XCTAssertEqual(files, ["\(stem).h", "\(stem).c", "train.c"] + runtime + ["Makefile", "README.md"], stem)
        }
        // The runtime's objects do not depend on the model: the first build with each runtime
        // prefix (nn_, nngen_) compiles them, later ones with the same runtime texts reuse them
        // (copied in newer than their sources, so make compiles only train.c and the model).
        var built: [String: (dir: URL, files: [GeneratedFile])] = [:]
        let fm = FileManager.default
        for name in names {
            var model = iris
            model.name = name
            let files = Self.files(try model.analyze(), .f32)
            XCTAssertEqual(Set(files.map(\.name)).count, files.count, "\(name): two files share a name: \(files.map(\.name))")
            let dir = try write(files, "nngen-names")
            let runtime = Array(files[3..<(3 + Self.runtimeNames.count)])
            let prefix = Standalone.runtimePrefix(modelName: name)
            if let earlier = built[prefix], earlier.files == runtime {
                let old = Date(timeIntervalSinceNow: -3600)
                for f in runtime {
                    try fm.setAttributes([.modificationDate: old], ofItemAtPath: dir.appendingPathComponent(f.name).path)
                    guard f.name.hasSuffix(".c") else { continue }
                    let object = String(f.name.dropLast(2)) + ".o", to = dir.appendingPathComponent(object)
                    try fm.copyItem(at: earlier.dir.appendingPathComponent(object), to: to)
                    try fm.setAttributes([.modificationDate: Date()], ofItemAtPath: to.path)
                }
            }
            let make = try StandaloneTests.run("/usr/bin/env", ["make", "CC=\(StandaloneTests.compiler)",
                                                                "CFLAGS=-O0 \(StandaloneTests.strict)"], in: dir)
            XCTAssertEqual(make.status, 0, "\(name): \(make.stderr)")
            XCTAssertEqual(make.stderr, "", name)
            guard make.status == 0 else { continue }
            if built[prefix] == nil { built[prefix] = (dir, runtime) }
            let run = try StandaloneTests.run(dir.appendingPathComponent("train").path,
                                              [StandaloneTests.dataURL("iris.csv").path, "--epochs", "1"], in: dir)
            XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            XCTAssertEqual(try StandaloneTests.epochLines(run.stdout).count, 1, name)
        }
    }

    // MARK: memory

    /// The bundled data set of an example model: the longest name in examples/data that begins
    /// the model's name (digits.csv for digits_conv, diabetes.csv for diabetes_huber).
    static func dataName(forModel name: String) throws -> String {
        let dir = kitTestsPackageRoot.appendingPathComponent("examples/data")
        let stems = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".csv") }
            .map { String($0.dropLast(4)) }.filter { name.hasPrefix($0) }
        return try XCTUnwrap(stems.max { $0.count < $1.count }, "no data set for \(name)") + ".csv"
    }

    /// Built with -fsanitize=address,undefined and run with leak detection (each program built
    /// once): for every example model (examples/*.json) in f32, an epoch that saves and a resumed
    /// one; for labels (digits_mlp f32) and regression targets (diabetes f64), two saved epochs,
    /// a resumed third and a run with nothing left to train. Each exits 0 without a report
    /// (every buffer freed, nothing read out of bounds).
    func testSanitizedRunsReportNoLeak() throws {
        guard let gcc = findProgram("gcc") else { throw XCTSkip("gcc is not installed") }
        let examples = try FileManager.default.contentsOfDirectory(atPath: kitTestsPackageRoot.appendingPathComponent(
            "examples").path).filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertTrue(examples.contains("digits_mlp") && examples.contains("diabetes"), "\(examples)")
        let short = [["--epochs", "1", "--save", "ck.safetensors"], ["--epochs", "2", "--resume", "ck.safetensors"]]
        let long = [["--epochs", "2", "--save", "ck.safetensors"], ["--epochs", "3", "--resume", "ck.safetensors"],
                    ["--epochs", "2", "--resume", "ck.safetensors"]]
        var cases = examples.map { ($0, ScalarType.f32, $0 == "digits_mlp" ? long : short) }
        cases.append(("diabetes", .f64, long))
        for (name, scalar, runs) in cases {
            let data = try Self.dataName(forModel: name)
            let a = try Model.load(from: kitTestsPackageRoot.appendingPathComponent("examples/\(name).json")).analyze()
            let dir = try write(Self.files(a, scalar), "nngen-leaks")
            let make = try StandaloneTests.run("/usr/bin/env", [
                "make", "CC=\(gcc)", "CFLAGS=-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined",
            ], in: dir)
            XCTAssertEqual(make.status, 0, make.stderr)
            let env = ["ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1",
                       "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            let path = StandaloneTests.dataURL(data).path
            for args in runs {
                let r = try runProgram(dir.appendingPathComponent("train").path, [path] + args, in: dir, environment: env)
                if r.stderr.contains("LeakSanitizer has encountered a fatal error") {
                    throw XCTSkip("LeakSanitizer cannot run here (ptrace restricted?)")
                }
                XCTAssertEqual(r.status, 0, "\(name) \(scalar) \(args): \(r.stderr)")
                for word in ["LeakSanitizer", "AddressSanitizer", "runtime error"] {
                    XCTAssertFalse(r.stderr.contains(word), "\(name) \(args): \(r.stderr)")
                }
            }
        }
    }

    // MARK: --save

    /// A save killed mid-way leaves `.CKPT.tmp-PID-N` beside the checkpoint: the next save to the
    /// same path removes it (its process no longer runs), and keeps the temporaries of running
    /// processes, of other checkpoints and of other names.
    func testTheNextSaveRemovesStaleTemporaries() throws {
        let build = try StandaloneTests.build("digits_mlp", .f32)
        let dir = try scratchDirectory(self, "nngen-stale")
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/sh")
        gone.arguments = ["-c", "exit 0"]
        try gone.run()
        gone.waitUntilExit()
        let dead = gone.processIdentifier, alive = ProcessInfo.processInfo.processIdentifier
        let stale = [".ck.safetensors.tmp-\(dead)-0", ".ck.safetensors.tmp-\(dead)-17"]
        let kept = [".ck.safetensors.tmp-\(alive)-0", ".other.safetensors.tmp-\(dead)-0", ".ck.safetensors.tmp-x-0",
                    ".ck.safetensors.tmp-\(dead)-0.bak"]
        for name in stale + kept { try Data("partial".utf8).write(to: dir.appendingPathComponent(name)) }
        let run = try StandaloneTests.train(build, "digits.csv", ["--epochs", "1", "--save", "ck.safetensors"], in: dir)
        XCTAssertEqual(run.status, 0, run.stderr)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(left, (kept + ["ck.safetensors"]).sorted())
    }

    /// A --save path that names a folder, or lies in a missing folder, or under a file, is
    /// reported before anything is loaded or trained: exit 1, one line naming the path and the
    /// reason, nothing on standard output, nothing written.
    func testSavePathsThatCannotWorkAreReportedBeforeTraining() throws {
        let build = try StandaloneTests.build("digits_mlp", .f32)
        let dir = try scratchDirectory(self, "nngen-save-path")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("folder"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: dir.appendingPathComponent("file"))
        let prefix = "cannot write the file (any earlier file there is unchanged): "
        let cases = [
            ("folder", "it is a folder; --save needs a file name"),
            ("missing/ck.safetensors", "cannot write a temporary file in missing: the folder does not exist"),
            ("file/ck.safetensors", "cannot write a temporary file in file: a part of the path is not a folder"),
        ]
        for (path, reason) in cases {
            let run = try StandaloneTests.train(build, "digits.csv", ["--epochs", "1", "--save", path], in: dir)
            XCTAssertEqual(run.status, 1, path)
            XCTAssertEqual(run.stdout, "", path)
            XCTAssertEqual(run.stderr, "error: \(path): \(prefix)\(reason)\n", path)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["file", "folder"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("folder").path), [])
    }
}
