/// One recorded op: the tensors it read and the vector-Jacobian product that
/// turns the gradient of its output into gradients of those inputs.
public final class Node {
    public let op: String
    var inputs: [Tensor]
    /// Given dL/d(output), returns dL/d(input) for each input (nil where an input needs none).
    /// Released right after the reverse sweep has used it, freeing the activations it saved.
    var vjp: ((Tensor) throws -> [Tensor?])?

    init(op: String, inputs: [Tensor], vjp: @escaping (Tensor) throws -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.vjp = vjp
    }
}

/// Whether ops record themselves for backward; off during evaluation and inside recomputation.
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    public static func withoutGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isEnabled
        isEnabled = false
        defer { isEnabled = saved }
        return try body()
    }
}

/// Engine-wide checks that cost time, for debugging a run.
public enum EngineChecks {
    /// When on, every op's output is scanned for NaN and Inf, and a non-finite
    /// value raises an error naming the op and its input shapes.
    nonisolated(unsafe) public static var checkFinite = false
}

extension Tensor {
    /// Attaches `vjp` to `output` if any input needs a gradient; returns `output`.
    /// Every op calls this last.
    static func record(
        _ op: String, _ output: Tensor, inputs: [Tensor],
        vjp: @escaping (Tensor) throws -> [Tensor?]
    ) throws -> Tensor {
        if EngineChecks.checkFinite { try output.requireFinite(op, inputs: inputs) }
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.requiresGrad = true
        output.node = Node(op: op, inputs: inputs, vjp: vjp)
        return output
    }

    func requireFinite(_ op: String, inputs: [Tensor]) throws {
        for i in 0..<count where !data[i].isFinite {
            throw TensorError(
                op: op,
                "produced \(data[i]) at flat index \(i) of output \(shape) from inputs \(describe(inputs.map(\.shape)))",
                kind: .nonFiniteValue)
        }
    }

    /// Reverse-mode sweep from this scalar: one topological sort, then each
    /// node's VJP in reverse order. Leaves keep their `grad`; intermediate
    /// gradients and saved activations are released as soon as they are used.
    public func backward(seed: Tensor? = nil) throws {
        if seed == nil, count != 1 {
            throw TensorError(op: "backward", "needs a scalar loss or an explicit seed, output shape is \(shape)")
        }
        if let seed, seed.shape != shape {
            throw TensorError.shapeMismatch("backward", shape, seed.shape)
        }
        guard requiresGrad else { throw TensorError(op: "backward", "the loss does not depend on any tensor that requires a gradient") }
        accumulateGrad(seed ?? Tensor.filled(shape, with: 1))
        for tensor in topologicalOrder().reversed() {
            guard let node = tensor.node, let vjp = node.vjp, let g = tensor.grad else { continue }
            let inputGrads = try vjp(g)
            for (input, inputGrad) in zip(node.inputs, inputGrads) {
                guard let inputGrad, input.requiresGrad else { continue }
                if inputGrad.shape != input.shape {
                    throw TensorError(op: node.op, "backward produced gradient \(inputGrad.shape) for input \(input.shape)")
                }
                input.accumulateGrad(inputGrad)
            }
            tensor.node = nil
            tensor.grad = nil
        }
    }

    private func topologicalOrder() -> [Tensor] {
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (tensor, expanded) = stack.popLast() {
            if expanded {
                order.append(tensor)
                continue
            }
            guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
            stack.append((tensor, true))
            for input in tensor.node?.inputs ?? [] where input.node != nil && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        return order
    }

    /// Runs `body` without keeping its activations, and records one node that
    /// re-runs it with recording on during backward: activation recomputation,
    /// trading one extra forward for the memory of everything `body` saves.
    /// Parameters captured by `body` receive their gradients during that replay.
    /// `body` must be deterministic (dropout takes an explicit seed for this reason).
    public static func recomputed(_ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> Tensor) throws -> Tensor {
        let output = try GradMode.withoutGrad { try body(inputs) }
        guard GradMode.isEnabled else { return output }
        output.requiresGrad = true
        output.node = Node(op: "recomputed", inputs: inputs) { g in
            let replayInputs = inputs.map { $0.detached(requiresGrad: $0.requiresGrad) }
            let replay = try body(replayInputs)
            if replay.requiresGrad { try replay.backward(seed: g) }
            return replayInputs.map { $0.grad }
        }
        return output
    }
}
