import CodeGen
import Foundation
import ModelSpec
import XCTest

/// The emitted C of every example model builds cleanly with strict gcc and with tcc, and runs
/// under AddressSanitizer and UndefinedBehaviorSanitizer with a small C driver exercising the
/// whole API. Needs `gcc` (skipped when missing) and, for the tcc test, the `tcc` program.
final class EmittedCTests: XCTestCase {
    static let strictFlags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]

    func gcc() throws -> String {
        guard let path = findProgram("gcc") else {
            throw XCTSkip("gcc is not installed (not found in PATH): the emitted-C build and sanitizer tests need it")
        }
        return path
    }

    /// Writes NAME.h and NAME.c for a model into `dir`.
    func writeC(_ a: ModelAnalysis, _ scalar: ScalarType, to dir: URL) throws -> String {
        let code = compile(a, options: CompileOptions(scalar: scalar)).code
        let name = a.model.name
        try Data(code.header.utf8).write(to: dir.appendingPathComponent("\(name).h"))
        try Data(code.source.utf8).write(to: dir.appendingPathComponent("\(name).c"))
        return name
    }

    /// Every example in both dtypes, and the bench models and the models of the check matrix
    /// (every layer and option) in float32, compiled with `compiler` and `strictFlags` plus each of
    /// `variants` in turn (`-c`): each build succeeds without a single diagnostic.
    func assertStrictBuilds(_ compiler: String, variants: [[String]], directory: String) throws {
        let dir = try scratchDirectory(self, directory)
        let runs = try exampleModelFiles(bench: false).flatMap { a in ScalarType.allCases.map { (a, $0) } }
            + (exampleModelFiles(bench: true) + CheckMatrixTests.matrixModels()).map { ($0, ScalarType.f32) }
        let program = URL(fileURLWithPath: compiler).lastPathComponent
        for (a, scalar) in runs {
            let name = try writeC(a, scalar, to: dir)
            for flags in variants {
                let r = try runProgram(compiler, Self.strictFlags + flags + ["-c", "\(name).c", "-o", "\(name)-\(scalar).o"],
                                       in: dir)
                XCTAssertEqual(r.status, 0, "\(program) \(flags) failed on \(name) \(scalar):\n\(r.stderr)")
                XCTAssertEqual(r.stderr, "", "\(program) \(flags) printed diagnostics for \(name) \(scalar)")
            }
        }
    }

    /// `gcc -std=c99 -O2 -Wall -Wextra -Werror -pedantic -c` on every model (`assertStrictBuilds`).
    func testStrictGCCBuildsEveryExampleWithoutDiagnostics() throws {
        try assertStrictBuilds(try gcc(), variants: [[]], directory: "nngen-strict")
    }

    /// The same with clang, once for the baseline instruction set, once with `-march=native`
    /// (the vector and FMA paths of the helpers) and once as libtcc gets the file
    /// (`-DNN_PRECOMPILED`: helpers declared, not defined). clang reports every `static` function
    /// a build never calls (-Wunused-function), so no build carries a dead function.
    func testStrictClangBuildsEveryExampleWithoutDiagnostics() throws {
        guard let clang = findProgram("clang") else {
            throw XCTSkip("clang is not installed (not found in PATH)")
        }
        try assertStrictBuilds(clang, variants: [[], ["-march=native"], ["-DNN_PRECOMPILED"]], directory: "nngen-clang")
    }

    /// Every example and bench model in both dtypes compiles with `tcc -Wall -c` without a diagnostic.
    func testTCCBuildsEveryExampleWithoutDiagnostics() throws {
        guard let tcc = findProgram("tcc") else {
            throw XCTSkip("the tcc program is not installed (not found in PATH); libtcc alone does not provide it")
        }
        let dir = try scratchDirectory(self, "nngen-tcc")
        for a in try exampleModelFiles(bench: false) + exampleModelFiles(bench: true) {
            for scalar in ScalarType.allCases {
                let name = try writeC(a, scalar, to: dir)
                let r = try runProgram(tcc, ["-Wall", "-c", "\(name).c", "-o", "\(name)-\(scalar).o"], in: dir)
                XCTAssertEqual(r.status, 0, "tcc failed on \(name) \(scalar):\n\(r.stderr)")
                XCTAssertEqual(r.stderr, "", "tcc printed diagnostics for \(name) \(scalar)")
            }
        }
    }

    /// Every example (float32, and float64 for two of them) built with a driver under
    /// `-fsanitize=address,undefined`: init, forward, backward with dx, forward again and backward
    /// with NULL (which must give the same parameter gradients), three train steps, predict with
    /// n=1 and n=batch, update. Buffers are allocated at exactly the header's sizes, so any read or
    /// write past them is reported. The run must exit 0, print nothing on stderr and give finite
    /// losses.
    func testSanitizedDriverRunsEveryExample() throws {
        let gcc = try gcc()
        let dir = try scratchDirectory(self, "nngen-asan")
        var runs: [(ModelAnalysis, ScalarType)] = []
        for a in try exampleModelFiles(bench: false) {
            runs.append((a, .f32))
            if a.model.name == "digits_conv" || a.model.name == "diabetes" { runs.append((a, .f64)) }
        }
        for (a, scalar) in runs {
            let name = try writeC(a, scalar, to: dir)
            let driver = "driver_\(name)_\(scalar).c"
            try Data(Self.driverSource(name: name, scalar: scalar, loss: a.model.loss).utf8)
                .write(to: dir.appendingPathComponent(driver))
            let exe = "run_\(name)_\(scalar)"
            let build = try runProgram(gcc, ["-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-fsanitize=address,undefined",
                                             "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
                                             driver, "\(name).c", "-o", exe, "-lm"], in: dir)
            XCTAssertEqual(build.status, 0, "building the sanitized driver for \(name) \(scalar) failed:\n\(build.stderr)")
            guard build.status == 0 else { continue }
            var env = ProcessInfo.processInfo.environment
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1"
            let run = try runProgram(dir.appendingPathComponent(exe).path, [], in: dir, environment: env)
            XCTAssertEqual(run.status, 0, "\(name) \(scalar) exited with \(run.status):\n\(run.stdout)\n\(run.stderr)")
            XCTAssertEqual(run.stderr, "", "\(name) \(scalar): sanitizer output")
            // The driver prints `loss L` lines: forward, then the three train steps.
            let losses = run.stdout.split(separator: "\n").filter { $0.hasPrefix("loss ") }.compactMap { Double($0.dropFirst(5)) }
            XCTAssertEqual(losses.count, 4, "\(name) \(scalar): \(run.stdout)")
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(name) \(scalar): \(losses)")
            XCTAssertTrue(losses.allSatisfy { $0 > 0 }, "\(name) \(scalar): every loss here is positive: \(losses)")
            XCTAssertTrue(run.stdout.contains("ok"), "\(name) \(scalar): \(run.stdout)")
            print("sanitized \(name) \(scalar): losses \(losses)")
        }
    }

    /// A C driver for NAME.h: every buffer from `alloc_exact` (64-byte aligned when its size
    /// allows, else aligned to the element, never padded, so the sanitizer sees the exact size).
    static func driverSource(name: String, scalar: ScalarType, loss: Loss) -> String {
        let R = scalar.cName
        let T = loss.usesLabels ? "int32_t" : R
        let fillY: String
        switch loss.targets {
        case .labels: fillY = "y[i] = (int32_t)(i % \(name)_OUTPUT_SIZE);"
        case .binary: fillY = "y[i] = (\(R))(i % 2);"
        case .values: fillY = "y[i] = (\(R))(nextu() * 2 - 1);"
        }
        return """
        #define _ISOC11_SOURCE
        #include <math.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "\(name).h"

        static uint64_t state = 88172645463325252ULL;
        static double nextu(void) {  /* xorshift64, uniform in [0, 1) */
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            return (double)(state >> 11) * (1.0 / 9007199254740992.0);
        }

        static void *alloc_exact(size_t count, size_t size) {
            size_t bytes = count * size;
            size_t align = bytes % 64 == 0 ? 64 : size;
            void *p = aligned_alloc(align, bytes);
            if (!p) { printf("allocation failed\\n"); exit(3); }
            memset(p, 0, bytes);
            return p;
        }

        static int all_finite(const \(R) *v, size_t n) {
            for (size_t i = 0; i < n; i++) if (!isfinite(v[i])) return 0;
            return 1;
        }

        int main(void) {
            const size_t in_count = (size_t)\(name)_BATCH * \(name)_INPUT_SIZE;
            const size_t out_count = (size_t)\(name)_BATCH * \(name)_OUTPUT_SIZE;
            \(R) *params = alloc_exact(\(name)_PARAM_COUNT, sizeof(\(R)));
            \(R) *grads = alloc_exact(\(name)_PARAM_COUNT, sizeof(\(R)));
            \(R) *grads_with_dx = alloc_exact(\(name)_PARAM_COUNT, sizeof(\(R)));
            \(R) *opt_state = alloc_exact(\(name)_OPT_STATE_COUNT, sizeof(\(R)));
            \(R) *arena = alloc_exact(\(name)_ARENA_COUNT, sizeof(\(R)));
            \(R) *x = alloc_exact(in_count, sizeof(\(R)));
            \(R) *dx = alloc_exact(in_count, sizeof(\(R)));
            \(T) *y = alloc_exact(\(name)_TARGET_COUNT, sizeof(\(T)));
            \(R) *one_row = alloc_exact(\(name)_INPUT_SIZE, sizeof(\(R)));
            \(R) *out_one = alloc_exact(\(name)_OUTPUT_SIZE, sizeof(\(R)));
            \(R) *out_all = alloc_exact(out_count, sizeof(\(R)));
            int64_t step = 0;
            int bad = 0;
            for (size_t i = 0; i < in_count; i++) x[i] = (\(R))(nextu() * 2 - 1);
            for (size_t i = 0; i < \(name)_TARGET_COUNT; i++) \(fillY)
            memcpy(one_row, x, \(name)_INPUT_SIZE * sizeof(\(R)));

            \(name)_init(params, 42);
            if (!all_finite(params, \(name)_PARAM_COUNT)) { printf("init gave non-finite parameters\\n"); bad = 1; }
            \(R) loss = \(name)_forward(params, x, y, arena);
            printf("loss %.9g\\n", (double)loss);
            \(name)_backward(params, x, y, grads, dx, arena);
            if (!all_finite(grads, \(name)_PARAM_COUNT) || !all_finite(dx, in_count)) { printf("non-finite gradients\\n"); bad = 1; }
            memcpy(grads_with_dx, grads, \(name)_PARAM_COUNT * sizeof(\(R)));
            /* backward may reuse what forward kept once it has read it: forward again first. */
            if (\(name)_forward(params, x, y, arena) != loss) { printf("forward is not repeatable\\n"); bad = 1; }
            \(name)_backward(params, x, y, grads, NULL, arena);
            if (memcmp(grads, grads_with_dx, \(name)_PARAM_COUNT * sizeof(\(R))) != 0) {
                printf("the gradients differ with and without dx\\n");
                bad = 1;
            }
            for (int s = 0; s < 3; s++) {
                \(R) l = \(name)_train_step(params, grads, opt_state, &step, x, y, (\(R))0.001, arena);
                printf("loss %.9g\\n", (double)l);
                if (!isfinite(l)) bad = 1;
            }
            if (step != 3) { printf("step is %lld after 3 train steps\\n", (long long)step); bad = 1; }
            \(name)_predict(params, one_row, 1, out_one, arena);
            \(name)_predict(params, x, \(name)_BATCH, out_all, arena);
            if (!all_finite(out_one, \(name)_OUTPUT_SIZE) || !all_finite(out_all, out_count)) { printf("non-finite outputs\\n"); bad = 1; }
            for (int j = 0; j < \(name)_OUTPUT_SIZE; j++) {
                if (out_one[j] != out_all[j]) { printf("predict n=1 and n=batch disagree on row 0\\n"); bad = 1; break; }
            }
            \(name)_update(params, grads, opt_state, &step, (\(R))0.001);
            if (step != 4 || !all_finite(params, \(name)_PARAM_COUNT)) { printf("update failed\\n"); bad = 1; }

            free(params); free(grads); free(grads_with_dx); free(opt_state); free(arena); free(x); free(dx); free(y);
            free(one_row); free(out_one); free(out_all);
            if (!bad) printf("ok\\n");
            return bad;
        }

        """
    }
}
