import SLMTensor
import SLMTestSupport
import XCTest

/// The Q4_K / Q5_K / Q6_K quantizer against a Python transcription of ggml's reference quantizers,
/// and slm's dequantizer against gguf-py's on those blocks (fixtures/make_kquants.py).
final class QuantizeKTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testMatchesGGMLsReferenceAndGGUFPysDequantization() throws {
        let fixture = try Fixture("kquants.json")
        let input = try fixture.tensor("input")
        for type in [GGMLType.q4_K, .q5_K, .q6_K] {
            let expected = try fixture.values("\(type)").map { UInt8($0) }
            var bytes = [UInt8](repeating: 0, count: input.count / 256 * type.blockBytes)
            bytes.withUnsafeMutableBytes { Quantize.run(type, input.data, count: input.count, into: $0.baseAddress!) }
            XCTAssertEqual(bytes.count, expected.count, "\(type)")
            let differing = zip(bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertNil(differing, "\(type): first differing byte \(differing ?? 0), in block \((differing ?? 0) / type.blockBytes)")

            let decoded = Tensor(uninitialized: input.shape)
            bytes.withUnsafeBytes { Dequantize.run(type, $0, count: input.count, into: decoded.data) }
            assertClose(decoded, try fixture.tensor("\(type)_dequantized"), tolerance: 0, "\(type) decoded by slm vs gguf-py")
            // ggml's range on Gaussian rows: Q4_K within ~6% of the row's largest value, Q5_K ~3%, Q6_K ~2%.
            let bound: Float = type == .q4_K ? 0.065 : type == .q5_K ? 0.03 : 0.02
            for row in 0..<input.shape[0] {
                let range = row * input.shape[1]..<(row + 1) * input.shape[1]
                let largest = range.map { abs(input.data[$0]) }.max()!
                let worst = range.map { abs(decoded.data[$0] - input.data[$0]) }.max()!
                XCTAssertLessThanOrEqual(worst / largest, bound, "\(type) row \(row)")
            }
        }
    }

    /// A matrix quantized in chunks of rows gives the bytes of one pass, for the 256-value blocks too.
    func testChunkedMatrixEqualsOnePass() throws {
        let x = Tensor.uniform([300, 512], low: -0.05, high: 0.03, seed: 5)
        for type in [GGMLType.q4_K, .q5_K, .q6_K] {
            let matrix = try QuantizedMatrix(quantizing: x, as: type)
            var onePass = [UInt8](repeating: 0, count: matrix.bytes.count)
            onePass.withUnsafeMutableBytes { Quantize.run(type, x.data, count: x.count, into: $0.baseAddress!) }
            XCTAssertTrue(onePass.elementsEqual(matrix.bytes), "\(type)")
        }
    }
}
