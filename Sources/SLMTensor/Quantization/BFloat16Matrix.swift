/// A frozen weight [out, in] held in bf16, for LoRA on a base in mixed precision (as PyTorch's
/// bf16 autocast multiplies it): its products round the input to bf16 too and sum in Float32.
///
/// With AMX (`TileGemm.isAvailable`) the weight is packed twice, as Wᵀ for the forward product and
/// as W for the input's gradient, so it takes the memory of one Float32 copy and multiplies at
/// ~5× the Float32 rate. Without AMX it keeps Float32 copies of its bf16 values and multiplies them
/// with OpenBLAS, giving the same values up to the order of the sums.
public final class BFloat16Matrix: LinearWeight, @unchecked Sendable {
    public let shape: [Int]
    private let storage: Storage

    private enum Storage {
        /// B = Wᵀ [in, out] for x · Wᵀ, B = W [out, in] for dy · W.
        case tiles(forward: TileGemm.PackedMatrix, backward: TileGemm.PackedMatrix)
        /// W's bf16 values as Float32 [out, in].
        case rounded(Tensor)
    }

    /// `weight` [out, in] rounded to bf16 (nearest even); `useTiles` false keeps the OpenBLAS path on an AMX machine.
    public init(_ weight: Tensor, useTiles: Bool = TileGemm.isAvailable) throws {
        guard weight.rank == 2, weight.count > 0 else {
            throw TensorError(op: "BFloat16Matrix", "needs a 2-D weight [out, in] with both > 0, got \(weight.shape)")
        }
        let (out, inFeatures) = (weight.shape[0], weight.shape[1])
        shape = weight.shape
        if useTiles && TileGemm.isAvailable {
            storage = .tiles(
                forward: TileGemm.PackedMatrix(weight.data, strideK: 1, strideN: inFeatures, k: inFeatures, n: out),
                backward: TileGemm.PackedMatrix(weight.data, strideK: inFeatures, strideN: 1, k: out, n: inFeatures))
        } else {
            let rounded = Tensor(uninitialized: weight.shape)
            TileGemm.round(weight.data, into: rounded.data, count: weight.count)
            storage = .rounded(rounded)
        }
    }

    public var isTrainable: Bool { false }

    /// x [..., in] · Wᵀ → [..., out]; backward gives the input's gradient only (the weight is frozen).
    public func applied(to x: Tensor) throws -> Tensor {
        guard x.shape.last == shape[1] else {
            throw TensorError(op: "linear", "input \(x.shape) does not fit bf16 weight \(shape)")
        }
        let y = product(x, transposeWeight: true)
        return try Tensor.record("linear", y, inputs: [x]) { g in [try self.inputGradient(g)] }
    }

    /// dx [..., in] = dy [..., out] · W, with dy rounded to bf16.
    public func inputGradient(_ dy: Tensor) throws -> Tensor {
        guard dy.shape.last == shape[0] else {
            throw TensorError(op: "linear", "gradient \(dy.shape) does not fit bf16 weight \(shape)")
        }
        return product(dy, transposeWeight: false)
    }

    /// The weight's bf16 values as Float32 [out, in].
    public func denseWeight() -> Tensor {
        switch storage {
        case .tiles(_, let backward):
            let w = Tensor(uninitialized: shape)
            backward.unpack(rows: 0..<shape[0], into: w.data)
            return w
        case .rounded(let w): return w.detached()
        }
    }

    /// x [..., k] · Wᵀ (k = in) or x · W (k = out).
    private func product(_ x: Tensor, transposeWeight: Bool) -> Tensor {
        let k = shape[transposeWeight ? 1 : 0], n = shape[transposeWeight ? 0 : 1]
        let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [n])
        multiply(x.data, rows: x.count / k, transposingWeight: transposeWeight, into: y.data)
        return y
    }

    /// y [rows, out] = x [rows, in] · Wᵀ when `transposingWeight`, else y [rows, in] = x [rows, out] · W;
    /// x rounded to bf16, rows contiguous.
    public func multiply(_ x: UnsafePointer<Float>, rows: Int, transposingWeight: Bool, into y: UnsafeMutablePointer<Float>) {
        let k = shape[transposingWeight ? 1 : 0], n = shape[transposingWeight ? 0 : 1]
        switch storage {
        case .tiles(let forward, let backward):
            TileGemm.multiply(x, lda: k, m: rows, transposingWeight ? forward : backward, c: y, ldc: n)
        case .rounded(let w):
            let rounded = Tensor(uninitialized: [rows, k])
            TileGemm.round(x, into: rounded.data, count: rows * k)
            Gemm.sgemm(
                transA: false, transB: transposingWeight, m: rows, n: n, k: k,
                a: rounded.data, lda: k, b: w.data, ldb: shape[1], c: y, ldc: n)
        }
    }
}
