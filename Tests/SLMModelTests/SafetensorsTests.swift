import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The safetensors reader on files written by the `safetensors` package (fixtures/make_hf_llama.py)
/// and on hand-made, damaged ones: every bad input is one FormatError naming the file and field.
final class SafetensorsTests: XCTestCase {
    let fixture = Fixture.path("hf_llama/model.safetensors")

    /// Writes `u64 header length, header, data` to a temporary file; `length` overrides the header length.
    private func write(header: String, data: [UInt8] = [], length: UInt64? = nil) throws -> String {
        let json = Array(header.utf8)
        var bytes = withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian, Array.init)
        bytes += json + data
        return try temporary(bytes)
    }

    private func temporary(_ bytes: [UInt8]) throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("slm-st-\(UUID().uuidString).safetensors")
        try Data(bytes).write(to: out)
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        return out.path
    }

    private func assertRejected(_ path: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try SafetensorsFile(path: path), line: line) { error in
            XCTAssertTrue(error is FormatError, "a FormatError, not \(type(of: error))", line: line)
            let text = "\(error)"
            XCTAssertTrue(text.contains(path), "names the file: \(text)", line: line)
            for word in words { XCTAssertTrue(text.contains(word), "mentions \(word): \(text)", line: line) }
        }
    }

    func testReadsTheFixtureHeader() throws {
        let file = try SafetensorsFile(path: fixture)
        XCTAssertEqual(file.tensors.count, 21)
        XCTAssertEqual(file.metadata["format"], "pt")
        let q = try XCTUnwrap(file.tensor(named: "model.layers.0.self_attn.q_proj.weight"))
        XCTAssertEqual(q.dtype, .F32)
        XCTAssertEqual(q.shape, [32, 32])
        XCTAssertEqual(q.dataOffsets.count, 32 * 32 * 4)
        XCTAssertEqual(try file.floats(q).shape, [32, 32])
        // Tensors tile the data section in order.
        for (a, b) in zip(file.tensors, file.tensors.dropFirst()) { XCTAssertLessThanOrEqual(a.dataOffsets.upperBound, b.dataOffsets.lowerBound) }
    }

    func testConvertsHalfPrecisionAndRefusesIntegersAsWeights() throws {
        let f16: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x7C00]  // 1, −2, 0.333251953125, +inf
        let bf16: [UInt16] = [0x3F80, 0x4049, 0xBF00, 0x0000]  // 1, 3.140625, −0.5, 0
        let data = f16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) } + bf16.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
            + withUnsafeBytes(of: Int64(-7).littleEndian, Array.init)
        let path = try write(header: """
            {"h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
             "b": {"dtype": "BF16", "shape": [4], "data_offsets": [8, 16]},
             "i": {"dtype": "I64", "shape": [], "data_offsets": [16, 24]},
             "__metadata__": {"format": "pt"}}
            """, data: data)
        let file = try SafetensorsFile(path: path)
        let h = try file.floats(try XCTUnwrap(file.tensor(named: "h")))
        XCTAssertEqual(h.shape, [2, 2])
        XCTAssertEqual((0..<4).map { h.data[$0] }, [1, -2, 0.333251953125, .infinity])
        let b = try file.floats(try XCTUnwrap(file.tensor(named: "b")))
        XCTAssertEqual((0..<4).map { b.data[$0] }, [1, 3.140625, -0.5, 0])
        let i = try XCTUnwrap(file.tensor(named: "i"))
        XCTAssertEqual(i.elementCount, 1)
        XCTAssertEqual(file.bytes(of: i).loadUnaligned(as: Int64.self), -7)
        XCTAssertThrowsError(try file.floats(i)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("i:") && "\(error)".contains("I64"), "\(error)")
        }
    }

    func testTruncatedAnywhereIsAClearError() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture)))
        let dataStart = try SafetensorsFile(path: fixture).dataStart
        for cut in [0, 3, 7, 8, 9, 100, dataStart - 1, dataStart + 1, bytes.count / 2, bytes.count - 1] {
            assertRejected(try temporary(Array(bytes[..<cut])), mentioning: [])
        }
        // Cut in the data section: the error names a tensor whose bytes are gone.
        assertRejected(try temporary(Array(bytes.dropLast(1))), mentioning: ["data_offsets", "past the end"])
    }

    func testLyingHeaderLengthIsRefusedBeforeAllocating() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture)))
        func withLength(_ n: UInt64) -> [UInt8] { withUnsafeBytes(of: n.littleEndian, Array.init) + bytes[8...] }
        assertRejected(try temporary(withLength(UInt64(bytes.count))), mentioning: ["header length", "only"])
        assertRejected(try temporary(withLength(.max)), mentioning: ["header length"])
        assertRejected(try temporary(withLength(200_000_000)), mentioning: ["header length", "allowed"])
        assertRejected(try temporary(withLength(20)), mentioning: ["header", "JSON"])
    }

    func testBadHeaderEntriesNameTheTensorAndField() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        func entry(_ body: String) -> String { #"{"w": {\#(body)}}"# }
        let cases: [(String, [String])] = [
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [0, 80]"#), ["w", "data_offsets", "past the end"]),
            (entry(#""dtype": "F32", "shape": [3], "data_offsets": [0, 8]"#), ["w", "shape [3]", "12 bytes"]),
            (entry(#""dtype": "F16", "shape": [2, 3], "data_offsets": [0, 8]"#), ["w", "shape [2, 3]"]),
            (entry(#""dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]"#), ["w", "dtype", "F8_E4M3", "not supported"]),
            (entry(#""shape": [2], "data_offsets": [0, 8]"#), ["w", "dtype", "missing"]),
            (entry(#""dtype": "F32", "data_offsets": [0, 8]"#), ["w", "shape"]),
            (entry(#""dtype": "F32", "shape": [-2], "data_offsets": [0, 8]"#), ["w", "shape"]),
            (entry(#""dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]"#), ["w", "shape"]),
            (entry(#""dtype": "F32", "shape": [true, 2], "data_offsets": [0, 8]"#), ["w", "shape"]),
            (entry(#""dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]"#), ["w", "shape"]),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [8, 0]"#), ["w", "data_offsets"]),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [-8, 0]"#), ["w", "data_offsets"]),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [0]"#), ["w", "data_offsets"]),
            (entry(#""dtype": "F32", "shape": [2], "data_offsets": [18446744073709551615, 8]"#), ["w", "data_offsets"]),
            (#"{"w": [1, 2]}"#, ["w", "not an object"]),
            (#"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"n": 3}}"#, ["__metadata__"]),
            (#"[1, 2, 3]"#, ["header", "JSON"]),
            (#"{"w": {"dtype": "F32", "#, ["header", "JSON"]),
        ]
        for (header, words) in cases { assertRejected(try write(header: header, data: eight), mentioning: words) }
    }

    /// 400 single-byte corruptions of the length and header (seeded): each file either still reads,
    /// tensors and all, or is refused with a FormatError naming it; nothing traps.
    func testRandomHeaderCorruptionNeverCrashes() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture)))
        let headerEnd = try SafetensorsFile(path: fixture).dataStart
        var state: UInt64 = 0x5EED
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33)
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("slm-st-fuzz-\(UUID().uuidString).safetensors")
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        var refused = 0
        for _ in 0..<400 {
            var damaged = bytes
            let at = next() % headerEnd
            damaged[at] = UInt8(truncatingIfNeeded: next())
            try Data(damaged).write(to: out)
            do {
                let file = try SafetensorsFile(path: out.path)
                for info in file.tensors where [.F32, .F16, .BF16].contains(info.dtype) { _ = try file.floats(info) }
            } catch let error as FormatError {
                XCTAssertEqual(error.file, out.path)
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 100)
    }

    func testOverlappingTensorsAreRefused() throws {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        assertRejected(try write(header: header, data: [UInt8](repeating: 0, count: 12)), mentioning: ["b", "[4, 12] overlap", "a's [0, 8]"])
    }

    func testEmptyAndPaddedHeadersAreValid() throws {
        XCTAssertEqual(try SafetensorsFile(path: try write(header: "{}")).tensors.count, 0)
        let padded = try write(header: #"{"s": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}   "#)
        XCTAssertEqual(try SafetensorsFile(path: padded).tensor(named: "s")?.elementCount, 0)
    }
}
