import CodeGen
import Foundation
import ModelSpec
import XCTest

/// Model names that are C identifiers the system also uses: the header guard of `_stdint` must
/// not be `<stdint.h>`'s, and C keywords and libc names work because every identifier is prefixed.
final class ModelNameCTests: XCTestCase {
    func testSystemLikeNamesBuildWithStrictGCC() throws {
        guard let gcc = findProgram("gcc") else { throw XCTSkip("gcc is not installed") }
        let dir = try scratchDirectory(self, "nngen-names")
        for name in ["_stdint", "_stddef", "_features", "_stdio", "_math", "int", "main", "exp", "float", "NULL"] {
            let a = try analyzeTestModel(name, input: .features(3), loss: .mse,
                                         [.dense(units: 4), .activation(.tanh), .dense(units: 1)])
            let code = compile(a, options: CompileOptions(scalar: .f32)).code
            XCTAssertTrue(code.header.contains("#ifndef NNGEN_\(name)_H\n#define NNGEN_\(name)_H\n"), "the guard of \(name)")
            try Data(code.header.utf8).write(to: dir.appendingPathComponent("\(name).h"))
            try Data(code.source.utf8).write(to: dir.appendingPathComponent("\(name).c"))
            // The header with the system headers before and after it, twice (its guard works).
            let driver = """
            #include <stdio.h>
            #include <stddef.h>
            #include "\(name).h"
            #include "\(name).h"
            #include <stdint.h>
            #include <math.h>
            int main(void) {
                static float params[\(name)_PARAM_COUNT];
                int32_t n = \(name)_BATCH;
                \(name)_init(params, 1);
                printf("%d %d\\n", (int)n, (int)(sizeof params / sizeof params[0]));
                return 0;
            }

            """
            try Data(driver.utf8).write(to: dir.appendingPathComponent("driver_\(name).c"))
            let r = try runProgram(gcc, EmittedCTests.strictFlags + ["\(name).c", "driver_\(name).c", "-o", "prog_\(name)", "-lm"],
                                   in: dir)
            XCTAssertEqual(r.status, 0, "gcc failed on \(name):\n\(r.stderr)")
            XCTAssertEqual(r.stderr, "", "gcc printed diagnostics for \(name)")
            if r.status == 0 {
                let run = try runProgram(dir.appendingPathComponent("prog_\(name)").path, [], in: dir)
                XCTAssertEqual(run.status, 0, "\(name): \(run.stderr)")
            }
        }
    }
}
