import CKernels
import SLMTensor
import SLMTestSupport
import XCTest

/// `SmallGemm` against `Reference.sgemm` (sums in Double), on the AVX-512 kernel and on OpenBLAS,
/// at shapes that fill no 12-row block or 16-column vector exactly.
final class SmallGemmTests: XCTestCase {
    private var paths: [Bool] { SmallGemm.isAvailable ? [true, false] : [false] }

    override func tearDown() { SmallGemm.usesAVX512 = SmallGemm.isAvailable }

    /// A [m, k] (row-major, or stored transposed when `transposed`), B [k, n] with row stride n + 3.
    private struct Operands {
        let m: Int, n: Int, k: Int, transposed: Bool
        let a: Tensor, b: Tensor
        var ldb: Int { n + 3 }
        var aRow: Int { transposed ? 1 : k }
        var aCol: Int { transposed ? m : 1 }

        init(m: Int, n: Int, k: Int, transposed: Bool, seed: UInt64) {
            self.m = m
            self.n = n
            self.k = k
            self.transposed = transposed
            a = Tensor.uniform([max(m * k, 1)], low: -1, high: 1, seed: seed)
            b = Tensor.uniform([max(k * (n + 3), 1)], low: -1, high: 1, seed: seed + 1)
        }

        /// Σ_p A(i, p) B(p, j), summed in Double by `Reference.sgemm`.
        func sums() -> [[Double]] {
            var c = [Float](repeating: 0, count: max(m * n, 1))
            c.withUnsafeMutableBufferPointer { out in
                Reference.sgemm(
                    transA: transposed, transB: false, m: m, n: n, k: k, a: a.data, lda: transposed ? m : k,
                    b: b.data, ldb: ldb, c: out.baseAddress!, ldc: n)
            }
            return (0..<m).map { i in (0..<n).map { Double(c[i * n + $0]) } }
        }
    }

    private let shapes = [(1, 1, 1), (5, 17, 7), (12, 32, 64), (13, 16, 3), (25, 33, 64), (30, 64, 200), (3, 70, 0)]

    func testPlainMatchesReference() throws {
        for useAVX512 in paths {
            SmallGemm.usesAVX512 = useAVX512
            for (n, (m, cols, k)) in shapes.enumerated() {
                for transposed in [false, true] {
                    let x = Operands(m: m, n: cols, k: k, transposed: transposed, seed: UInt64(10 * n))
                    let expected = x.sums()
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1)] {
                        let ldc = cols + 5
                        // beta 0 must not read c: NaN there would otherwise come through.
                        var c = [Float](repeating: beta == 0 ? .nan : 2, count: m * ldc)
                        c.withUnsafeMutableBufferPointer { out in
                            SmallGemm.multiply(
                                m: m, n: cols, k: k, a: x.a.data, aRow: x.aRow, aCol: x.aCol, b: x.b.data, ldb: x.ldb,
                                c: out.baseAddress!, ldc: ldc, epilogue: .plain(alpha: alpha, beta: beta))
                        }
                        for i in 0..<m {
                            for j in 0..<cols {
                                let want = Double(alpha) * expected[i][j] + Double(beta) * 2
                                XCTAssertEqual(Double(c[i * ldc + j]), want, accuracy: 1e-4, "\(m)×\(cols)×\(k) transposed \(transposed) avx512 \(useAVX512) [\(i), \(j)]")
                            }
                            for j in cols..<ldc { XCTAssertEqual(c[i * ldc + j].isNaN, beta == 0, "column \(j) beyond n was written") }
                        }
                    }
                }
            }
        }
    }

    /// exp(alpha·s − shift[i]) on each row's visible columns and 0 elsewhere, on a block of c that
    /// starts at row 2, column 5 of the epilogue's numbering (`advanced`); and P ⊙ (s − D).
    func testEpiloguesMatchReference() throws {
        for useAVX512 in paths {
            SmallGemm.usesAVX512 = useAVX512
            let (m, cols, k) = (14, 37, 64)
            let x = Operands(m: m, n: cols, k: k, transposed: false, seed: 3)
            let expected = x.sums()
            let alpha: Float = 0.125, rowsBefore = 2, columnsBefore = 5
            let shift = (0..<(m + rowsBefore)).map { Float($0) * 0.1 + 1 }
            let from = (0..<(m + rowsBefore)).map { Int32($0 % 7) }
            let to = (0..<(m + rowsBefore)).map { Int32($0 % 3 == 0 ? 0 : columnsBefore + 11 + 3 * $0) }
            let ldc = 48
            var p = [Float](repeating: .nan, count: m * ldc + 8)
            shift.withUnsafeBufferPointer { s in
                from.withUnsafeBufferPointer { f in
                    to.withUnsafeBufferPointer { t in
                        p.withUnsafeMutableBufferPointer { out in
                            let epilogue = slm_epilogue.exp(alpha: alpha, shift: s.baseAddress!, from: f.baseAddress!, to: t.baseAddress!)
                            SmallGemm.multiply(
                                m: m, n: cols, k: k, a: x.a.data, aRow: x.aRow, aCol: x.aCol, b: x.b.data, ldb: x.ldb,
                                c: out.baseAddress!, ldc: ldc, epilogue: epilogue.advanced(rows: rowsBefore, columns: columnsBefore))
                        }
                    }
                }
            }
            for i in 0..<m {
                let r = i + rowsBefore
                for j in 0..<cols {
                    let column = j + columnsBefore
                    let visible = Int(from[r]) <= column && column < Int(to[r])
                    let want = visible ? Foundation.exp(Double(alpha) * expected[i][j] - Double(shift[r])) : 0
                    XCTAssertEqual(Double(p[i * ldc + j]), want, accuracy: 1e-6 + 1e-5 * want, "exp avx512 \(useAVX512) [\(i), \(j)]")
                }
            }

            let delta = (0..<m).map { Float($0) * 0.3 - 2 }
            var ds = [Float](repeating: .nan, count: m * ldc)
            delta.withUnsafeBufferPointer { dl in
                p.withUnsafeBufferPointer { pp in
                    ds.withUnsafeMutableBufferPointer { out in
                        SmallGemm.multiply(
                            m: m, n: cols, k: k, a: x.a.data, aRow: x.aRow, aCol: x.aCol, b: x.b.data, ldb: x.ldb,
                            c: out.baseAddress!, ldc: ldc,
                            epilogue: .softmaxGradient(delta: dl.baseAddress!, probabilities: pp.baseAddress!, ldp: ldc))
                    }
                }
            }
            for i in 0..<m {
                for j in 0..<cols {
                    let want = Double(p[i * ldc + j]) * (expected[i][j] - Double(delta[i]))
                    XCTAssertEqual(Double(ds[i * ldc + j]), want, accuracy: 1e-4, "softmax gradient avx512 \(useAVX512) [\(i), \(j)]")
                }
            }
        }
    }

    /// One softmax row on AVX-512: the max of row[a..<e], then exp(row − shift) there, 0 elsewhere below n.
    func testSoftmaxRowMatchesReference() throws {
        try XCTSkipUnless(SmallGemm.isAvailable, "this CPU has no AVX-512")
        for (a, e, n) in [(0, 1, 1), (0, 16, 16), (3, 17, 21), (5, 40, 48), (0, 70, 77), (31, 33, 64)] {
            let source = Tensor.uniform([n + 16], low: -30, high: 5, seed: UInt64(n)).scalars
            var row = source
            let expectedMax = source[a..<e].max()!
            XCTAssertEqual(slm_row_max(source, a, e), expectedMax, "max \(a)..<\(e)")
            let sum = slm_exp_row(&row, a, e, n, expectedMax)
            var expectedSum = 0.0
            for j in 0..<(n + 16) {
                let want = j >= n ? Double(source[j]) : (a..<e).contains(j) ? Foundation.exp(Double(source[j] - expectedMax)) : 0
                if (a..<e).contains(j) { expectedSum += want }
                XCTAssertEqual(Double(row[j]), want, accuracy: 1e-6 + 1e-6 * abs(want), "exp \(a)..<\(e) of \(n), [\(j)]")
            }
            XCTAssertEqual(Double(sum), expectedSum, accuracy: 1e-5 * expectedSum, "sum \(a)..<\(e)")
        }
    }
}
