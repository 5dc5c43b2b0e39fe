import DataIO
import Foundation
import XCTest

/// docs/TRAINING.md step 3 without overflow: scaled by a power of two per column, bit-identical
/// to the plain formulas on ordinary data, finite for any finite data, and an error naming the
/// file and the column otherwise.
final class StandardizerRangeTests: XCTestCase {
    /// The plain formulas, as nngen computed them before.
    func plain(_ d: Dataset) -> (mean: [Double], std: [Double]) {
        let f = d.features, n = Double(d.count)
        var mean = [Double](repeating: 0, count: f), v = [Double](repeating: 0, count: f)
        for s in 0..<d.count { for j in 0..<f { mean[j] += d.x[s * f + j] } }
        for j in 0..<f { mean[j] /= n }
        for s in 0..<d.count { for j in 0..<f { let e = d.x[s * f + j] - mean[j]; v[j] += e * e } }
        return (mean, v.map { let s = ($0 / n).squareRoot(); return s == 0 ? 1 : s })
    }

    func testBitIdenticalToThePlainFormulasOnOrdinaryData() throws {
        var g = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let n = Int.random(in: 1...300, using: &g), f = Int.random(in: 1...6, using: &g)
            let magnitude = pow(10.0, Double(Int.random(in: -60...60, using: &g)))
            let offset = Double.random(in: -5...5, using: &g) * magnitude
            var x: [Double] = []
            for _ in 0..<(n * f) {
                switch Int.random(in: 0..<10, using: &g) {
                case 0: x.append(0)
                case 1: x.append(Double(Int.random(in: -3...3, using: &g)))
                default: x.append(offset + Double.random(in: -1...1, using: &g) * magnitude)
                }
            }
            let d = try Dataset(x: x, inputShape: [f], targets: .values([Double](repeating: 0, count: n), outputs: 1))
            let s = try Standardizer(fitting: d), p = plain(d)
            XCTAssertEqual(s.mean.map(\.bitPattern), p.mean.map(\.bitPattern), "trial \(trial)")
            XCTAssertEqual(s.std.map(\.bitPattern), p.std.map(\.bitPattern), "trial \(trial)")
            let applied = try s.apply(to: d)
            for i in 0..<x.count {
                XCTAssertEqual(applied.x[i].bitPattern, ((x[i] - p.mean[i % f]) / p.std[i % f]).bitPattern)
            }
        }
        // The digits data too.
        let digits = try Dataset.loadCSV(from: examplesData.appendingPathComponent("digits.csv"), features: 64,
                                         target: .classes(10))
        let s = try Standardizer(fitting: digits), p = plain(digits)
        XCTAssertEqual(s.mean, p.mean)
        XCTAssertEqual(s.std, p.std)
    }

    func testHugeColumnsStandardise() throws {
        // +-1e300 (the squares overflowed), +-DBL_MAX (the sum and x - mean overflowed).
        let big = Double.greatestFiniteMagnitude
        let d = try Dataset(x: [1e300, big, 1, -1e300, big, 2, 1e300, -big, 3, -1e300, big, 4], inputShape: [3],
                            targets: .labels([0, 1, 0, 1], classes: 2))
        let s = try Standardizer(fitting: d)
        XCTAssertEqual(s.mean[0], 0)
        XCTAssertEqual(s.std[0], 1e300)
        XCTAssertEqual(s.mean[1], big / 2)
        XCTAssertEqual(s.std[1], big * 0.75.squareRoot(), accuracy: big * 1e-15)
        let z = try s.apply(to: d)
        XCTAssertEqual(z.x[0], 1)
        XCTAssertEqual(z.x[3], -1)
        XCTAssertTrue(z.x.allSatisfy(\.isFinite), "\(z.x)")
        XCTAssertEqual(z.x[7], -(1.5 / 0.75.squareRoot()), accuracy: 1e-12)  // -DBL_MAX - DBL_MAX/2 overflows
        XCTAssertEqual(Array(z.x[2...].enumerated().filter { $0.offset % 3 == 0 }.map(\.element)),
                       try Standardizer(fitting: Dataset(x: [1, 2, 3, 4], inputShape: [1], targets: .labels([0, 1, 0, 1], classes: 2)))
                        .apply(to: Dataset(x: [1, 2, 3, 4], inputShape: [1], targets: .labels([0, 1, 0, 1], classes: 2))).x)
    }

    func testTinyColumnsKeepTheirSpread() throws {
        // (x - mean)^2 was 2.5e-401: 0, so std became 1 and the column collapsed to 0.
        let d = try Dataset(x: [1e-200, 2e-200], inputShape: [1], targets: .labels([0, 1], classes: 2))
        let s = try Standardizer(fitting: d)
        XCTAssertEqual(plain(d).std, [1])
        XCTAssertEqual(s.std[0], 0.5e-200, accuracy: 1e-215)
        XCTAssertEqual(try s.apply(to: d).x, [-1, 1])
    }

    func testNotFiniteNamesTheFileAndTheColumn() throws {
        var d = try Dataset(x: [1, 2, .infinity, 4], inputShape: [2], targets: .labels([0, 1], classes: 2))
        d.source = "data.csv"
        d.featureNames = ["height", "weight"]
        let e = expectError { try Standardizer(fitting: d) }
        XCTAssertEqual(e?.description, "data.csv, column 1: input value 0 (\"height\") cannot be standardised: it holds a value "
                       + "that is not finite; leave out \"standardize\" or rescale that column")
    }

    func testCSVDataSetsKnowTheirFileAndHeaderThroughTheSplit() throws {
        let table = try CSVTable.parse(Data("a,b,label\n1,2,0\n3,4,1\n5,6,0\n".utf8), source: "t.csv")
        let d = try Dataset(csv: table, features: 2, target: .classes(2))
        XCTAssertEqual(d.source, "t.csv")
        XCTAssertEqual(d.featureNames, ["a", "b"])
        let part = try d.split(validationFraction: 0.34, seed: 1).train
        XCTAssertEqual(part.source, "t.csv")
        XCTAssertEqual(part.featureNames, ["a", "b"])
    }
}
