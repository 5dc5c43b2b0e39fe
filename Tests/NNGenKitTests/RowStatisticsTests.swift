@testable import CodeGen
import Foundation
import JIT
import XCTest

/// `nn_row_stats_f32` (the layernorm's mean and 1/std of each row) and `nn_row_sums_f32` (the
/// backward pass's row sums and dot products) take eight rows at a time with vectors (lane sums
/// transposed and combined as vectors). Their results must equal, bit for bit, the per-row sums
/// (`nn_sum_f32`, `nn_sumsq_dev_f32`, `nn_dot_f32`) they replace, for row counts that leave a tail,
/// widths that are not a multiple of 8 (all rows per row), and in a build without vectors.
final class RowStatisticsTests: XCTestCase {
    typealias Mismatches = @convention(c) (Int32, Int32) -> Int32

    static var source: String {
        let c = CSyntax(scalar: .f32)
        return """
            #include <math.h>
            #include <stdint.h>
            #include <string.h>
            \(HelperIndex(c).section(forKernels: "nn_row_stats_f32 nn_row_sums_f32 nn_sum_f32 nn_sumsq_dev_f32 nn_dot_f32"))
            /* The rows of a fixed pseudo-random table; returns how many rows differ from the per-row sums. */
            int mismatches(int rows, int C) {
                static float x[65 * 300], mean[64], rstd[64];
                uint32_t s = 12345u;
                for (int i = 0; i < rows * C; i++) {
                    s = s * 1664525u + 1013904223u;
                    x[i] = (float)(s >> 8) / 16777216.0f * 6.0f - 2.5f + (float)(i % 7);
                }
                nn_row_stats_f32(rows, C, 1e-5f, x, mean, rstd);
                int bad = 0;
                for (int r = 0; r < rows; r++) {
                    const float *xr = x + r * C;
                    const float mu = nn_sum_f32(C, xr) / C;
                    const float rs = 1 / sqrtf(nn_sumsq_dev_f32(C, xr, mu) / C + 1e-5f);
                    if (memcmp(&mu, &mean[r], sizeof mu) != 0 || memcmp(&rs, &rstd[r], sizeof rs) != 0) bad++;
                }
                for (int r0 = 0; r0 < rows; r0 += 8) {  /* rows r0... as g, the rows after them as xh */
                    const int n = rows - r0 < 8 ? rows - r0 : 8;
                    float sum_g[8], sum_gx[8];
                    nn_row_sums_f32(n, C, x + r0 * C, x + (r0 + 1) * C, sum_g, sum_gx);
                    for (int q = 0; q < n; q++) {
                        const float sg = nn_sum_f32(C, x + (r0 + q) * C);
                        const float sgx = nn_dot_f32(C, x + (r0 + q) * C, x + (r0 + q + 1) * C);
                        if (memcmp(&sg, &sum_g[q], sizeof sg) != 0 || memcmp(&sgx, &sum_gx[q], sizeof sgx) != 0) bad++;
                    }
                }
                return bad;
            }
            """
    }

    func testEightRowsAtATimeGiveThePerRowBits() throws {
        XCTAssertTrue(Self.source.contains("nn_transpose8_f32"), "the vector path is in the source")
        for flags in [[String](), ["-DNN_PLAIN_C"]] {
            let library = try CCBackend().adding(flags: flags).compile(source: Self.source)
            let mismatches = try library.function("mismatches", as: Mismatches.self)
            for (rows, C) in [(13, 24), (16, 32), (64, 256), (9, 20), (7, 8), (1, 300)] {
                XCTAssertEqual(mismatches(Int32(rows), Int32(C)), 0, "\(rows) rows of \(C), flags \(flags)")
            }
        }
    }
}
