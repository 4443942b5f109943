import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The GGUF reader against a file written by gguf-py (fixtures/make_gguf.py).
final class GGUFReaderTests: XCTestCase {
    let path = Fixture.path("small.gguf")

    func testReadsEveryMetadataValueType() throws {
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file["general.architecture"]?.string, "llama")
        XCTAssertEqual(file["test.u8"]?.integer, 200)
        XCTAssertEqual(file["test.i8"]?.integer, -100)
        XCTAssertEqual(file["test.u16"]?.integer, 60000)
        XCTAssertEqual(file["test.i16"]?.integer, -30000)
        XCTAssertEqual(file["test.u32"]?.integer, 4_000_000_000)
        XCTAssertEqual(file["test.i32"]?.integer, -2_000_000_000)
        XCTAssertEqual(file["test.f32"]?.double, 0.15625)
        if case .bool(let b)? = file["test.bool"] { XCTAssertTrue(b) } else { XCTFail("bool") }
        XCTAssertEqual(file["test.string"]?.string, "héllo ✓")
        XCTAssertEqual(file["test.array"]?.array?.compactMap(\.string), ["a", "bc", ""])
        if case .uint64(let v)? = file["test.u64"] { XCTAssertEqual(v, (1 << 63) + 5) } else { XCTFail("u64") }
        XCTAssertEqual(file["test.i64"]?.integer, -(1 << 62))
        XCTAssertEqual(file["test.f64"]?.double, 2.718281828459045)
    }

    func testDequantizesEveryTypeLikeGGUFPy() throws {
        let file = try GGUFFile(path: path)
        let expected = try Fixture("small_gguf_expected.json")
        XCTAssertEqual(file.tensors.count, GGMLType.allCases.count)
        for info in file.tensors {
            XCTAssertEqual(info.shape, [2, 512], info.name)
            let out = Tensor(uninitialized: info.shape)
            Dequantize.run(info.type, file.bytes(of: info), count: info.elementCount, into: out.data)
            let reference = try expected.tensor(info.name)
            var worst: Float = 0
            for i in 0..<out.count { worst = max(worst, abs(out.data[i] - reference.data[i]) / max(1, abs(reference.data[i]))) }
            XCTAssertLessThanOrEqual(worst, 1e-6, "\(info.type)")
        }
    }

    // MARK: bad input

    private func damaged(_ edit: (inout [UInt8]) -> Void) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        edit(&bytes)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("slm-bad-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: out)
        addTeardownBlock { try? FileManager.default.removeItem(at: out) }
        return out.path
    }

    private func assertRejected(_ path: String, mentioning words: [String], line: UInt = #line) {
        XCTAssertThrowsError(try GGUFFile(path: path), line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(path), "names the file: \(text)", line: line)
            for word in words { XCTAssertTrue(text.contains(word), "mentions \(word): \(text)", line: line) }
        }
    }

    func testTruncatedAnywhereIsAClearError() throws {
        let file = try GGUFFile(path: path)
        let last = try XCTUnwrap(file.tensors.last)
        let dataEnd = file.dataStart + Int(last.offset) + last.byteCount
        for cut in [0, 3, 10, 23, 60, 400, 900, file.dataStart - 1, dataEnd - 1] {
            assertRejected(try damaged { $0.removeLast($0.count - cut) }, mentioning: [])
        }
    }

    func testLyingHeadersAreRefusedBeforeAllocating() throws {
        assertRejected(try damaged { $0[0] = 0 }, mentioning: ["magic"])
        assertRejected(try damaged { $0[4] = 9 }, mentioning: ["version"])
        // tensor_count and metadata_kv_count far larger than the file could hold
        assertRejected(try damaged { for i in 8..<16 { $0[i] = 0xFF } }, mentioning: ["tensor_count"])
        assertRejected(try damaged { for i in 16..<24 { $0[i] = 0x7F } }, mentioning: ["metadata_kv_count"])
        // the first key's length claims the whole address space
        assertRejected(try damaged { for i in 24..<32 { $0[i] = 0xFF } }, mentioning: ["metadata key"])
    }

    func testTensorTableErrorsNameTheTensor() throws {
        let file = try GGUFFile(path: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        // Find the first tensor's name in the table and corrupt the fields after it.
        let name = Array(file.tensors[0].name.utf8)
        let at = try XCTUnwrap((0..<(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name })
        let dims = at + name.count
        assertRejected(try damaged { $0[dims] = 7 }, mentioning: [file.tensors[0].name, "n_dims"])
        let typeAt = dims + 4 + 8 * file.tensors[0].dims.count
        assertRejected(try damaged { $0[typeAt] = 99 }, mentioning: [file.tensors[0].name, "type"])
        assertRejected(try damaged { $0[typeAt + 4 + 6] = 0x10 }, mentioning: [file.tensors[0].name])
    }
}
