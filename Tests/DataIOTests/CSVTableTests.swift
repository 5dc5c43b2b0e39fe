import DataIO
import Foundation
import XCTest

final class CSVTableTests: XCTestCase {
    func testHeaderDetectedWhenAFieldIsNotANumber() throws {
        let t = try csv("a,b,label\n1,2,0\n3.5,-4e1,1\n")
        XCTAssertEqual(t.header, ["a", "b", "label"])
        XCTAssertEqual(t.headerLine, 1)
        XCTAssertEqual(t.rows, [["1", "2", "0"], ["3.5", "-4e1", "1"]])
        XCTAssertEqual(t.lineNumbers, [2, 3])
        XCTAssertEqual(try t.numericRows(), [[1, 2, 0], [3.5, -40, 1]])
        // One non-numeric field is enough.
        XCTAssertEqual(try csv("1,2,label\n1,2,0\n").header, ["1", "2", "label"])
    }

    func testNoHeaderWhenAllFieldsAreNumbers() throws {
        let t = try csv("1,2,0\n3,4,1")
        XCTAssertNil(t.header)
        XCTAssertNil(t.headerLine)
        XCTAssertEqual(t.lineNumbers, [1, 2])
        XCTAssertEqual(try t.numericRows(), [[1, 2, 0], [3, 4, 1]])
        // nan in the first row makes it data, not a header.
        XCTAssertNil(try csv("nan,1\n").header)
    }

    func testTrimsSpacesCarriageReturnsAndTrailingBlankLines() throws {
        let t = try CSVTable.parse(Data("\u{FEFF}x , y\r\n 1 ,\t2 \r\n3,4\r\n\r\n  \n".utf8), source: "t.csv")
        XCTAssertEqual(t.header, ["x", "y"])
        XCTAssertEqual(t.rows, [["1", "2"], ["3", "4"]])
    }

    func testQuotedFields() throws {
        let t = try csv(#""name, with comma","say ""hi""",x"# + "\n" + #" "1" , 2 ,"3""# + "\n")
        XCTAssertEqual(t.header, ["name, with comma", #"say "hi""#, "x"])
        XCTAssertEqual(t.rows, [["1", "2", "3"]])
        XCTAssertEqual(try csv("a,b,\n1,2,\n").rows, [["1", "2", ""]])
    }

    func testUnterminatedQuote() {
        assertDataError({ try csv("a,b\n1,\"2\n") }, kind: .unterminatedQuote, line: 2, column: 2,
                        contains: ["t.csv, line 2, column 2: a quoted field has no closing quote"])
    }

    func testTextAfterClosingQuote() {
        assertDataError({ try csv("a,b\n1,\"2\"x,3\n") }, kind: .textAfterQuote(field: "\"2\"x"), line: 2, column: 2,
                        contains: ["unexpected text after the closing quote in \"2\"x"])
    }

    func testBlankLineInTheMiddle() {
        assertDataError({ try csv("a,b\n1,2\n\n3,4\n") }, kind: .emptyLine, line: 3,
                        contains: ["t.csv, line 3: blank line"])
    }

    func testEmptyFile() {
        assertDataError({ try csv("") }, kind: .emptyFile, contains: ["t.csv: the file is empty"])
        assertDataError({ try csv("\n \r\n\n") }, kind: .emptyFile)
    }

    func testNotUTF8() {
        assertDataError({ try CSVTable.parse(Data([0x61, 0x0A, 0x31, 0xFF, 0x0A]), source: "t.csv") },
                        kind: .notUTF8, line: 2)
    }

    func testClassify() {
        for (text, value) in [("1e3", 1000.0), (".5", 0.5), ("5.", 5), ("+1", 1), ("-0", 0), ("1.5E-2", 0.015),
                              ("1.510000000000000000e+02", 151)] {
            XCTAssertEqual(CSVTable.classify(text), .number(value), text)
        }
        for text in ["nan", "NaN", "-inf", "+Infinity", "1e999", "-1e400"] {
            XCTAssertEqual(CSVTable.classify(text), .nonFinite, text)
        }
        for text in ["", "0x10", "1.2.3", "e5", "1e", ".", "-", "1 2", "abc", "1,5", "١"] {
            XCTAssertEqual(CSVTable.classify(text), .notANumber, text)
        }
    }

    func testNumericRowsReportsLineAndColumn() {
        assertDataError({ try csv("a,b\n1,2\n3,oops\n").numericRows() }, kind: .notANumber(field: "oops"),
                        line: 3, column: 2, contains: ["t.csv, line 3, column 2: \"oops\" is not a number"])
    }

    func testReadFromFile() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("d.csv")
        try Data("a,b\n1,2\n".utf8).write(to: url)
        let t = try CSVTable.read(from: url)
        XCTAssertEqual(t.source, url.path)
        XCTAssertEqual(t.rows, [["1", "2"]])
        assertDataError({ try CSVTable.read(from: dir.appendingPathComponent("none.csv")) },
                        kind: .readFailed(reason: "does not exist"))
    }
}
