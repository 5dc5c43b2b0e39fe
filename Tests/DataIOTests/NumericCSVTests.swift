import DataIO
import Foundation
import XCTest

/// The fast CSV reader (`Dataset.loadPlainCSV`, used by `Dataset.loadCSV`): the same doubles as
/// `Double(String)` (strtod) for every field, the same data set as the general reader, and every
/// file it does not take left to the general reader with its messages.
final class NumericCSVTests: XCTestCase {
    /// A seeded generator (splitmix64) so a failure can be reproduced.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func digits(_ n: Int) -> String { String((0..<n).map { _ in Character(String(below(10))) }) }
    }

    /// A random decimal in the CSV grammar: sign, long or short mantissas, leading zeros, a point on
    /// either side, exponents of every size.
    func randomNumber(_ r: inout Rng) -> String {
        var s = ["", "-", "+"][r.below(3)]
        switch r.below(6) {
        case 0: s += r.digits(1 + r.below(3))                                   // small integers
        case 1: s += r.digits(1 + r.below(25))                                  // long integers
        case 2: s += r.digits(r.below(4)) + "." + r.digits(1 + r.below(20))     // fractions, ".5"
        case 3: s += r.digits(1 + r.below(3)) + "."                             // "5."
        case 4: s += "0000" + r.digits(1 + r.below(18)) + "." + r.digits(r.below(30))
        default: s += r.digits(1 + r.below(19)) + "." + r.digits(r.below(5))
        }
        if r.below(3) == 0 {
            s += ["e", "E"][r.below(2)] + ["", "-", "+"][r.below(3)] + String(r.below(r.below(2) == 0 ? 25 : 320))
        }
        return s
    }

    func write(_ text: String, _ name: String) throws -> URL {
        let url = try makeTempDirectory(self).appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    func testValuesAreBitIdenticalToStrtod() throws {
        var r = Rng(state: 42)
        let features = 7, rows = 3000
        var text = "a,b,c,d,e,f,g,y\n"
        var expected: [Double] = []
        for row in 0..<rows {
            var fields: [String] = []
            for _ in 0..<features {
                var field = randomNumber(&r)
                while !(Double(field)?.isFinite ?? false) { field = randomNumber(&r) }
                expected.append(Double(field)!)
                fields.append(r.below(8) == 0 ? " \t" + field + " " : field)
            }
            fields.append(["", "-"][r.below(2)] + r.digits(1 + r.below(4)) + "." + r.digits(r.below(4)))
            text += fields.joined(separator: ",") + (row % 3 == 0 ? "\r\n" : "\n")
        }
        text += "\n \r\n"  // blank lines at the end are allowed
        let url = try write(text, "random.csv")
        let fast = try XCTUnwrap(Dataset.loadPlainCSV(url, features: features, target: .values(1)),
                                 "the fast reader must take a plain numeric file")
        XCTAssertEqual(fast.count, rows)
        XCTAssertEqual(fast.store.dtype, .f64, "values that are not floats are kept as doubles")
        let x = fast.x
        XCTAssertEqual(x.count, expected.count)
        for i in 0..<expected.count where x[i].bitPattern != expected[i].bitPattern {
            XCTFail("value \(i): fast \(x[i]) but strtod \(expected[i])")
            break
        }
        let general = try Dataset(csv: CSVTable.read(from: url), features: features, target: .values(1))
        XCTAssertEqual(fast, general)
        XCTAssertEqual(fast.y.map { $0.map(\.bitPattern) }, general.y.map { $0.map(\.bitPattern) })
        XCTAssertEqual(fast.featureNames, ["a", "b", "c", "d", "e", "f", "g"])
    }

    func testExactFloatsAreStoredAsF32() throws {
        let url = try write("1,2.5,-0,3\n255,0.125,7e2,1\n", "pixels.csv")
        let d = try XCTUnwrap(Dataset.loadPlainCSV(url, features: 3, target: .classes(4)))
        XCTAssertEqual(d.store.dtype, .f32)
        XCTAssertEqual(d.x.map(\.bitPattern), [1, 2.5, -0.0, 255, 0.125, 700].map(\.bitPattern))
        XCTAssertEqual(d.labels, [3, 1])
        XCTAssertNil(d.featureNames)
        // One value that is not a float turns the whole store into doubles, values unchanged.
        let mixed = try write("1,2,0\n0.1,3,1\n", "mixed.csv")
        let m = try XCTUnwrap(Dataset.loadPlainCSV(mixed, features: 2, target: .classes(2)))
        XCTAssertEqual(m.store.dtype, .f64)
        XCTAssertEqual(m.x, [1, 2, 0.1, 3])
    }

    /// Files the fast reader leaves to the general one: `loadCSV` gives exactly the general
    /// reader's data set or error (kind, line, column), in the same order as before.
    func testEveryOtherFileGoesThroughTheGeneralReader() throws {
        let cases: [(String, String)] = [
            ("quoted", "\"x\",y\n\"1\",0\n2,1\n"),                    // quoted fields: read, same values
            ("bom", "\u{FEFF}x,y\n1,0\n"),
            ("notNumber", "1,0\n2,1\nabc,1\n3,x\n"),                  // first error: line 3 column 1
            ("nan", "1,0\nnan,1\n"),
            ("label", "1,0\n2,5\n"),
            ("labelFraction", "1,0\n2,0.5\n"),
            ("blankInside", "1,0\n\n2,1\n"),
            ("fields", "1,0\n2,1,3\n"),
            ("empty", ""),
            ("headerOnly", "x,y\n"),
            ("textAfterQuote", "1,0\n\"2\"x,1\n"),
            ("hugeNumber", "1,0\n1e400,1\n"),
            ("hex", "1,0\n0x10,1\n"),
            ("utf8", "1,0\n2,1\n\u{00E9},1\n"),
            ("invalidUTF8Late", "1,0\n2,1\nq,1\n"),
        ]
        for (name, text) in cases {
            var bytes = Array(text.utf8)
            if name == "invalidUTF8Late" { bytes[bytes.count - 4] = 0xFF }
            let url = try makeTempDirectory(self).appendingPathComponent(name + ".csv")
            try Data(bytes).write(to: url)
            let viaLoad = Result { try Dataset.loadCSV(from: url, features: 1, target: .classes(2)) }
            let viaTable = Result { try Dataset(csv: CSVTable.read(from: url), features: 1, target: .classes(2)) }
            switch (viaLoad, viaTable) {
            case (.success(let a), .success(let b)):
                XCTAssertEqual(a, b, name)
            case (.failure(let a as DataError), .failure(let b as DataError)):
                XCTAssertEqual(a.kind, b.kind, name)
                XCTAssertEqual(a.line, b.line, name)
                XCTAssertEqual(a.column, b.column, name)
                XCTAssertEqual(a.description, b.description, name)
            default:
                XCTFail("\(name): loadCSV gave \(viaLoad), the general reader \(viaTable)")
            }
        }
        let quoted = try write("\"x\",y\n\"1\",0\n", "q.csv")
        XCTAssertNil(Dataset.loadPlainCSV(quoted, features: 1, target: .classes(2)), "quotes past line 1 are not plain")
        let bad = try write("1,0\n2,1\nabc,1\n", "bad.csv")
        assertDataError({ try Dataset.loadCSV(from: bad, features: 1, target: .classes(2)) },
                        kind: .notANumber(field: "abc"), line: 3, column: 1)
    }

    func testFirstRowFieldCount() throws {
        XCTAssertEqual(CSVTable.firstRowFieldCount(try write("a,\"b,c\",d\n1,2,3\n", "h.csv")), 3)
        XCTAssertEqual(CSVTable.firstRowFieldCount(try write("1,2", "one.csv")), 2)
        XCTAssertNil(CSVTable.firstRowFieldCount(try write("\"a,b\n", "open.csv")))
        XCTAssertNil(CSVTable.firstRowFieldCount(URL(fileURLWithPath: "/nonexistent/x.csv")))
    }
}
