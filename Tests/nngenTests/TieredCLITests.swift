import Foundation
import XCTest

/// `--backend auto`, the default of train, predict, eval and grad (docs/TRAINING.md, "Back ends").
final class TieredCLITests: XCTestCase {
    /// A C compiler that always fails, for `NNGEN_CC`.
    private func brokenCompiler() throws -> URL {
        try fakeCompiler(named: "broken-cc", script: "echo 'broken-cc: error: no C today' >&2\nexit 1\n")
    }

    /// With NNGEN_CC naming a compiler that fails, the default run warns on stderr quoting it,
    /// trains on tcc to the end (exit 0) and says so in the summary.
    func testTrainWithAFailingCCBuildWarnsAndFinishesOnTCC() throws {
        let cc = try brokenCompiler()
        // NNGEN_AUTO_MIN_SECONDS=0: the build starts after the first step whatever the load; 300
        // epochs of digits (about 2 s) leave time for its failure to be seen.
        let r = try CLITests.run(["train", "--epochs", "300"], environment: ["NNGEN_CC": cc.path, "NNGEN_AUTO_MIN_SECONDS": "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains(", f32, auto, compiled in "), r.stdout)
        XCTAssertTrue(r.stderr.contains("warning: the cc build of digits_mlp failed, so training continues on tcc"), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(cc.path) exited with status 1:\nbroken-cc: error: no C today"), r.stderr)
        XCTAssertTrue(r.stdout.contains("  back end:      first step on tcc "), r.stdout)
        XCTAssertTrue(r.stdout.contains(" ms after compiling began; tcc throughout (the cc build failed: see the warning)\n"),
                      r.stdout)
        XCTAssertTrue(r.stdout.contains("epoch 300/300  train_loss "), r.stdout)
    }

    /// A short run never starts the cc build: it says so, and no compiler runs (a failing one warns of nothing).
    func testShortRunStaysOnTCCWithoutBuilding() throws {
        let r = try CLITests.run(["train", "--epochs", "2"], environment: ["NNGEN_CC": try brokenCompiler().path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertTrue(r.stdout.contains("tcc throughout (too little work left after the first step for a cc build to pay off)\n"),
                      r.stdout)
    }

    /// tcc has no threads; auto and cc take --threads.
    func testThreadsNeedCCOrAuto() throws {
        let r = try CLITests.run(["train", "--backend", "tcc", "--threads", "2"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--threads 2 needs --backend cc or auto (tcc has no OpenMP)"), r.stderr)
    }

    /// The help of every command that runs generated code names auto as the default; bench and
    /// check keep theirs.
    func testHelpNamesTheDefaults() throws {
        for command in ["train", "predict", "eval", "grad"] {
            let r = try CLITests.run([command, "--help"])
            XCTAssertTrue(r.stdout.contains("auto (the default"), "\(command): \(r.stdout)")
        }
        XCTAssertTrue(try CLITests.run(["bench", "--help"]).stdout.contains("cc (the default"))
        XCTAssertTrue(try CLITests.run(["check", "--help"]).stdout.contains("both (the default"))
    }
}
