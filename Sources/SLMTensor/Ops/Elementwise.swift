/// Elementwise arithmetic with broadcasting, and the scalar and unary maps.
public enum BinaryOp: String, Sendable {
    case add, sub, mul, div

    @inline(__always) func apply(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .add: x + y
        case .sub: x - y
        case .mul: x * y
        case .div: x / y
        }
    }
}

extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.div, b) }

    /// `self op other` with NumPy broadcasting. Backward sums each gradient
    /// over the dimensions its input was stretched along.
    public func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        let outShape = try Broadcast.shape(op.rawValue, shape, other.shape)
        let out = Tensor(uninitialized: outShape)
        Kernels.binary(op, self, other, into: out)
        let a = self, b = other
        return try Tensor.record(op.rawValue, out, inputs: [a, b]) { g in
            let ga: Tensor?, gb: Tensor?
            switch op {
            case .add:
                ga = a.requiresGrad ? Broadcast.sum(g, to: a.shape) : nil
                gb = b.requiresGrad ? Broadcast.sum(g, to: b.shape) : nil
            case .sub:
                ga = a.requiresGrad ? Broadcast.sum(g, to: a.shape) : nil
                gb = b.requiresGrad ? Broadcast.sum(Kernels.map(g) { -$0 }, to: b.shape) : nil
            case .mul:
                ga = a.requiresGrad ? Broadcast.sum(Kernels.broadcasting(.mul, g, b), to: a.shape) : nil
                gb = b.requiresGrad ? Broadcast.sum(Kernels.broadcasting(.mul, g, a), to: b.shape) : nil
            case .div:
                ga = a.requiresGrad ? Broadcast.sum(Kernels.broadcasting(.div, g, b), to: a.shape) : nil
                if b.requiresGrad {
                    // d(a/b)/db = -(a/b)/b = -out/b
                    let t = Kernels.broadcasting(.div, Kernels.broadcasting(.mul, g, out), b)
                    gb = Broadcast.sum(Kernels.map(t) { -$0 }, to: b.shape)
                } else {
                    gb = nil
                }
            }
            return [ga, gb]
        }
    }

    public func scaled(by s: Float) throws -> Tensor {
        let out = Kernels.map(self) { $0 * s }
        return try Tensor.record("scaled", out, inputs: [self]) { g in [Kernels.map(g) { $0 * s }] }
    }

    public func adding(_ s: Float) throws -> Tensor {
        let out = Kernels.map(self) { $0 + s }
        return try Tensor.record("adding", out, inputs: [self]) { g in [g] }
    }

    public func exp() throws -> Tensor {
        let out = Kernels.map(self) { Foundation.exp($0) }
        return try Tensor.record("exp", out, inputs: [self]) { g in [Kernels.zip(g, out) { $0 * $1 }] }
    }

    public func log() throws -> Tensor {
        let x = self
        let out = Kernels.map(self) { Foundation.log($0) }
        return try Tensor.record("log", out, inputs: [self]) { g in [Kernels.zip(g, x) { $0 / $1 }] }
    }

    public func squared() throws -> Tensor {
        let x = self
        let out = Kernels.map(self) { $0 * $0 }
        return try Tensor.record("squared", out, inputs: [self]) { g in [Kernels.zip(g, x) { 2 * $0 * $1 }] }
    }
}

import Foundation
