import CodeGen
import DataIO
import Foundation
import ModelSpec
@testable import NNGenKit
import XCTest

/// The embedded target and the cross builds (issue 16, docs/EMBEDDED.md): the on-device trainer
/// of iris and digits runs on an emulated Cortex-M4 (qemu-system-arm, mps2-an386, semihosting)
/// and prints the same epoch losses as the same float32 code built for the host; the standalone
/// program built for aarch64 and run under qemu-aarch64 prints the same epoch lines and saves
/// the same checkpoint bytes as on x86 in float64; every example builds without a diagnostic with
/// both cross compilers; the footprint report takes its buffers from the generated header.
///
/// The cross tools come from scripts/install-deps.sh: a missing one FAILS these tests, unless
/// NNGEN_SKIP_CROSS_TESTS=1 is set (then they are skipped).
final class EmbeddedTargetTests: XCTestCase {
    /// The loss lines of the device and of the host are printed with 7 decimals: they may differ
    /// by this much (newlib's and glibc's expf/logf may round differently; they have matched exactly
    /// so far).
    static let deviceTolerance = 2e-7

    /// The largest stack frame of any function of a model's core in the device build.
    static let deviceFrameBound = 1024

    /// The path of a cross tool; fails the test when it is missing (skips under NNGEN_SKIP_CROSS_TESTS=1).
    func crossTool(_ name: String) throws -> String {
        if let path = findProgram(name) { return path }
        if ProcessInfo.processInfo.environment["NNGEN_SKIP_CROSS_TESTS"] == "1" {
            throw XCTSkip("\(name) is missing and NNGEN_SKIP_CROSS_TESTS=1")
        }
        XCTFail("\(name) is not installed: run scripts/install-deps.sh (or set NNGEN_SKIP_CROSS_TESTS=1 to skip)")
        throw CocoaError(.fileNoSuchFile)
    }

    func example(_ name: String) throws -> ModelAnalysis {
        let path = kitTestsPackageRoot.appendingPathComponent("examples/\(name).json").path
        return try Model.load(from: URL(fileURLWithPath: path)).analyze(file: path)
    }

    func dataFile(_ name: String) -> URL { kitTestsPackageRoot.appendingPathComponent("examples/data/\(name).csv") }

    /// Writes the embedded target of example `model` into a fresh directory.
    func writeDevice(_ model: String, data: String, rows: Int? = nil, epochs: Int,
                     initial: [Double]? = nil) throws -> URL {
        let a = try example(model)
        let dir = try scratchDirectory(self, "nngen-device-\(model)")
        let compilation = compile(a, options: CompileOptions(scalar: .f32, frozenApart: true))  // as emit compiles it
        let set = try EmbeddedTarget.data(from: dataFile(data), analysis: a, scalar: .f32, maxRows: rows)
        let options = DeviceOptions(epochs: epochs, seed: 5, learningRate: a.model.optimizer.learningRate,
                                    initialParameters: initial, parametersSource: "test")
        for f in Device.files(for: compilation, data: set, options: options) {
            try Data(f.contents.utf8).write(to: dir.appendingPathComponent(f.name))
        }
        return dir
    }

    /// The losses of "epoch E/N  loss L" lines, in order.
    func losses(_ text: String) -> [Double] {
        text.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.compactMap { Double($0.split(separator: " ").last!) }
    }

    func make(_ targets: [String], in dir: URL) throws {
        let r = try runProgram("/usr/bin/env", ["make", "-s"] + targets, in: dir)
        XCTAssertEqual(r.status, 0, "make \(targets) failed:\n\(r.stderr)")
    }

    /// Builds the device program for `core`, runs it under qemu-system-arm, and returns its output.
    func runOnQemu(_ dir: URL, machine: String, elf: String) throws -> String {
        let qemu = try crossTool("qemu-system-arm")
        let r = try runProgram(qemu, ["-M", machine, "-display", "none", "-monitor", "none", "-serial", "null",
                                      "-chardev", "stdio,id=semihosting",
                                      "-semihosting-config", "enable=on,target=native,chardev=semihosting", "-kernel", elf], in: dir)
        XCTAssertEqual(r.status, 0, "qemu \(machine) exited \(r.status):\n\(r.stdout)\n\(r.stderr)")
        return r.stdout
    }

    /// iris (150 rows, 6 epochs), digits_mlp (320 rows, 3 epochs) and the diabetes regression (128
    /// rows, 3 epochs: float targets) on the emulated Cortex-M4F: the loss falls (below `fall` x the
    /// first epoch's), every epoch's loss equals the host's within `deviceTolerance`, and the stack's
    /// high-water mark stays within the footprint's bound.
    func testIrisAndDigitsTrainOnEmulatedCortexM4LikeTheHost() throws {
        _ = try crossTool("arm-none-eabi-gcc")
        let runs: [(String, String, Int?, Int, Double)] = [("iris", "iris", nil, 6, 0.7), ("digits_mlp", "digits", 320, 3, 0.7),
                                                           ("diabetes", "diabetes", 128, 3, 0.99)]
        for (model, data, rows, epochs, fall) in runs {
            let dir = try writeDevice(model, data: data, rows: rows, epochs: epochs)
            try make(["m4", "host"], in: dir)
            let device = try runOnQemu(dir, machine: "mps2-an386", elf: "train_m4.elf")
            let host = try runProgram(dir.appendingPathComponent("train_host").path, [], in: dir).stdout
            let d = losses(device), h = losses(host)
            XCTAssertEqual(d.count, epochs, "\(model) on the M4 printed:\n\(device)")
            XCTAssertEqual(h.count, epochs, "\(model) on the host printed:\n\(host)")
            XCTAssertLessThan(d.last ?? .infinity, fall * (d.first ?? 0), "\(model): the loss does not fall:\n\(device)")
            for (x, y) in zip(d, h) { XCTAssertEqual(x, y, accuracy: Self.deviceTolerance, "\(model): device \(d), host \(h)") }
            let stackLine = device.split(separator: "\n").first { $0.hasPrefix("stack ") } ?? ""
            let used = Int(stackLine.split(separator: " ").dropFirst().first ?? "") ?? -1
            let bound = Footprint.of(compile(try example(model), options: CompileOptions(scalar: .f32)), core: .cortexM4)
                .ram.first { $0.name == "stack" }?.bytes ?? 0
            XCTAssertGreaterThan(used, 0, "no stack line in:\n\(device)")
            XCTAssertLessThanOrEqual(used, bound + 512, "\(model): the stack used (\(used) B) exceeds the bound \(bound) B + 512 B for the trainer")
        }
    }

    /// The goal of issue 16: the digits MLP fine-tuning its last layer (digits_mlp_finetune: the two
    /// hidden layers frozen) in under 64 KiB of RAM. The frozen parameters are in flash
    /// (`NAME_frozen_params`, const), RAM holds the 650 trained ones: the footprint's RAM total and
    /// what the linker places in RAM (arm-none-eabi-size's data + bss, plus the stack bound) are both
    /// below 65,536 B. On the emulated M4 the loss falls every epoch (by 2% over three) and equals the host build's within
    /// `deviceTolerance`, and the stack used stays within the bound.
    func testDigitsFineTuningFitsIn64KiBOnEmulatedCortexM4LikeTheHost() throws {
        let arm = try crossTool("arm-none-eabi-gcc")
        let a = try example("digits_mlp_finetune")
        // Starting parameters: fixed values within the initial bounds (frozen random features; the head trains on them).
        var state: UInt64 = 12_345
        let initial = a.parameters.flatMap { p -> [Double] in
            let bound = 1 / Double(p.role == .weight ? p.shape.dropFirst().reduce(1, *) : 64).squareRoot()
            return (0..<p.count).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Double(Float((Double(state >> 11) / Double(1 << 53) * 2 - 1) * bound))
            }
        }
        let dir = try writeDevice("digits_mlp_finetune", data: "digits", rows: 320, epochs: 3, initial: initial)
        let footprint = Footprint.of(compile(a, options: CompileOptions(scalar: .f32, frozenApart: true)), core: .cortexM4,
                                     dataRows: 320, embedsParameters: true, compiler: arm)
        XCTAssertTrue(footprint.measured)
        XCTAssertLessThan(footprint.ramBytes, 65_536, footprint.text)
        XCTAssertEqual(footprint.ram.first { $0.name == "trained parameters" }?.bytes, 650 * 4, footprint.text)
        XCTAssertEqual(footprint.flash.first { $0.name == "frozen parameters" }?.bytes, 16_576 * 4, footprint.text)
        XCTAssertEqual(footprint.flash.first { $0.name == "initial parameters" }?.bytes, 650 * 4, footprint.text)
        let stackBound = footprint.ram.first { $0.name == "stack" }?.bytes ?? 0
        XCTAssertLessThan(stackBound, 1024, footprint.text)

        try make(["m4", "host"], in: dir)
        let size = try runProgram(arm.replacingOccurrences(of: "gcc", with: "size"), ["train_m4.elf"], in: dir).stdout
        let fields = size.split(separator: "\n").dropFirst().first?.split(whereSeparator: { $0 == " " || $0 == "\t" })
            .compactMap { Int($0) } ?? []
        XCTAssertGreaterThanOrEqual(fields.count, 3, size)
        let linkedRAM = (fields.count >= 3 ? fields[1] + fields[2] : 0) + stackBound
        XCTAssertLessThan(linkedRAM, 65_536, "data + bss + stack bound of train_m4.elf:\n\(size)")
        XCTAssertGreaterThan(fields.first ?? 0, 16_576 * 4, "the frozen parameters are in flash (text):\n\(size)")

        let device = try runOnQemu(dir, machine: "mps2-an386", elf: "train_m4.elf")
        let host = try runProgram(dir.appendingPathComponent("train_host").path, [], in: dir).stdout
        let d = losses(device), h = losses(host)
        XCTAssertEqual(d.count, 3, device)
        XCTAssertEqual(h.count, 3, host)
        // From fixed (untrained) frozen layers the head learns slowly: 2.295, 2.257, 2.220 in 30 steps.
        XCTAssertEqual(d, d.sorted(by: >), "the loss does not fall every epoch:\n\(device)")
        XCTAssertLessThan(d.last ?? .infinity, 0.98 * (d.first ?? 0), "the loss does not fall:\n\(device)")
        for (x, y) in zip(d, h) { XCTAssertEqual(x, y, accuracy: Self.deviceTolerance, "device \(d), host \(h)") }
        let stackLine = device.split(separator: "\n").first { $0.hasPrefix("stack ") } ?? ""
        let used = Int(stackLine.split(separator: " ").dropFirst().first ?? "") ?? -1
        XCTAssertGreaterThan(used, 0, device)
        XCTAssertLessThanOrEqual(used, stackBound + 512, "stack used \(used) B, bound \(stackBound) B")
    }

    /// The device core of a frozen model reads the frozen parameters from `NAME_frozen_params`,
    /// and gives the same loss, gradients and update as the flat layout (the same arithmetic): one
    /// step of digits_mlp_finetune built both ways for the host.
    func testFrozenApartCoreComputesWhatTheFlatCoreComputes() throws {
        let a = try example("digits_mlp_finetune")
        let flat = compile(a, options: CompileOptions(scalar: .f32)).code
        let apart = compile(a, options: CompileOptions(scalar: .f32, frozenApart: true)).code
        XCTAssertFalse(flat.frozenApart)
        XCTAssertTrue(apart.frozenApart)
        XCTAssertTrue(apart.header.contains("#define digits_mlp_finetune_FROZEN_COUNT 16576 "), apart.header)
        XCTAssertTrue(apart.header.contains("extern const float digits_mlp_finetune_frozen_params[digits_mlp_finetune_FROZEN_COUNT];"))
        XCTAssertTrue(apart.source.contains("digits_mlp_finetune_frozen_params + 8320"), "layers.2.weight after layers.0's 8,320")
        XCTAssertFalse(flat.source.contains("frozen_params"))
        XCTAssertEqual(compile(try example("iris"), options: CompileOptions(scalar: .f32, frozenApart: true)).code.source,
                       compile(try example("iris"), options: CompileOptions(scalar: .f32)).code.source,
                       "no frozen parameters: frozenApart changes nothing")
        // One program runs both cores (renamed apart) on the same parameters and batch and prints both.
        let dir = try scratchDirectory(self, "nngen-frozen-apart")
        let n = "digits_mlp_finetune"
        try Data(flat.header.utf8).write(to: dir.appendingPathComponent("\(n).h"))
        try Data(flat.source.utf8).write(to: dir.appendingPathComponent("\(n).c"))
        try Data(apart.header.replacingOccurrences(of: n, with: "ft_apart").utf8).write(to: dir.appendingPathComponent("ft_apart.h"))
        try Data(apart.source.replacingOccurrences(of: n, with: "ft_apart").utf8).write(to: dir.appendingPathComponent("ft_apart.c"))
        // The parameters: fixed values, the frozen ones also as the const array the apart core reads.
        let values = (0..<a.parameterCount).map { "\(Float(Double(($0 * 7919) % 2001 - 1000) / 20_000))f" }
        let frozenCount = a.parameterCount - a.gradientCount
        let main = """
        #include <stdio.h>
        #include <string.h>
        #include "\(n).h"
        #include "ft_apart.h"
        static float p[\(n)_PARAM_COUNT], g[\(n)_GRAD_COUNT], s[\(n)_OPT_STATE_COUNT], arena[\(n)_ARENA_COUNT];
        static float q[ft_apart_GRAD_COUNT], g2[ft_apart_GRAD_COUNT], s2[ft_apart_OPT_STATE_COUNT], arena2[ft_apart_ARENA_COUNT];
        const float ft_apart_frozen_params[ft_apart_FROZEN_COUNT] = {\(values[..<frozenCount].joined(separator: ", "))};
        static const float start[\(n)_PARAM_COUNT] = {\(values.joined(separator: ", "))};
        static float x[\(n)_BATCH * \(n)_INPUT_SIZE];
        static int32_t y[\(n)_BATCH];
        int main(void) {
            int64_t t1 = 0, t2 = 0;
            int i, k = 0, step;
            memcpy(p, start, sizeof p);
            for (i = 0; i < \(n)_BATCH * \(n)_INPUT_SIZE; i++) x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
            for (i = 0; i < \(n)_BATCH; i++) y[i] = i % 10;
            memcpy(q, p + ft_apart_FROZEN_COUNT, sizeof q);  /* layer 4; layers 0 and 2 (the first 16,576) are frozen */
            for (step = 0; step < 3; step++) {
                float l1 = \(n)_train_step(p, g, s, &t1, x, y, 0.01f, arena);
                float l2 = ft_apart_train_step(q, g2, s2, &t2, x, y, 0.01f, arena2);
                printf("%.9g %.9g\\n", l1, l2);
            }
            for (i = 0; i < ft_apart_GRAD_COUNT; i++) k += memcmp(&p[ft_apart_FROZEN_COUNT + i], &q[i], sizeof(float)) != 0;
            printf("differing %d\\n", k);
            return 0;
        }
        """
        try Data(main.utf8).write(to: dir.appendingPathComponent("main.c"))
        let cc = try runProgram("/usr/bin/env", ["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
                                                 "-o", "both", "main.c", "\(n).c", "ft_apart.c", "-lm"], in: dir)
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let out = try runProgram(dir.appendingPathComponent("both").path, [], in: dir).stdout
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 4, out)
        for line in lines.prefix(3) {
            let v = line.split(separator: " ")
            XCTAssertEqual(v.count, 2, out)
            XCTAssertEqual(v.first, v.last, "the two cores' losses differ:\n\(out)")
        }
        XCTAssertEqual(lines.last, "differing 0", out)
    }

    /// The Cortex-M7 build (mps2-an500) prints the same losses as the host for iris.
    func testIrisTrainsOnEmulatedCortexM7LikeTheHost() throws {
        _ = try crossTool("arm-none-eabi-gcc")
        let dir = try writeDevice("iris", data: "iris", epochs: 3)
        try make(["m7", "host"], in: dir)
        let d = losses(try runOnQemu(dir, machine: "mps2-an500", elf: "train_m7.elf"))
        let h = losses(try runProgram(dir.appendingPathComponent("train_host").path, [], in: dir).stdout)
        XCTAssertEqual(d.count, 3)
        for (x, y) in zip(d, h) { XCTAssertEqual(x, y, accuracy: Self.deviceTolerance, "M7 \(d), host \(h)") }
    }

    /// --embed-params: training starts from the checkpoint's parameters. All zero, the hidden ReLU
    /// layer of iris stays dead (its gradients are zero), so the loss cannot fall below the class
    /// prior's (ln 3 = 1.0986 for balanced classes), while the seeded start falls below 0.5.
    func testEmbeddedParametersAreWhereTrainingStarts() throws {
        let a = try example("iris")
        let dir = try writeDevice("iris", data: "iris", epochs: 3, initial: [Double](repeating: 0, count: a.parameterCount))
        try make(["host"], in: dir)
        let zero = losses(try runProgram(dir.appendingPathComponent("train_host").path, [], in: dir).stdout)
        XCTAssertEqual(zero.count, 3)
        for l in zero { XCTAssertGreaterThan(l, 1.0, "from zero parameters: \(zero)") }
        let params = try String(contentsOf: dir.appendingPathComponent("iris_params.c"), encoding: .utf8)
        XCTAssertTrue(params.contains("const float iris_initial_params[iris_PARAM_COUNT] = {\n    0.0f, 0.0f,"))
    }

    /// The standalone program in float64, built with `-O2 -fno-math-errno` (no -march=native, so
    /// no FMA on x86) for x86-64 and for aarch64 (run by qemu-aarch64): the same epoch lines but
    /// the throughput, and byte-identical checkpoints: the kernels' arithmetic is the same on both
    /// (GNU vectors: SSE on x86, NEON on aarch64, same order) and glibc's exp and log agree here.
    func testStandaloneAarch64MatchesX86InFloat64() throws {
        let cc = try crossTool("aarch64-linux-gnu-gcc")
        let qemu = try crossTool("qemu-aarch64")
        for (model, data) in [("digits_mlp", "digits")] {
            var outputs: [String] = []
            var checkpoints: [Data] = []
            for arch in ["x86", "aarch64"] {
                let dir = try scratchDirectory(self, "nngen-\(arch)-\(model)")
                let compilation = compile(try example(model), options: CompileOptions(scalar: .f64))
                for f in Standalone.files(for: compilation) { try Data(f.contents.utf8).write(to: dir.appendingPathComponent(f.name)) }
                try make((arch == "x86" ? [] : ["CC=\(cc)"]) + ["CFLAGS=-O2 -fno-math-errno"], in: dir)
                let args = [dataFile(data).path, "--epochs", "2", "--seed", "3", "--save", "c.safetensors"]
                let r = arch == "x86"
                    ? try runProgram(dir.appendingPathComponent("train").path, args, in: dir)
                    : try runProgram(qemu, ["-L", "/usr/aarch64-linux-gnu", "./train"] + args, in: dir)
                XCTAssertEqual(r.status, 0, "\(arch) \(model): \(r.stderr)")
                outputs.append(r.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
                    .map { $0.components(separatedBy: "%").first ?? "" }.joined(separator: "\n"))
                checkpoints.append(try Data(contentsOf: dir.appendingPathComponent("c.safetensors")))
            }
            XCTAssertEqual(outputs[0].split(separator: "\n").count, 2, outputs[0])
            XCTAssertEqual(outputs[0], outputs[1], "\(model): epoch lines differ between x86 and aarch64")
            XCTAssertEqual(checkpoints[0], checkpoints[1], "\(model): checkpoints differ between x86 and aarch64")
        }
    }

    /// Every example in both dtypes builds without a diagnostic (`-std=c99 -O2 -Wall -Wextra -Werror
    /// -pedantic`) with arm-none-eabi-gcc for the Cortex-M4F (the device Makefile's flags) and with
    /// aarch64-linux-gnu-gcc (the vector path: NEON); so do iris's on-device trainer and start-up,
    /// and digits_mlp's standalone runtime for aarch64.
    func testEveryExampleBuildsStrictlyWithBothCrossCompilers() throws {
        let arm = try crossTool("arm-none-eabi-gcc"), a64 = try crossTool("aarch64-linux-gnu-gcc")
        let strict = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]
        let armFlags = DeviceCore.cortexM4.flags + DeviceCore.commonFlags
        let dir = try scratchDirectory(self, "nngen-cross-strict")
        for a in try exampleModelFiles(bench: false) {
            for scalar in ScalarType.allCases {
                let code = compile(a, options: CompileOptions(scalar: scalar, frozenApart: true)).code  // as the device builds it
                let name = a.model.name
                try Data(code.header.utf8).write(to: dir.appendingPathComponent("\(name).h"))
                try Data(code.source.utf8).write(to: dir.appendingPathComponent("\(name).c"))
                for (cc, flags) in [(arm, armFlags + ["-fstack-usage"]), (a64, [])] {
                    let r = try runProgram(cc, strict + flags + ["-c", "\(name).c", "-o", "\(name).o"], in: dir)
                    XCTAssertEqual(r.status, 0, "\(cc) on \(name) \(scalar):\n\(r.stderr)")
                    XCTAssertEqual(r.stderr, "", "\(cc) printed diagnostics for \(name) \(scalar)")
                }
                // The device build (NN_STATIC_LOCALS) keeps the kernels' panels off the stack: no frame above 1 KiB.
                let su = try String(contentsOf: dir.appendingPathComponent("\(name).su"), encoding: .utf8)
                for line in su.split(separator: "\n") {
                    let fields = line.split(separator: "\t")
                    guard fields.count >= 2, let bytes = Int(fields[1]) else { continue }
                    XCTAssertLessThanOrEqual(bytes, Self.deviceFrameBound, "\(name) \(scalar) on the M4: \(line)")
                }
            }
        }
        let device = try writeDevice("iris", data: "iris", epochs: 1)
        for file in ["train_device.c", "iris_data.c", "device_startup.c"] {
            let r = try runProgram(arm, strict + armFlags + ["-c", file, "-o", "x.o"], in: device)
            XCTAssertEqual(r.status, 0, "\(file):\n\(r.stderr)")
            XCTAssertEqual(r.stderr, "", "arm-none-eabi-gcc printed diagnostics for \(file)")
        }
        let standalone = try scratchDirectory(self, "nngen-a64-runtime")
        for f in Standalone.files(for: compile(try example("digits_mlp"))) where f.name.hasSuffix(".c") || f.name.hasSuffix(".h") {
            try Data(f.contents.utf8).write(to: standalone.appendingPathComponent(f.name))
        }
        for f in try FileManager.default.contentsOfDirectory(atPath: standalone.path) where f.hasSuffix(".c") {
            let r = try runProgram(a64, strict + ["-c", f, "-o", "x.o"], in: standalone)
            XCTAssertEqual(r.status, 0, "\(f):\n\(r.stderr)")
            XCTAssertEqual(r.stderr, "", "aarch64-linux-gnu-gcc printed diagnostics for \(f)")
        }
    }

    // MARK: footprint, limits, sizes (no cross tools needed)

    /// The RAM buffers are the header's macros times the scalar size (iris: 131 parameters, 262
    /// optimizer values, 736 arena values, a batch of 16 x 4 inputs and 16 labels).
    func testFootprintBuffersComeFromTheGeneratedHeader() throws {
        let c = compile(try example("iris"), options: CompileOptions(scalar: .f32))
        let f = Footprint.of(c, core: .cortexM4, dataRows: 150, embedsParameters: true, compiler: nil)
        let bytes = Dictionary(uniqueKeysWithValues: f.ram.map { ($0.name, $0.bytes) })
        XCTAssertEqual(bytes["parameters"], 524)
        XCTAssertEqual(bytes["gradients"], 524)
        XCTAssertEqual(bytes["optimizer state"], 4 * 262)
        XCTAssertEqual(bytes["arena"], 4 * 736)
        XCTAssertEqual(bytes["batch inputs"], 256)
        XCTAssertEqual(bytes["batch targets"], 64)
        XCTAssertEqual(bytes["shuffle order"], 300)
        XCTAssertFalse(f.measured)
        XCTAssertEqual(f.flash.first { $0.name == "embedded data" }?.bytes, 150 * (16 + 4))
        XCTAssertEqual(f.flash.first { $0.name == "initial parameters" }?.bytes, 524)
        XCTAssertEqual(Footprint.headerMacros(c.code.header, model: "iris")["ARENA_COUNT"], 736)
    }

    /// A RAM budget below the plan fails with the amount over, the largest buffers and what to change.
    func testRamBudgetErrorSaysHowMuchOverAndWhatToFreeze() throws {
        let a = try example("digits_mlp")
        let f = Footprint.of(compile(a, options: CompileOptions(scalar: .f32)), core: .cortexM4, compiler: nil)
        XCTAssertNoThrow(try f.check(ramBudget: f.ramBytes, analysis: a))
        XCTAssertThrowsError(try f.check(ramBudget: 256 * 1024, analysis: a)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("model digits_mlp needs "), text)
            XCTAssertTrue(text.contains(" over the --ram-budget of 256.0 KiB (262,144 B) (largest: optimizer state 134.6 KiB"), text)
            XCTAssertTrue(text.contains(ByteSize.text(f.ramBytes - 262_144) + " over"), text)
            XCTAssertTrue(text.contains("freeze (\"trainable\": false) or shrink layer layers[0] (8,320 parameters"), text)
            XCTAssertTrue(text.contains("use sgd without momentum"), text)
        }
    }

    /// --embed-data above its limit names the file, the size, and the rows that would fit.
    func testEmbedLimitErrorNamesTheFileAndTheRowsThatFit() throws {
        let a = try example("iris")
        XCTAssertThrowsError(try EmbeddedTarget.data(from: dataFile("iris"), analysis: a, scalar: .f32, limit: 1000)) { error in
            XCTAssertEqual("\(error)", "\(dataFile("iris").path): 150 rows take 2.93 KiB (3,000 B) as C arrays (20 bytes a "
                           + "row in f32), over the --embed-limit of 1000 B; embed at most 50 rows (--embed-rows 50) or "
                           + "raise --embed-limit")
        }
        XCTAssertThrowsError(try EmbeddedTarget.data(from: dataFile("iris"), analysis: a, scalar: .f32, maxRows: 10)) { error in
            XCTAssertTrue("\(error)".hasSuffix("iris.csv: 10 rows, fewer than one batch of 16 of model iris: the device could take no step"),
                          "\(error)")
        }
        let d = try EmbeddedTarget.data(from: dataFile("iris"), analysis: a, scalar: .f32, maxRows: 40)
        XCTAssertEqual(d.rows, 40)
        XCTAssertEqual(d.x.count, 160)
        XCTAssertEqual(d.labels?.count, 40)
        XCTAssertTrue(d.standardized)
        XCTAssertEqual(d.x[0..<40].reduce(0, +) / 40, 0, accuracy: 1, "standardised over the 40 rows")
    }

    /// --embed-params takes a checkpoint whose tensors fit, whatever its model's name or learning
    /// rate, and names the first tensor that differs otherwise.
    func testEmbedParamsChecksTheTensorsNotTheModelName() throws {
        let iris = try example("iris")
        let dir = try scratchDirectory(self, "nngen-embed-params")
        var other = iris.model
        other.name = "iris_pretrained"
        let values = (0..<iris.parameterCount).map { Double(Float(Double($0) / 1000)) }  // exact in f32
        let url = dir.appendingPathComponent("c.safetensors")
        try Checkpoint(model: other, scalar: .f32, parameters: values, optimizerState: [Double](repeating: 0, count: 262),
                       step: 3, epoch: 1, standardizer: try Standardizer(mean: [0, 0, 0, 0], std: [1, 1, 1, 1]), seed: 1,
                       validationSplit: 0.2).write(to: url)
        let loaded = try EmbeddedTarget.parameters(from: url, analysis: iris, scalar: .f32)
        XCTAssertEqual(loaded.parameters, values)
        XCTAssertThrowsError(try EmbeddedTarget.parameters(from: url, analysis: iris, scalar: .f64)) { error in
            XCTAssertEqual("\(error)", "\(url.path): the checkpoint holds f32 parameters; emit with --dtype f32")
        }
        let digits = try example("digits_mlp")
        XCTAssertThrowsError(try EmbeddedTarget.parameters(from: url, analysis: digits, scalar: .f32)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(url.path): the checkpoint's parameters do not fit model digits_mlp: "
                                              + "tensor 1 is "), "\(error)")
            XCTAssertTrue("\(error)".contains("[16, 4] in the checkpoint"), "\(error)")
            XCTAssertTrue("\(error)".contains("[128, 64] in the model"), "\(error)")
        }
    }

    /// A safetensors data file gives the rows its CSV gives (its inputs stored as float32).
    func testEmbedDataReadsSafetensorsLikeCSV() throws {
        let a = try example("iris")
        let csv = try EmbeddedTarget.data(from: dataFile("iris"), analysis: a, scalar: .f32)
        let set = try ModelData.load(dataFile("iris"), for: a)
        let url = try scratchDirectory(self, "nngen-embed-st").appendingPathComponent("iris.safetensors")
        try set.batchFile().write(to: url)
        let st = try EmbeddedTarget.data(from: url, analysis: a, scalar: .f32)
        XCTAssertEqual(st.rows, 150)
        XCTAssertEqual(st.labels, csv.labels)
        XCTAssertLessThan(maxRelativeError(st.x, csv.x), 1e-6)
        XCTAssertEqual(st.source, "iris.safetensors")
    }

    func testByteSizesParseAndPrint() {
        XCTAssertEqual(ByteSize.parse("65536"), 65_536)
        XCTAssertEqual(ByteSize.parse("64K"), 65_536)
        XCTAssertEqual(ByteSize.parse("256KiB"), 262_144)
        XCTAssertEqual(ByteSize.parse("256kb"), 262_144)
        XCTAssertEqual(ByteSize.parse("1MiB"), 1_048_576)
        XCTAssertNil(ByteSize.parse("1GB"))
        XCTAssertNil(ByteSize.parse("KiB"))
        XCTAssertNil(ByteSize.parse("-5K"))
        XCTAssertEqual(ByteSize.text(512), "512 B")
        XCTAssertEqual(ByteSize.text(65_024), "63.5 KiB (65,024 B)")
    }
}
