/// A weight a linear layer can multiply by: a dense `Tensor` [out, in] (trainable) or a
/// `QuantizedMatrix` kept in ggml blocks (frozen).
public protocol LinearWeight {
    /// [out, in]
    var shape: [Int] { get }
    /// `x` [..., in] · weightᵀ → [..., out]
    func applied(to x: Tensor) throws -> Tensor
}

extension Tensor: LinearWeight {
    public func applied(to x: Tensor) throws -> Tensor { try x.linear(self, bias: nil) }
}

extension QuantizedMatrix: LinearWeight {
    public func applied(to x: Tensor) throws -> Tensor { try x.linear(self) }
}

extension Tensor {
    public func linear(_ weight: any LinearWeight) throws -> Tensor { try weight.applied(to: self) }
}
