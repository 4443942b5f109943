import CBLAS
import Foundation
import Synchronization

/// Row-major single-precision matrix multiply on OpenBLAS:
/// C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, with op = transpose when asked.
/// Time spent here is counted when `Gemm.profiling` is on, so benchmarks can
/// split a step into matmul time and everything else. A call made by one of
/// `Parallel`'s workers counts 1/threads of its time, so `seconds` stays wall time
/// when the workers run their gemms side by side.
public enum Gemm {
    nonisolated(unsafe) public static var profiling = false
    private static let counters = Mutex((seconds: 0.0, flops: 0.0))

    public static var seconds: Double { counters.withLock { $0.seconds } }
    public static var flops: Double { counters.withLock { $0.flops } }

    public static func resetCounters() {
        counters.withLock { $0 = (0, 0) }
    }

    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        counting(flops: 2 * Double(m) * Double(n) * Double(k)) {
            if k == 0 {
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            } else if m == 1 {
                // One row (a decoding step's projections): sgemv reads op(B) once, where sgemm would
                // first pack all of it. C is zeroed first so that beta 0 never multiplies garbage.
                if beta == 0 { c.update(repeating: 0, count: n) }
                cblas_sgemv(
                    CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? n : k), Int32(transB ? k : n),
                    alpha, b, Int32(ldb), a, Int32(transA ? lda : 1), beta, c, 1)
            } else {
                cblas_sgemm(
                    CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            }
        }
    }

    /// Runs `body`, a matrix product of `flops` FLOPs, counting its time when `profiling` is on;
    /// slm's own matmul kernels (`QuantizedGemv`, `SmallGemm`, `TileGemm`) run through it too, so a
    /// step's matmul share includes them.
    @inline(__always)
    static func counting(flops: @autoclosure () -> Double, _ body: () -> Void) {
        guard profiling else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        count(since: start, flops: flops())
    }

    /// Adds the time since `start` (uptime nanoseconds) and `flops` to the counters.
    private static func count(since start: UInt64, flops: Double) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let share = Parallel.isInsideWorkers ? 1 / Double(Parallel.threads) : 1
        counters.withLock {
            $0.seconds += elapsed * share
            $0.flops += flops
        }
    }

    /// `batch` independent products whose matrices sit `strideA`, `strideB`, `strideC` elements apart,
    /// e.g. one per attention head of a [B, H, T, D] tensor.
    public static func sgemmBatched(
        batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
        b: UnsafePointer<Float>, ldb: Int, strideB: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
    ) {
        for i in 0..<batch {
            sgemm(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                beta: beta, c: c + i * strideC, ldc: ldc)
        }
    }
}

extension Reference {
    /// Triple-loop twin of `Gemm.sgemm`, accumulating in Double.
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    acc += Double(x) * Double(y)
                }
                let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(acc) + prior
            }
        }
    }
}
