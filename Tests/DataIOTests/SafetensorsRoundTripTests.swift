import DataIO
import Foundation
import XCTest

final class SafetensorsRoundTripTests: XCTestCase {
    func testRoundTripAllDTypesMetadataScalarAndEmpty() throws {
        let dir = try makeTempDirectory(self)
        let url = dir.appendingPathComponent("t.safetensors")
        let original = try SafetensorsFile(tensors: [
            Tensor(name: "layers.0.weight", shape: [2, 3], doubles: [0.1, -2, 3.5, 4, 5e-3, -6], dtype: .f32),
            Tensor(name: "layers.0.bias", shape: [3], doubles: [0.1, .pi, -1e300], dtype: .f64),
            Tensor(name: "labels", shape: [4], ints: [0, -1, Int(Int32.max), Int(Int32.min)], dtype: .i32),
            Tensor(name: "step", shape: [], ints: [Int.max], dtype: .i64),
            Tensor(name: "empty", shape: [0], doubles: [], dtype: .f32),
            Tensor(name: "empty2d", shape: [2, 0], ints: [], dtype: .i64),
        ], metadata: ["format": "nngen", "epoch": "3", "note": "quote \" and \\ and é"])
        try original.write(to: url)
        let back = try SafetensorsFile.read(from: url)
        XCTAssertEqual(back, original)
        XCTAssertEqual(back.names, ["layers.0.weight", "layers.0.bias", "labels", "step", "empty", "empty2d"])
        XCTAssertEqual(back.metadata["note"], "quote \" and \\ and é")
        XCTAssertEqual(back["layers.0.weight"]?.dtype, .f32)
        XCTAssertEqual(back["layers.0.weight"]?.asDoubles(), [0.1, -2, 3.5, 4, 5e-3, -6].map { Double(Float($0)) })
        XCTAssertEqual(back["layers.0.bias"]?.asDoubles(), [0.1, .pi, -1e300])
        XCTAssertEqual(try back["labels"]?.asInts(), [0, -1, Int(Int32.max), Int(Int32.min)])
        XCTAssertEqual(back["step"]?.shape, [])
        XCTAssertEqual(try back["step"]?.asInts(), [Int.max])
        XCTAssertEqual(back["empty"]?.elementCount, 0)
        XCTAssertEqual(back["empty2d"]?.shape, [2, 0])
        // Writing what was read reproduces the bytes.
        XCTAssertEqual(back.encoded(), try Data(contentsOf: url))
    }

    /// Bytes written by the reference implementation (safetensors 0.8.0, Python), one tensor
    /// with metadata: the same tensors must encode to exactly these bytes.
    func testEncodingMatchesReferenceBytesWithMetadata() throws {
        let header = #"{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#
        XCTAssertEqual(header.utf8.count, 80)
        let expected: [UInt8] = [0x50, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8)
            + [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40]  // 1.0f, 2.0f little-endian
        let file = try SafetensorsFile(tensors: [Tensor(name: "a", shape: [2], doubles: [1, 2], dtype: .f32)],
                                       metadata: ["k": "v"])
        XCTAssertEqual([UInt8](file.encoded()), expected)
        XCTAssertEqual(try SafetensorsFile.decode(Data(expected), source: "ref"), file)
    }

    /// Three dtypes, a 0-d tensor, header padded with two spaces (reference bytes again).
    func testEncodingMatchesReferenceBytesThreeTensors() throws {
        let header = #"{"w":{"dtype":"I64","shape":[2,2],"data_offsets":[0,32]},"#
            + #""b":{"dtype":"F64","shape":[1],"data_offsets":[32,40]},"#
            + #""s":{"dtype":"I32","shape":[],"data_offsets":[40,44]}}  "#
        XCTAssertEqual(header.utf8.count, 0xA8)
        var expected: [UInt8] = [0xA8, 0, 0, 0, 0, 0, 0, 0] + Array(header.utf8)
        for v in [1, 2, 3, 4] as [UInt8] { expected += [v, 0, 0, 0, 0, 0, 0, 0] }
        expected += [0, 0, 0, 0, 0, 0, 0xE0, 0x3F]  // 0.5 as F64
        expected += [7, 0, 0, 0]
        let file = try SafetensorsFile(tensors: [
            Tensor(name: "w", shape: [2, 2], ints: [1, 2, 3, 4], dtype: .i64),
            Tensor(name: "b", shape: [1], doubles: [0.5], dtype: .f64),
            Tensor(name: "s", shape: [], ints: [7], dtype: .i32),
        ])
        XCTAssertEqual([UInt8](file.encoded()), expected)
        let decoded = try SafetensorsFile.decode(Data(expected), source: "ref")
        XCTAssertEqual(decoded, file)
        XCTAssertEqual(decoded.names, ["w", "b", "s"])
    }

    func testDecodedOrderFollowsDataOffsetsAndEncodingIsStable() throws {
        // Header lists "b" first but its data comes second.
        let bytes = rawSafetensors(
            header: #"{"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}"#,
            data: [1, 0, 0, 0, 2, 0, 0, 0])
        let file = try SafetensorsFile.decode(bytes, source: "x")
        XCTAssertEqual(file.names, ["a", "b"])
        XCTAssertEqual(try file["a"]?.asInts(), [1])
        XCTAssertEqual(try file["b"]?.asInts(), [2])
        XCTAssertEqual(file.encoded(), file.encoded())
        XCTAssertEqual(try SafetensorsFile.decode(file.encoded(), source: "y"), file)
    }

    func testEmptyFileWithNoTensors() throws {
        let file = try SafetensorsFile()
        let bytes = [UInt8](file.encoded())
        XCTAssertEqual(bytes, [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        XCTAssertEqual(try SafetensorsFile.decode(Data(bytes), source: "e"), file)
    }

    func testHeaderIsPaddedToMultipleOfEight() throws {
        for n in 0..<10 {
            let file = try SafetensorsFile(tensors: [Tensor(name: String(repeating: "n", count: n + 1), shape: [1],
                                                            doubles: [1], dtype: .f32)])
            let data = file.encoded()
            let length = data.prefix(8).enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
            XCTAssertEqual(length % 8, 0)
            XCTAssertEqual(data.count, 8 + length + 4)
        }
    }

    func testTensorConstructionErrors() {
        assertDataError({ try Tensor(name: "w", shape: [2, 3], doubles: [1, 2], dtype: .f32) },
                        kind: .elementCountMismatch(tensor: "w", shape: [2, 3], count: 2),
                        contains: ["tensor \"w\"", "[2, 3]", "2 values"])
        assertDataError({ try Tensor(name: "w", shape: [-1], doubles: [], dtype: .f64) },
                        kind: .elementCountMismatch(tensor: "w", shape: [-1], count: 0))
        assertDataError({ try Tensor(name: "l", shape: [1], ints: [1 << 40], dtype: .i32) },
                        kind: .notRepresentable(tensor: "l", index: 0, value: "1099511627776", dtype: "I32"))
        assertDataError({ try Tensor(name: "l", shape: [2], doubles: [1, 2.5], dtype: .i64) },
                        kind: .notRepresentable(tensor: "l", index: 1, value: "2.5", dtype: "I64"))
        assertDataError({ try SafetensorsFile(tensors: [Tensor(name: "__metadata__", shape: [], doubles: [1])]) },
                        kind: .reservedName("__metadata__"))
        assertDataError({
            try SafetensorsFile(tensors: [Tensor(name: "a", shape: [], doubles: [1]), Tensor(name: "a", shape: [], doubles: [2])])
        }, kind: .duplicateName("a"))
    }

    func testAsIntsOnFloats() throws {
        XCTAssertEqual(try Tensor(name: "y", shape: [3], doubles: [0, 2, -5], dtype: .f32).asInts(), [0, 2, -5])
        assertDataError({ try Tensor(name: "y", shape: [2], doubles: [1, 0.5]).asInts() },
                        kind: .notRepresentable(tensor: "y", index: 1, value: "0.5", dtype: "an integer"))
        assertDataError({ try Tensor(name: "y", shape: [1], doubles: [.nan]).asInts() },
                        kind: .notRepresentable(tensor: "y", index: 0, value: "nan", dtype: "an integer"))
    }

    func testInsertReplaceRemove() throws {
        var file = try SafetensorsFile(tensors: [Tensor(name: "a", shape: [], doubles: [1]),
                                                 Tensor(name: "b", shape: [], doubles: [2])])
        try file.insert(Tensor(name: "a", shape: [1], doubles: [3]))
        XCTAssertEqual(file.names, ["a", "b"])
        XCTAssertEqual(file["a"]?.asDoubles(), [3])
        try file.insert(Tensor(name: "c", shape: [], doubles: [4]))
        file.remove("b")
        XCTAssertEqual(file.names, ["a", "c"])
        XCTAssertEqual(file.orderedTensors.map(\.name), ["a", "c"])
    }

    func testReadMissingFileAndDirectory() throws {
        let dir = try makeTempDirectory(self)
        let missing = dir.appendingPathComponent("nope.safetensors")
        assertDataError({ try SafetensorsFile.read(from: missing) }, kind: .readFailed(reason: "does not exist"),
                        contains: [missing.path])
        assertDataError({ try SafetensorsFile.read(from: dir) }, kind: .readFailed(reason: "it is a directory"))
    }
}
