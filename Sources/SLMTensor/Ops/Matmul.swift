extension Tensor {
    /// Matrix product on OpenBLAS.
    ///
    /// - `self` [..., M, K] × `other` [K, N]: leading dimensions of `self` are flattened into M (a linear layer).
    /// - `self` [B..., M, K] × `other` [B..., K, N]: one product per batch index.
    /// `transposeA` / `transposeB` read the last two dimensions of either side transposed.
    public func matmul(_ other: Tensor, transposeA: Bool = false, transposeB: Bool = false) throws -> Tensor {
        let op = "matmul"
        guard rank >= 2, other.rank >= 2 else { throw TensorError.shapeMismatch(op, shape, other.shape) }
        let a = self, b = other
        let flatten = other.rank == 2 && !transposeA
        let batchShape = flatten ? Array(shape.dropLast()) : Array(shape.dropLast(2))
        if !flatten, Array(other.shape.dropLast(2)) != batchShape {
            throw TensorError(op: op, "batch dimensions differ: \(shape) and \(other.shape)")
        }
        let batch = flatten ? 1 : batchShape.reduce(1, *)
        let aRows = shape[rank - 2], aCols = shape[rank - 1]
        let m = flatten ? batchShape.reduce(1, *) : (transposeA ? aCols : aRows)
        let k = transposeA ? aRows : aCols
        let bRows = other.shape[other.rank - 2], bCols = other.shape[other.rank - 1]
        let kB = transposeB ? bCols : bRows, n = transposeB ? bRows : bCols
        guard k == kB else {
            throw TensorError(op: op, "inner dimensions differ: \(shape)\(transposeA ? "ᵀ" : "") × \(other.shape)\(transposeB ? "ᵀ" : "")")
        }
        let outShape = flatten ? batchShape + [n] : batchShape + [m, n]
        let out = Tensor(uninitialized: outShape)
        Gemm.sgemmBatched(
            batch: batch, transA: transposeA, transB: transposeB, m: m, n: n, k: k,
            a: a.data, lda: aCols, strideA: m * k, b: b.data, ldb: bCols, strideB: k * n,
            c: out.data, ldc: n, strideC: m * n)
        return try Tensor.record(op, out, inputs: [a, b]) { g in
            var ga: Tensor?, gb: Tensor?
            if a.requiresGrad {
                let grad = Tensor(uninitialized: a.shape)
                if !transposeA {  // dA[m,k] = dC[m,n] · op(B)ᵀ
                    Gemm.sgemmBatched(
                        batch: batch, transA: false, transB: !transposeB, m: m, n: k, k: n,
                        a: g.data, lda: n, strideA: m * n, b: b.data, ldb: bCols, strideB: k * n,
                        c: grad.data, ldc: k, strideC: m * k)
                } else {  // dA[k,m] = op(B)[k,n] · dCᵀ
                    Gemm.sgemmBatched(
                        batch: batch, transA: transposeB, transB: true, m: k, n: m, k: n,
                        a: b.data, lda: bCols, strideA: k * n, b: g.data, ldb: n, strideB: m * n,
                        c: grad.data, ldc: m, strideC: m * k)
                }
                ga = grad
            }
            if b.requiresGrad {
                let grad = Tensor(uninitialized: b.shape)
                if !transposeB {  // dB[k,n] = op(A)ᵀ · dC
                    Gemm.sgemmBatched(
                        batch: batch, transA: !transposeA, transB: false, m: k, n: n, k: m,
                        a: a.data, lda: aCols, strideA: m * k, b: g.data, ldb: n, strideB: m * n,
                        c: grad.data, ldc: n, strideC: k * n)
                } else {  // dB[n,k] = dCᵀ · op(A)
                    Gemm.sgemmBatched(
                        batch: batch, transA: true, transB: transposeA, m: n, n: k, k: m,
                        a: g.data, lda: n, strideA: m * n, b: a.data, ldb: aCols, strideB: m * k,
                        c: grad.data, ldc: k, strideC: k * n)
                }
                gb = grad
            }
            return [ga, gb]
        }
    }

    /// A linear layer as PyTorch lays it out: `self` [..., in] · `weight`[out, in]ᵀ (+ `bias`[out]).
    public func linear(_ weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        guard weight.rank == 2, shape.last == weight.shape[1] else {
            throw TensorError(op: "linear", "input \(shape) does not fit weight \(weight.shape) (expects [..., \(weight.shape.last ?? 0)])")
        }
        let y = try matmul(weight, transposeB: true)
        guard let bias else { return y }
        guard bias.shape == [weight.shape[0]] else {
            throw TensorError(op: "linear", "bias \(bias.shape) does not fit weight \(weight.shape)")
        }
        return try y + bias
    }
}
