import Foundation

/// A dense, contiguous, row-major Float32 tensor.
///
/// Data lives in a 64-byte-aligned pooled buffer. A tensor made by an op that
/// involved a tensor with `requiresGrad` remembers that op (`node`), which is
/// how `backward()` finds the vector-Jacobian products to run.
public final class Tensor {
    public let shape: [Int]
    public let count: Int
    public let storage: TensorStorage
    public var requiresGrad: Bool
    /// The accumulated gradient, once `backward()` has reached this tensor.
    public internal(set) var grad: Tensor?
    /// The op that produced this tensor, while it is still needed for backward.
    public internal(set) var node: Node?
    /// True while `grad` may be shared with another tensor and must not be updated in place.
    var gradIsShared = false

    /// An uninitialised tensor (contents are whatever the pooled buffer held).
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = TensorStorage(count: count)
        self.requiresGrad = false
    }

    /// A tensor sharing another's storage under a new shape with the same element count.
    init(sharing storage: TensorStorage, shape: [Int]) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = storage
        self.requiresGrad = false
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw TensorError(op: "Tensor.init", "\(values.count) values do not fill shape \(shape)")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { data.update(from: base, count: values.count) }
        }
        self.requiresGrad = requiresGrad
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.initialize(repeating: 0, count: t.count)
        t.requiresGrad = requiresGrad
        return t
    }

    public static func filled(_ shape: [Int], with value: Float) -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.initialize(repeating: value, count: t.count)
        return t
    }

    public static func scalar(_ value: Float) -> Tensor { filled([], with: value) }

    public var data: UnsafeMutablePointer<Float> { storage.pointer }
    public var rank: Int { shape.count }
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The single value of a one-element tensor.
    public func item() -> Float {
        precondition(count == 1, "item() needs one element, shape is \(shape)")
        return data[0]
    }

    /// A copy that shares no history: a leaf for a new graph.
    public func detached(requiresGrad: Bool = false) -> Tensor {
        let t = copy()
        t.requiresGrad = requiresGrad
        return t
    }

    /// A copy of the data, outside any graph.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Clears the gradient of a leaf (e.g. a parameter) before the next step.
    public func zeroGrad() {
        grad = nil
        gradIsShared = false
    }

    /// Adds `g` into `grad`, copying first if the current gradient is shared.
    func accumulateGrad(_ g: Tensor) {
        guard let current = grad else {
            grad = g
            gradIsShared = true
            return
        }
        if gradIsShared {
            let owned = current.copy()
            grad = owned
            gradIsShared = false
        }
        let dst = grad!.data, src = g.data
        for i in 0..<count { dst[i] += src[i] }
    }

    /// Row-major strides of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(shown)\(count > 8 ? ", …" : "")]"
    }
}
