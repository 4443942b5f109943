import SLMTensor
import SLMTestSupport
import XCTest

/// The Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 quantizer against gguf-py (fixtures/make_quantize.py), and its round trip.
final class QuantizeTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testMatchesGGUFPyByteForByte() throws {
        let fixture = try Fixture("quantize.json")
        let input = try fixture.tensor("input")
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
            let expected = try fixture.values("\(type)").map { UInt8($0) }
            var bytes = [UInt8](repeating: 0, count: input.count / 32 * type.blockBytes)
            bytes.withUnsafeMutableBytes { Quantize.run(type, input.data, count: input.count, into: $0.baseAddress!) }
            XCTAssertEqual(bytes.count, expected.count, "\(type)")
            let differing = zip(bytes, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertNil(differing, "\(type): first differing byte \(differing ?? 0), in block \((differing ?? 0) / type.blockBytes)")
        }
    }

    /// Every value comes back within its block's rounding step (Q4_0: a whole step at the clamped end,
    /// where +8·d becomes 7·d), plus float16's rounding of the scale and offset. The matrix is quantized
    /// in several chunks of rows, which must give the same bytes as one pass.
    func testRoundTripStaysWithinOneStep() throws {
        let rows = 2100, cols = 512
        let x = Tensor.uniform([rows, cols], low: -0.05, high: 0.03, seed: 5)
        let half16: Float = 0x1p-11
        for type in [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
            let matrix = try QuantizedMatrix(quantizing: x, as: type)
            var onePass = [UInt8](repeating: 0, count: matrix.bytes.count)
            onePass.withUnsafeMutableBytes { Quantize.run(type, x.data, count: x.count, into: $0.baseAddress!) }
            XCTAssertTrue(onePass.elementsEqual(matrix.bytes), "\(type): chunked bytes differ from one pass")

            let y = matrix.dequantized()
            var worstRatio: Float = 0
            for block in 0..<(x.count / 32) {
                let values = (0..<32).map { x.data[block * 32 + $0] }
                let low = values.min()!, high = values.max()!, amax = values.map(abs).max()!
                let bound: Float = switch type {
                case .q8_0: amax / 127 * (0.5 + 127 * half16)
                case .q4_0: amax / 8 * (1 + 8 * half16)
                case .q5_0: amax / 16 * (1 + 16 * half16)
                case .q5_1: (high - low) / 31 * (0.5 + 31 * half16) + abs(low) * half16
                default: (high - low) / 15 * (0.5 + 15 * half16) + abs(low) * half16
                }
                for j in 0..<32 {
                    worstRatio = max(worstRatio, abs(y.data[block * 32 + j] - values[j]) / bound)
                }
            }
            XCTAssertLessThanOrEqual(worstRatio, 1, "\(type): worst error over its bound")
        }
    }

    func testRefusesTypesItCannotMake() {
        let x = Tensor.uniform([2, 256], seed: 1)
        XCTAssertThrowsError(try QuantizedMatrix(quantizing: x, as: .bf16)) { XCTAssertTrue("\($0)".contains("Q4_K, Q5_K and Q6_K can"), "\($0)") }
        XCTAssertThrowsError(try QuantizedMatrix(quantizing: Tensor.uniform([2, 40], seed: 1), as: .q8_0)) {
            XCTAssertTrue("\($0)".contains("multiple of 32"), "\($0)")
        }
    }
}
