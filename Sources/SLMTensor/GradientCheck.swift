/// Checks an op's backward against central finite differences.
///
/// The scalar differentiated is L = Σ f(x) ⊙ w with a fixed pseudo-random w,
/// so every output element and every input element takes part. Sums are
/// accumulated in Double; the perturbed forward runs in Float32, which is why
/// the check takes an explicit tolerance: |analytic − numeric| must stay within
/// `absolute + relative · max(|analytic|, |numeric|)` for every element.
public enum GradientCheck {
    public struct Mismatch: Error, CustomStringConvertible {
        public let input: Int, index: Int
        public let analytic: Double, numeric: Double
        public var description: String {
            "input \(input) element \(index): analytic \(analytic), finite difference \(numeric)"
        }
    }

    /// Largest |analytic − numeric| seen over all checked elements; throws `Mismatch` past tolerance.
    @discardableResult
    public static func check(
        _ inputs: [Tensor], epsilon: Float = 1e-2, absolute: Double = 1e-3, relative: Double = 1e-2,
        seed: UInt64 = 7, _ f: ([Tensor]) throws -> Tensor
    ) throws -> Double {
        for x in inputs { x.zeroGrad() }
        let output = try f(inputs)
        let weights = (0..<output.count).map { i in Double(SplitMix64.uniform(seed: seed, index: UInt64(i))) * 2 - 1 }
        let projectedWeights = try Tensor(weights.map { Float($0) }, shape: output.shape)
        if output.requiresGrad { try output.backward(seed: projectedWeights) }

        func loss() throws -> Double {
            let y = try GradMode.withoutGrad { try f(inputs) }
            var acc = 0.0
            for i in 0..<y.count { acc += Double(y.data[i]) * weights[i] }
            return acc
        }

        var worst = 0.0
        for (n, x) in inputs.enumerated() where x.requiresGrad {
            for i in 0..<x.count {
                let saved = x.data[i]
                x.data[i] = saved + epsilon
                let up = try loss()
                x.data[i] = saved - epsilon
                let down = try loss()
                x.data[i] = saved
                let numeric = (up - down) / (2 * Double(epsilon))
                let analytic = Double(x.grad?.data[i] ?? 0)
                let diff = abs(analytic - numeric)
                worst = max(worst, diff)
                if diff > absolute + relative * max(abs(analytic), abs(numeric)) {
                    throw Mismatch(input: n, index: i, analytic: analytic, numeric: numeric)
                }
            }
        }
        return worst
    }
}
