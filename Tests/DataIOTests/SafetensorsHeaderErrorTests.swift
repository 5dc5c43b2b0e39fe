import DataIO
import Foundation
import XCTest

/// Each fact of a safetensors header that can be wrong has its own error.
final class SafetensorsHeaderErrorTests: XCTestCase {
    private func decode(_ data: Data) throws(DataError) -> SafetensorsFile {
        try SafetensorsFile.decode(data, source: "bad.safetensors")
    }

    private func entry(_ dtype: String = "\"F32\"", shape: String = "[2]", offsets: String = "[0,8]") -> String {
        #"{"dtype":\#(dtype),"shape":\#(shape),"data_offsets":\#(offsets)}"#
    }

    func testFileShorterThanEightBytes() {
        assertDataError({ try decode(Data([1, 2, 3])) }, kind: .fileTooShort(size: 3),
                        contains: ["bad.safetensors: ", "3 bytes long", "8-byte little-endian header length"])
        assertDataError({ try decode(Data()) }, kind: .fileTooShort(size: 0))
    }

    func testHeaderLengthBeyondFile() {
        var data = Data([100, 0, 0, 0, 0, 0, 0, 0])
        data.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: 10))
        assertDataError({ try decode(data) }, kind: .headerBeyondFile(length: 100, available: 10),
                        contains: ["header length 100", "only 10 bytes follow"])
    }

    func testAbsurdHeaderLength() {
        let data = Data([0, 0xC2, 0xEB, 0x0B, 0, 0, 0, 0])  // 200_000_000
        assertDataError({ try decode(data) }, kind: .headerTooLarge(length: 200_000_000, limit: 100_000_000),
                        contains: ["100000000-byte limit"])
        let huge = Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        assertDataError({ try decode(huge) }, kind: .headerTooLarge(length: UInt64.max, limit: 100_000_000))
    }

    func testHeaderNotUTF8() {
        assertDataError({ try decode(rawSafetensors(headerBytes: [0x7B, 0x22, 0xFF, 0x22, 0x7D])) },
                        kind: .headerNotUTF8(offset: 2), contains: ["not valid UTF-8", "header byte 2", "file byte 10"])
    }

    func testHeaderNotWellFormedJSON() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":}"#)) },
                        kind: .invalidJSON(reason: "expected a value (object, list, string, number, true, false or null)",
                                           offset: 5),
                        contains: ["not well-formed JSON at header byte 5 (file byte 13)"])
        assertDataError({ try decode(rawSafetensors(header: #"{"a":1"#)) },
                        kind: .invalidJSON(reason: "the text ends where ',' or '}' after an object member was expected",
                                           offset: 6))
        assertDataError({ try decode(rawSafetensors(header: #"{} x"#)) },
                        kind: .invalidJSON(reason: "unexpected text after the JSON value", offset: 3))
        assertDataError({ try decode(rawSafetensors(header: String(repeating: "[", count: 100_000))) },
                        kind: .invalidJSON(reason: "nested deeper than 64 levels", offset: 64))
        assertDataError({ try decode(rawSafetensors(header: "")) },
                        kind: .invalidJSON(reason: "the text ends where a value was expected", offset: 0))
    }

    func testHeaderNotAnObject() {
        assertDataError({ try decode(rawSafetensors(header: "[1,2]")) }, kind: .headerNotObject(found: "a list"),
                        contains: ["must be a JSON object mapping tensor names to entries, found a list"])
    }

    func testEntryNotAnObject() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":3}"#)) },
                        kind: .entryNotObject(tensor: "a", found: "a number 3"),
                        contains: ["entry of tensor \"a\" must be an object"])
    }

    func testMissingAndRepeatedFields() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":{"dtype":"F32","data_offsets":[0,0]}}"#)) },
                        kind: .missingField(tensor: "a", field: "shape"))
        assertDataError({ try decode(rawSafetensors(header: #"{"a":{"dtype":"F32","dtype":"F64","shape":[],"data_offsets":[0,4]}}"#)) },
                        kind: .duplicateField(tensor: "a", field: "dtype"))
    }

    func testDuplicateTensorName() {
        let e = entry(shape: "[0]", offsets: "[0,0]")
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(e),"a":\#(e)}"#)) }, kind: .duplicateName("a"))
    }

    func testUnknownDType() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry("\"F16\"", offsets: "[0,4]"))}"#, data: [0, 0, 0, 0])) },
                        kind: .unknownDType(tensor: "a", found: "\"F16\""),
                        contains: ["dtype \"F16\"", "valid dtypes are F32, F64, I32, I64"])
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry("4"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .unknownDType(tensor: "a", found: "4"))
    }

    func testShapeNotNonNegativeIntegers() {
        for (shape, found) in [("[2,-1]", "[2, -1]"), ("[2.0]", "[2.0]"), ("\"2\"", "\"2\""), ("[true]", "[true]"),
                               ("[99999999999999999999]", "[99999999999999999999]")] {
            assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: shape))}"#, data: Array(repeating: 0, count: 8))) },
                            kind: .invalidShape(tensor: "a", found: found),
                            contains: ["shape must be a list of non-negative integers, found \(found)"])
        }
    }

    func testDataOffsetsNotTwoOrderedIntegers() {
        for (offsets, found) in [("[8,4]", "[8, 4]"), ("[0]", "[0]"), ("[0,8,8]", "[0, 8, 8]"), ("[0,8.0]", "[0, 8.0]"),
                                 ("[-8,0]", "[-8, 0]"), ("{}", "{}")] {
            assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(offsets: offsets))}"#, data: Array(repeating: 0, count: 8))) },
                            kind: .invalidDataOffsets(tensor: "a", found: found),
                            contains: ["two integers [begin, end] with 0 <= begin <= end, found \(found)"])
        }
    }

    func testOffsetsOutsideDataArea() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[4]", offsets: "[0,16]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .offsetsOutsideData(tensor: "a", begin: 0, end: 16, dataSize: 8),
                        contains: ["data_offsets [0, 16] run past the data area, which holds 8 bytes"])
    }

    func testByteLengthMismatch() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[3]", offsets: "[0,8]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .byteLengthMismatch(tensor: "a", dtype: .f32, shape: [3], expected: 12, found: 8),
                        contains: ["shape [3] of F32 needs 12 bytes but data_offsets cover 8"])
    }

    func testByteSizeOverflow() {
        // 2^61 elements fit in Int, times 4 bytes do not.
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[2305843009213693952]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .sizeOverflow(tensor: "a", shape: [2305843009213693952]), contains: ["overflows"])
        // The element count itself overflows.
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[4294967296,4294967296]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .sizeOverflow(tensor: "a", shape: [4294967296, 4294967296]))
    }

    func testOverlappingTensors() {
        let header = #"{"a":\#(entry(offsets: "[0,8]")),"b":\#(entry(offsets: "[4,12]"))}"#
        assertDataError({ try decode(rawSafetensors(header: header, data: Array(repeating: 0, count: 12))) },
                        kind: .overlappingTensors(first: "a", firstRange: [0, 8], second: "b", secondRange: [4, 12]),
                        contains: ["tensors \"a\" [0, 8] and \"b\" [4, 12] overlap"])
    }

    func testBytesCoveredByNoTensor() {
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[1]", offsets: "[0,4]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .uncoveredBytes(begin: 4, end: 8), contains: ["data bytes 4..<8 belong to no tensor"])
        assertDataError({ try decode(rawSafetensors(header: #"{"a":\#(entry(shape: "[1]", offsets: "[4,8]"))}"#, data: Array(repeating: 0, count: 8))) },
                        kind: .uncoveredBytes(begin: 0, end: 4))
        assertDataError({ try decode(rawSafetensors(header: "{}", data: [0])) }, kind: .uncoveredBytes(begin: 0, end: 1))
    }

    func testMetadataMustBeObjectOfStrings() {
        assertDataError({ try decode(rawSafetensors(header: #"{"__metadata__":{"epoch":3}}"#)) },
                        kind: .metadataValueNotString(key: "epoch", found: "a number 3"),
                        contains: ["value for key \"epoch\" must be a string, found a number 3"])
        assertDataError({ try decode(rawSafetensors(header: #"{"__metadata__":["a"]}"#)) },
                        kind: .metadataNotObject(found: "a list"))
    }

    func testUnknownEntryKeysAndEscapesAreAccepted() throws {
        let header = #"{"a\u00e9\n":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":[1,{"x":null}]}}"#
        let file = try decode(rawSafetensors(header: header, data: [0, 0, 0x80, 0x3F]))
        XCTAssertEqual(file.names, ["aé\n"])
        XCTAssertEqual(file["aé\n"]?.asDoubles(), [1])
    }
}
