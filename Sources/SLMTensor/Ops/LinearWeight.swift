/// A weight a linear layer can multiply by: a dense `Tensor` [out, in] (trainable) or a
/// `QuantizedMatrix` kept in ggml blocks (frozen).
public protocol LinearWeight {
    /// [out, in]
    var shape: [Int] { get }
    /// `x` [..., in] · weightᵀ → [..., out]
    func applied(to x: Tensor) throws -> Tensor
    /// dx [..., in] = dy [..., out] · weight: the input's gradient, for ops that fold a frozen weight into their own backward.
    func inputGradient(_ dy: Tensor) throws -> Tensor
    /// Whether training changes the weight (it then needs its own gradient, and cannot be folded).
    var isTrainable: Bool { get }
    /// The weight as a Float32 tensor [out, in]: quantized blocks decoded, bf16 values widened, an adapter merged.
    func denseWeight() throws -> Tensor
}

extension Tensor: LinearWeight {
    public func applied(to x: Tensor) throws -> Tensor { try x.linear(self, bias: nil) }
    public var isTrainable: Bool { requiresGrad }
    public func denseWeight() -> Tensor { self }

    public func inputGradient(_ dy: Tensor) throws -> Tensor {
        guard rank == 2, dy.shape.last == shape[0] else { throw TensorError.shapeMismatch("linear", dy.shape, shape) }
        let tokens = dy.count / max(shape[0], 1)
        let dx = Tensor(uninitialized: Array(dy.shape.dropLast()) + [shape[1]])
        Gemm.sgemm(
            transA: false, transB: false, m: tokens, n: shape[1], k: shape[0],
            a: dy.data, lda: shape[0], b: data, ldb: shape[1], c: dx.data, ldc: shape[1])
        return dx
    }
}

extension QuantizedMatrix: LinearWeight {
    public func applied(to x: Tensor) throws -> Tensor { try x.linear(self) }
    public var isTrainable: Bool { false }
    public func denseWeight() -> Tensor { dequantized() }
}

extension Tensor {
    public func linear(_ weight: any LinearWeight) throws -> Tensor { try weight.applied(to: self) }
}
