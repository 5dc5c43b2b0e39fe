import CodeGen
import Foundation
import ModelSpec
import NNGenKit
import XCTest

/// `make mpi` and `mpirun -np P ./train_mpi` (docs/TRAINING.md, Train on a cluster): P processes
/// with batch B end with the parameters of one process with batch P x B; errors on any process
/// end every process with one message; a killed process leaves the last checkpoint intact and
/// `--resume` (with any P, in train_mpi, ./train, `nngen train`) continues; OpenMP threads inside
/// each process change nothing; every example model builds with `make mpi`.
///
/// Open MPI (mpicc, mpirun) is a dependency (scripts/install-deps.sh): without it these tests
/// FAIL, unless NNGEN_SKIP_MPI=1 is set to skip them on purpose (docs/TESTING.md).
final class MPITests: XCTestCase {
    static let strict = "-O2 -Wall -Wextra -Werror -pedantic"
    static let iris = kitTestsPackageRoot.appendingPathComponent("examples/data/iris.csv").path
    static let digits = kitTestsPackageRoot.appendingPathComponent("examples/data/digits.csv").path

    /// mpirun's path; a failure when Open MPI is missing, a skip only with NNGEN_SKIP_MPI=1.
    func mpirun() throws -> String {
        if let run = findProgram("mpirun"), findProgram("mpicc") != nil { return run }
        if ProcessInfo.processInfo.environment["NNGEN_SKIP_MPI"] == "1" {
            throw XCTSkip("NNGEN_SKIP_MPI=1: the MPI tests are skipped on purpose")
        }
        XCTFail("mpicc or mpirun is missing: run scripts/install-deps.sh (Debian's openmpi-bin and libopenmpi-dev), "
                + "or set NNGEN_SKIP_MPI=1 to skip the MPI tests on purpose")
        throw XCTSkip("Open MPI is missing")
    }

    // MARK: building

    /// The runtime's objects of a first build with some flags, reused by later ones with the same
    /// flags (the runtime's texts are the same for every model).
    nonisolated(unsafe) private static var runtimeObjects: [String: URL] = [:]
    nonisolated(unsafe) private static var scratch: [URL] = []

    override class func tearDown() {
        for d in scratch { try? FileManager.default.removeItem(at: d) }
        scratch = []
        runtimeObjects = [:]
        super.tearDown()
    }

    /// `model` with its batch set to `batch`, emitted in `scalar` and built with `make TARGETS`
    /// (strict flags, no diagnostic from cc or mpicc; `cflags` replaces them), with the backward's
    /// gradient hooks as `nngen emit` writes them.
    func build(_ model: Model, batch: Int? = nil, _ scalar: ScalarType, cflags: String = strict,
               targets: [String] = ["train", "train_mpi"]) throws -> URL {
        var m = model
        if let batch { m.batch = batch }
        let files = Standalone.files(for: compile(try m.analyze(), options: CompileOptions(scalar: scalar, gradientHooks: true)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        Self.scratch.append(dir)
        let runtime = Set(Standalone.runtimeFiles(modelName: m.name).map(\.name))
        let old = Date(timeIntervalSinceNow: -3600)
        for f in files {
            let url = dir.appendingPathComponent(f.name)
            try Data(f.contents.utf8).write(to: url)
            if runtime.contains(f.name) { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: url.path) }
        }
        let reuse = Standalone.runtimePrefix(modelName: m.name) == "nn"
        if reuse, let from = Self.runtimeObjects[cflags] {
            for name in try FileManager.default.contentsOfDirectory(atPath: from.path) where name.hasSuffix(".o") {
                try FileManager.default.copyItem(at: from.appendingPathComponent(name), to: dir.appendingPathComponent(name))
            }
        }
        let make = try runProgram("/usr/bin/env", ["make"] + targets + ["CC=cc", "CFLAGS=\(cflags)"], in: dir)
        XCTAssertEqual(make.status, 0, "make for \(m.name): \(make.stderr)")
        XCTAssertEqual(make.stderr, "", "no diagnostic for \(m.name)")
        XCTAssertTrue(make.stdout.contains("mpicc ") || !targets.contains("train_mpi"), make.stdout)
        if reuse, Self.runtimeObjects[cflags] == nil {
            let keep = FileManager.default.temporaryDirectory.appendingPathComponent("nngen-mpi-rt-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: keep, withIntermediateDirectories: true)
            Self.scratch.append(keep)
            for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".o") {
                let stem = name.replacingOccurrences(of: ".mpi.o", with: "").replacingOccurrences(of: ".o", with: "")
                guard runtime.contains(stem + ".c") else { continue }
                try FileManager.default.copyItem(at: dir.appendingPathComponent(name), to: keep.appendingPathComponent(name))
            }
            Self.runtimeObjects[cflags] = keep
        }
        return dir
    }

    static func example(_ name: String) throws -> Model {
        try Model.load(from: kitTestsPackageRoot.appendingPathComponent("examples/\(name).json"))
    }

    // MARK: running

    /// `mpirun -q --oversubscribe` with one program per group (`-np N EXE ARGS`, `:` between
    /// groups), under a 60-second timeout (exit 124 then: a hang); `environment` added to ours.
    func mpi(_ groups: [(np: Int, exe: [String])], in dir: URL, environment: [String: String] = [:]) throws -> ProgramOutput {
        var args = ["60", try mpirun(), "-q", "--oversubscribe"]
        for (i, g) in groups.enumerated() { args += (i > 0 ? [":"] : []) + ["-np", "\(g.np)"] + g.exe }
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1" // CI runs as root
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return try runProgram("/usr/bin/timeout", args, in: dir, environment: env)
    }

    func trainMPI(_ dir: URL, np: Int, _ args: [String], environment: [String: String] = [:]) throws -> ProgramOutput {
        try mpi([(np, [dir.appendingPathComponent("train_mpi").path] + args)], in: dir, environment: environment)
    }

    /// The `error:` lines of an output.
    static func errors(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("error:") }
    }

    /// ||a - b|| / ||b||.
    static func normwise(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        let d = zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let n = b.reduce(0.0) { $0 + $1 * $1 }
        return n > 0 ? (d / n).squareRoot() : d.squareRoot()
    }

    /// The checkpoints `a` and `b` took the same number of steps and hold parameters and optimizer
    /// state within `tolerance` of each other, normwise; returns `a`.
    @discardableResult
    func assertCheckpointsAgree(_ a: URL, _ b: URL, within tolerance: Double, _ what: String,
                                file: StaticString = #filePath, line: UInt = #line) throws -> Checkpoint {
        let x = try Checkpoint.read(from: a), y = try Checkpoint.read(from: b)
        XCTAssertEqual(x.step, y.step, what, file: file, line: line)
        let dp = Self.normwise(x.parameters, y.parameters), ds = Self.normwise(x.optimizerState, y.optimizerState)
        XCTAssertLessThanOrEqual(dp, tolerance, "\(what): parameters differ by \(dp) normwise", file: file, line: line)
        XCTAssertLessThanOrEqual(ds, tolerance, "\(what): optimizer state differs by \(ds) normwise", file: file, line: line)
        return x
    }

    // MARK: equivalence

    /// A small residual model (Adam) for iris's 4 features and 3 classes.
    static func residual(_ name: String) -> Model {
        Model(name: name, input: .features(4), batch: 16,
              layers: [.dense(units: 16), .activation(.relu),
                       .residual([.dense(units: 16), .activation(.tanh), .dense(units: 16)]), .dense(units: 3)],
              loss: .softmaxCrossEntropy, optimizer: .adam(lr: 0.01))
    }

    /// A three-layer MLP (SGD with momentum) for iris with `layer` frozen: a gradient array shorter
    /// than the parameters, at other offsets.
    static func frozen(_ name: String, _ layer: String) -> Model {
        Model(name: name, input: .features(4), batch: 16,
              layers: [.dense(units: 12), .activation(.relu), .dense(units: 12), .activation(.relu), .dense(units: 3)],
              loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.05, momentum: 0.9), trainable: [layer: .frozen])
    }

    /// P = 2 and 3 processes of batch 16 against one process of batch 16 P (iris, adam, standardised,
    /// 8 epochs): the parameters and the optimizer state agree within 1e-12 normwise in float64 and
    /// 1e-5 in float32, the step counts are equal; one process of train_mpi writes ./train's bytes.
    func testPProcessesOfBatchBEqualOneProcessOfBatchPB() throws {
        _ = try mpirun()
        let iris = try Self.example("iris")
        for (scalar, tolerance) in [(ScalarType.f64, 1e-12), (.f32, 1e-5)] {
            let small = try build(iris, scalar)
            for p in [2, 3] {
                let big = try build(iris, batch: 16 * p, scalar, targets: ["train"])
                let one = try runProgram(big.appendingPathComponent("train").path,
                                         [Self.iris, "--epochs", "8", "--save", "one.st"], in: big)
                XCTAssertEqual(one.status, 0, one.stderr)
                let many = try trainMPI(small, np: p, [Self.iris, "--epochs", "8", "--save", "many.st"])
                XCTAssertEqual(many.status, 0, many.stderr)
                XCTAssertEqual(many.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.count, 8, many.stdout)
                XCTAssertTrue(many.stderr.contains("\(p) processes x batch 16 = global batch \(16 * p)"), many.stderr)
                let a = try assertCheckpointsAgree(small.appendingPathComponent("many.st"), big.appendingPathComponent("one.st"),
                                                   within: tolerance, "\(scalar) P=\(p)")
                XCTAssertEqual(a.step, Int64(8 * (120 / (16 * p))))
                XCTAssertEqual(a.epoch, 8)
            }
            // ./train links no MPI library (cc built nn_rt_mpi.c without NN_MPI or mpi.h); train_mpi does.
            let plainLibs = try runProgram("/usr/bin/env", ["ldd", small.appendingPathComponent("train").path], in: small)
            let mpiLibs = try runProgram("/usr/bin/env", ["ldd", small.appendingPathComponent("train_mpi").path], in: small)
            XCTAssertFalse(plainLibs.stdout.contains("libmpi"), plainLibs.stdout)
            XCTAssertTrue(mpiLibs.stdout.contains("libmpi"), mpiLibs.stdout)
            // One process: the same file as ./train, byte for byte.
            let plain = try runProgram(small.appendingPathComponent("train").path,
                                       [Self.iris, "--epochs", "3", "--save", "plain.st"], in: small)
            XCTAssertEqual(plain.status, 0, plain.stderr)
            let single = try trainMPI(small, np: 1, [Self.iris, "--epochs", "3", "--save", "single.st"])
            XCTAssertEqual(single.status, 0, single.stderr)
            XCTAssertEqual(try Data(contentsOf: small.appendingPathComponent("plain.st")),
                           try Data(contentsOf: small.appendingPathComponent("single.st")), "\(scalar)")
        }
    }

    /// One copy of the model per machine (the default: parameters and optimizer state in an MPI-3
    /// shared window, each process averaging and updating its slice) against a copy per process
    /// (NN_MPI_SHARED=0, one MPI_Allreduce): for 2 processes the same checkpoint byte for byte
    /// (a + b either way) for an Adam residual model, a momentum model with a frozen layer (a shorter
    /// gradient array, parameters and gradients at different offsets) and float32 iris; with
    /// --clip-norm (the norm summed per slice) within 1e-12 in float64. Between machines
    /// (NN_MPI_MACHINE_SIZE=k takes every k ranks as one): 4 processes as 2 machines of 2 and 6 as 2
    /// of 3 (a shared sum per machine, an MPI_Allreduce of each slice between them) and 3 processes as
    /// machines of 2 and 1 (not shared: a copy per process, said so) end within 1e-12 of one process
    /// of batch P x 16, all with --clip-norm.
    func testOneCopyPerMachineEqualsOneAllreduce() throws {
        _ = try mpirun()
        let residual = Self.residual("shr_res"), frozen = Self.frozen("shr_frozen", "layers[0]")
        let unshared = ["NN_MPI_SHARED": "0"]
        for (model, scalar) in [(residual, ScalarType.f64), (frozen, .f64), (try Self.example("iris"), .f32)] {
            let dir = try build(model, scalar, targets: ["train_mpi"])
            let shared = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "6", "--save", "shared.st"])
            XCTAssertEqual(shared.status, 0, shared.stderr)
            XCTAssertTrue(shared.stderr.contains("one copy of the model per machine (1 machine of 2 processes, each updating 1/2 "
                                                 + "of the parameters); averaging and updating: "), shared.stderr)
            let copies = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "6", "--save", "copies.st"], environment: unshared)
            XCTAssertEqual(copies.status, 0, copies.stderr)
            XCTAssertTrue(copies.stderr.contains("gradient allreduce of"), copies.stderr)
            func lines(_ out: String) -> [String] { // the epoch lines without their speed
                out.split(separator: "\n").map { $0.replacingOccurrences(of: #"  \d+ samples/s"#, with: "", options: .regularExpression) }
            }
            XCTAssertEqual(lines(shared.stdout), lines(copies.stdout), "\(model.name)")
            XCTAssertEqual(lines(shared.stdout).count, 6, shared.stdout)
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("shared.st")),
                           try Data(contentsOf: dir.appendingPathComponent("copies.st")), "\(model.name) \(scalar)")
            guard scalar == .f64 else { continue }
            for (name, env) in [("clip-shared", [String: String]()), ("clip-copies", unshared)] {
                let r = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "6", "--clip-norm", "0.5", "--save", "\(name).st"],
                                     environment: env)
                XCTAssertEqual(r.status, 0, r.stderr)
            }
            try assertCheckpointsAgree(dir.appendingPathComponent("clip-shared.st"), dir.appendingPathComponent("clip-copies.st"),
                                       within: 1e-12, "\(model.name) clipped")
        }
        // Between machines: 2 machines of 2 processes, and machines of 2 and 1 (not shared).
        let small = try build(residual, .f64, targets: ["train_mpi"])
        for (p, k, says) in [(4, 2, "one copy of the model per machine (2 machines of 2 processes, each updating 1/2 of the "
                                 + "parameters); between machines, an MPI_Allreduce of"),
                             (6, 3, "one copy of the model per machine (2 machines of 3 processes, each updating 1/3 of the "
                                 + "parameters); between machines, an MPI_Allreduce of"),
                             (3, 2, "a copy of the model in every process: the machines run different numbers of processes")] {
            let big = try build(residual, batch: 16 * p, .f64, targets: ["train"])
            let one = try runProgram(big.appendingPathComponent("train").path,
                                     [Self.iris, "--epochs", "8", "--clip-norm", "0.5", "--save", "one.st"], in: big)
            XCTAssertEqual(one.status, 0, one.stderr)
            let many = try trainMPI(small, np: p, [Self.iris, "--epochs", "8", "--clip-norm", "0.5", "--save", "many\(p).st"],
                                    environment: ["NN_MPI_MACHINE_SIZE": "\(k)"])
            XCTAssertEqual(many.status, 0, many.stderr)
            XCTAssertTrue(many.stderr.contains(says), many.stderr)
            try assertCheckpointsAgree(small.appendingPathComponent("many\(p).st"), big.appendingPathComponent("one.st"),
                                       within: 1e-12, "P=\(p) between machines")
        }
    }

    /// Too little room for the shared windows (a 1 MB tmpfs as Open MPI's osc_sm_backing_directory,
    /// where the model needs more; Docker's 64 MB /dev/shm is the case in the field): no crash and no
    /// hang, but a line saying why and how to fix it, a copy per process, and the checkpoint of the
    /// run with room. Needs root and mount(8) for the tmpfs (CI runs as root); skipped where the
    /// mount is refused.
    func testTooLittleSharedMemoryFallsBackToACopyPerProcess() throws {
        _ = try mpirun()
        let model = Model(name: "shm_small", input: .features(4), batch: 16,
                          layers: [.dense(units: 256), .activation(.relu), .dense(units: 256), .activation(.relu), .dense(units: 3)],
                          loss: .softmaxCrossEntropy, optimizer: .adam(lr: 0.001))
        let dir = try build(model, .f64, targets: ["train_mpi"])
        let shm = dir.appendingPathComponent("shm")
        try FileManager.default.createDirectory(at: shm, withIntermediateDirectories: true)
        let mount = try runProgram("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", shm.path], in: dir)
        guard mount.status == 0 else { throw XCTSkip("cannot mount a tmpfs here: \(mount.stderr)") }
        defer { _ = try? runProgram("/usr/bin/env", ["umount", shm.path], in: dir) }
        let roomy = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "3", "--save", "roomy.st"])
        XCTAssertEqual(roomy.status, 0, roomy.stderr)
        XCTAssertTrue(roomy.stderr.contains("one copy of the model per machine"), roomy.stderr)
        let cramped = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "3", "--save", "cramped.st"],
                                   environment: ["OMPI_MCA_osc_sm_backing_directory": shm.path])
        XCTAssertEqual(cramped.status, 0, cramped.stderr)
        XCTAssertTrue(cramped.stderr.contains("a copy of the model in every process: \(shm.path) has "), cramped.stderr)
        XCTAssertTrue(cramped.stderr.contains("MB free, the shared model needs "), cramped.stderr)
        XCTAssertTrue(cramped.stderr.contains("--shm-size"), cramped.stderr)
        XCTAssertTrue(cramped.stderr.contains("gradient allreduce of"), cramped.stderr)
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("roomy.st")),
                       try Data(contentsOf: dir.appendingPathComponent("cramped.st")))
    }

    /// The overlap of the averaging with the backward (NN_GRADS_READY hooks, MPI_Iallreduce slices):
    /// on (NN_MPI_OVERLAP=1) with a slice started at every hook (NN_MPI_SLICE=1), on with the default
    /// slices (none for models this small: one MPI_Allreduce) and off (the default), 2 processes write the same
    /// checkpoint byte for byte, with --clip-norm, for a residual model and one with a frozen layer
    /// (a shorter gradient array); 3 processes with every hook's slice end within 1e-12 (float64) of
    /// one process of batch 3 x 16. The hooks are in the backward and the report counts the slices.
    func testOverlappedAveragingEqualsOneAllreduce() throws {
        _ = try mpirun()
        let residual = Self.residual("ovl_res"), frozen = Self.frozen("ovl_frozen", "layers[2]")
        // off: the default, whatever the slice (NN_MPI_SLICE=1 would start slices if it were on)
        // NN_MPI_SHARED=0: a copy of the model per process, whose averaging the overlap is about
        let every = ["NN_MPI_OVERLAP": "1", "NN_MPI_SLICE": "1", "NN_MPI_SHARED": "0"],
            on = ["NN_MPI_OVERLAP": "1", "NN_MPI_SHARED": "0"], off = ["NN_MPI_SLICE": "1", "NN_MPI_SHARED": "0"]
        for model in [residual, frozen] {
            let dir = try build(model, .f64, targets: ["train_mpi"])
            let source = try String(contentsOf: dir.appendingPathComponent("\(model.name).c"), encoding: .utf8)
            let hooks = source.components(separatedBy: "    NN_GRADS_READY(").count - 1
            XCTAssertEqual(hooks, model.name == "ovl_res" ? 8 : 4, "a weight's and a bias's hook per layer that trains")
            var runs: [String: Data] = [:]
            for (mode, env) in [("every", every), ("on", on), ("off", off)] {
                let r = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "6", "--clip-norm", "0.5", "--save", "\(mode).st"],
                                     environment: env)
                XCTAssertEqual(r.status, 0, r.stderr)
                XCTAssertEqual(r.stderr.contains("allreduce overlapped with the backward"), mode == "every", "\(mode): \(r.stderr)")
                if mode == "every" { // every hook extended the finished range: a slice each
                    XCTAssertTrue(r.stderr.contains(": \(hooks).0 slices a step started inside it"), r.stderr)
                }
                runs[mode] = try Data(contentsOf: dir.appendingPathComponent("\(mode).st"))
            }
            XCTAssertEqual(runs["every"], runs["off"], "\(model.name): overlapped and one allreduce differ")
            XCTAssertEqual(runs["on"], runs["off"], "\(model.name)")
        }
        // 3 processes, a slice at every hook, against one process of batch 48 (both clipped).
        let small = try build(residual, .f64, targets: ["train_mpi"])
        let big = try build(residual, batch: 48, .f64, targets: ["train"])
        let one = try runProgram(big.appendingPathComponent("train").path,
                                 [Self.iris, "--epochs", "8", "--clip-norm", "0.5", "--save", "one.st"], in: big)
        XCTAssertEqual(one.status, 0, one.stderr)
        let many = try trainMPI(small, np: 3, [Self.iris, "--epochs", "8", "--clip-norm", "0.5", "--save", "many.st"],
                                environment: every)
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertTrue(many.stderr.contains(": 8.0 slices a step started inside it"), many.stderr)
        try assertCheckpointsAgree(small.appendingPathComponent("many.st"), big.appendingPathComponent("one.st"),
                                   within: 1e-12, "P=3 overlapped")
    }

    /// Two OpenMP threads in each of 2 processes (a model whose products are shared among
    /// threads) write the same checkpoint, byte for byte, as one thread (one epoch of 11 steps).
    func testThreadsInsideEachProcessChangeNothing() throws {
        _ = try mpirun()
        let model = Model(name: "wide", input: .features(64), batch: 64,
                          layers: [.dense(units: 512), .activation(.relu), .dense(units: 10)],
                          loss: .softmaxCrossEntropy, optimizer: .sgd(lr: 0.05, momentum: 0.9))
        let plain = try build(model, .f32, targets: ["train_mpi"])
        let threaded = try build(model, .f32, cflags: Self.strict + " -fopenmp -DNN_THREADS=2", targets: ["train_mpi"])
        XCTAssertTrue(try String(contentsOf: threaded.appendingPathComponent("wide.c"), encoding: .utf8)
            .contains("NN_PARALLEL_FOR\n"), "the model has no threaded loop")
        for dir in [plain, threaded] {
            let r = try trainMPI(dir, np: 2, [Self.digits, "--epochs", "1", "--save", "t.st"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertEqual(try Data(contentsOf: plain.appendingPathComponent("t.st")),
                       try Data(contentsOf: threaded.appendingPathComponent("t.st")))
    }

    // MARK: faults

    /// A bad data file on every process, a missing file on one process only (mpirun's two-program
    /// form), a bad flag (on every process; on process 1 only), a folder given to --save: one
    /// message, the right exit code, no hang.
    func testErrorsOnAnyProcessEndEveryProcessWithOneMessage() throws {
        _ = try mpirun()
        let dir = try build(try Self.example("iris"), .f64)
        let exe = dir.appendingPathComponent("train_mpi").path
        let bad = dir.appendingPathComponent("bad.csv")
        let good = try String(contentsOfFile: Self.iris, encoding: .utf8).split(separator: "\n").prefix(6)
        try (good.joined(separator: "\n") + "\n5.0,3.1,x,0.2,0\n").write(to: bad, atomically: true, encoding: .utf8)

        let all = try trainMPI(dir, np: 3, [bad.path])
        XCTAssertEqual(all.status, 1, all.stderr)
        XCTAssertEqual(Self.errors(all.stderr), ["error: \(bad.path), line 7, column 3: \"x\" is not a number"], all.stderr)

        for missingOn in [0, 1] {
            let args = [[exe, Self.iris, "--epochs", "2"], [exe, "/nonexistent/data.csv", "--epochs", "2"]]
            let r = try mpi([(1, args[missingOn == 0 ? 1 : 0]), (1, args[missingOn == 0 ? 0 : 1])], in: dir)
            XCTAssertEqual(r.status, 1, "missing on rank \(missingOn): \(r.stderr)")
            XCTAssertEqual(Self.errors(r.stderr), ["error: /nonexistent/data.csv: cannot read the file: no such file"],
                           "missing on rank \(missingOn)")
            XCTAssertEqual(r.stdout, "", "no epoch trained")
        }

        let usage = try trainMPI(dir, np: 2, [Self.iris, "--epochs", "zero"])
        XCTAssertEqual(usage.status, 2, usage.stderr)
        XCTAssertEqual(usage.stderr.components(separatedBy: "--epochs needs a positive integer, got 'zero'").count, 2,
                       usage.stderr)

        let bogus = try mpi([(1, [exe, Self.iris]), (1, [exe, Self.iris, "--bogus"])], in: dir)
        XCTAssertNotEqual(bogus.status, 0, bogus.stderr)
        XCTAssertEqual(bogus.stderr.components(separatedBy: "unknown option '--bogus'").count, 2, bogus.stderr)
        XCTAssertEqual(bogus.stdout, "", "no epoch trained")

        let folder = try trainMPI(dir, np: 2, [Self.iris, "--save", dir.path])
        XCTAssertEqual(folder.status, 1, folder.stderr)
        XCTAssertEqual(Self.errors(folder.stderr).count, 1, folder.stderr)
        XCTAssertTrue(folder.stderr.contains("it is a folder; --save needs a file name"), folder.stderr)
    }

    /// Process 1 killed (SIGKILL) while training with --save: the job ends, the last checkpoint
    /// reads back whole, and it continues with 3 processes, with ./train, `nngen train` and
    /// `nngen eval`.
    func testKilledProcessKeepsTheCheckpointAndResumeContinues() throws {
        let mpirun = try mpirun()
        let dir = try build(try Self.example("iris"), .f64)
        let exe = dir.appendingPathComponent("train_mpi").path
        let ck = dir.appendingPathComponent("ck.st"), pid = dir.appendingPathComponent("rank1.pid")
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        let args = [Self.iris, "--epochs", "100000000", "--save", ck.path]
        p.arguments = ["60", mpirun, "-q", "--oversubscribe", "-np", "1", exe] + args
            + [":", "-np", "1", "/bin/sh", "-c", "echo $$ > \(pid.path); exec \"$0\" \"$@\"", exe] + args
        p.environment = env
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let fm = FileManager.default
        let deadline = Date(timeIntervalSinceNow: 30)
        while !(fm.fileExists(atPath: ck.path) && fm.fileExists(atPath: pid.path)) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let text = try String(contentsOf: pid, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let rank1 = try XCTUnwrap(Int32(text), "rank 1's pid: \(text)")
        XCTAssertEqual(kill(rank1, SIGKILL), 0)
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertNotEqual(p.terminationStatus, 124, "the job hung after a process was killed")

        let saved = try Checkpoint.read(from: ck)
        XCTAssertGreaterThanOrEqual(saved.epoch, 1)
        XCTAssertEqual(saved.step, Int64(saved.epoch * (120 / 32)))
        let e = saved.epoch
        let resumed = try trainMPI(dir, np: 3, [Self.iris, "--resume", ck.path, "--epochs", "\(e + 2)", "--save", "r.st"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.hasPrefix("epoch \(e + 1)/\(e + 2)  train_loss "), resumed.stdout)
        XCTAssertEqual(try Checkpoint.read(from: dir.appendingPathComponent("r.st")).step, saved.step + 2 * Int64(120 / 48))

        let plain = try runProgram(dir.appendingPathComponent("train").path, [Self.iris, "--resume", ck.path, "--epochs", "\(e + 1)"],
                                   in: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.hasPrefix("epoch \(e + 1)/\(e + 1)  train_loss "), plain.stdout)

        let nngen = try Self.nngenBinary()
        let model = kitTestsPackageRoot.appendingPathComponent("examples/iris.json").path
        let train = try runProgram(nngen, ["train", model, "--data", Self.iris, "--resume", ck.path, "--epochs", "\(e + 1)",
                                           "--backend", "cc"], in: dir)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("epoch \(e + 1)/\(e + 1)  train_loss "), train.stdout)
        let eval = try runProgram(nngen, ["eval", model, "--params", ck.path, "--data", Self.iris], in: dir)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.hasPrefix("iris on \(Self.iris): 150 samples\nloss      "), eval.stdout)
    }

    /// The nngen binary built with the tests (next to the test bundle, else .build/debug).
    static func nngenBinary() throws -> String {
        let candidates = [Bundle(for: MPITests.self).bundleURL.deletingLastPathComponent(),
                          kitTestsPackageRoot.appendingPathComponent(".build/debug")]
        let found = candidates.map { $0.appendingPathComponent("nngen").path }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        return try XCTUnwrap(found, "no nngen binary in \(candidates.map(\.path))")
    }

    // MARK: every example

    /// `make mpi` builds train_mpi for every example model (float32; -O0 for speed, with the
    /// strict warnings: no diagnostic), and each trains 2 epochs on its data set with 2 processes
    /// sharing one copy of the model. (./train's objects, the same but for nn_rt_mpi.c, are built
    /// with -O2 by StandaloneRuntimeTests.)
    func testEveryExampleBuildsWithMakeMPI() throws {
        _ = try mpirun()
        for a in try exampleModelFiles(bench: false) {
            let dir = try build(a.model, .f32, cflags: "-O0 -Wall -Wextra -Werror -pedantic", targets: ["mpi"])
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("train_mpi").path))
            // Every example trains on its data set with 2 processes (one copy of the model between them).
            guard let data = ["iris", "digits", "diabetes", "breast_cancer"].first(where: { a.model.name.hasPrefix($0) }) else {
                XCTFail("\(a.model.name): which data set of examples/data does it train on?")
                continue
            }
            let path = kitTestsPackageRoot.appendingPathComponent("examples/data/\(data).csv").path
            let r = try trainMPI(dir, np: 2, [path, "--epochs", "2"])
            XCTAssertEqual(r.status, 0, "\(a.model.name): \(r.stderr)")
            XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.count, 2, r.stdout)
            XCTAssertTrue(r.stderr.contains("one copy of the model per machine"), "\(a.model.name): \(r.stderr)")
        }
    }
}
