import Foundation
import SLMTensor

/// Phi-3's LongRoPE, as transformers' `_compute_longrope_parameters` and `longrope_frequency_update`
/// compute it. Frequency i of the standard rotary embedding (base^(−2i / rotaryDim)) is divided by
/// a factor of its own: `short_factor[i]` while a sequence fits in the original context
/// (`original_max_position_embeddings`), `long_factor[i]` once it reaches past it. cos and sin are
/// scaled by one attention factor either way: `attention_factor` when given, else
/// √(1 + ln(factor) / ln(original)) with factor = `factor` or max_position_embeddings / original
/// (1 when factor ≤ 1).
///
/// The model's `rope` holds the short-context frequencies; this holds the long ones and the
/// factors (which exports write back: config.json's rope_scaling, GGUF's rope_factors_long/short).
public struct LongRope: Sendable {
    public var long: RopeFrequencies
    public var originalMaxPositions: Int
    public var shortFactors: [Double]
    public var longFactors: [Double]

    /// The short-context frequencies (the model's `rope`) and the LongRoPE that switches to the long ones.
    public static func frequencies(
        base: Double, rotaryDim: Int, shortFactors: [Double], longFactors: [Double], originalMaxPositions: Int,
        attentionFactor: Double
    ) throws -> (short: RopeFrequencies, longRope: LongRope) {
        guard shortFactors.count == rotaryDim / 2, longFactors.count == rotaryDim / 2 else {
            throw TensorError(
                op: "LongRope",
                "short_factor and long_factor need rotaryDim / 2 = \(rotaryDim / 2) values each, got \(shortFactors.count) and \(longFactors.count)")
        }
        guard (shortFactors + longFactors).allSatisfy({ $0 > 0 && $0.isFinite }), originalMaxPositions > 0 else {
            throw TensorError(op: "LongRope", "factors must be finite and > 0, and original_max_position_embeddings > 0")
        }
        let standard = try RopeFrequencies.standard(base: base, rotaryDim: rotaryDim).inverseFrequencies
        func scaled(_ factors: [Double]) throws -> RopeFrequencies {
            try RopeFrequencies(inverseFrequencies: zip(standard, factors).map { $0 / $1 }, attentionScaling: attentionFactor)
        }
        let longRope = LongRope(
            long: try scaled(longFactors), originalMaxPositions: originalMaxPositions, shortFactors: shortFactors, longFactors: longFactors)
        return (try scaled(shortFactors), longRope)
    }

    /// The default attention factor: √(1 + ln(factor) / ln(original)), 1 when factor ≤ 1.
    public static func attentionFactor(factor: Double, originalMaxPositions: Int) -> Double {
        factor <= 1 ? 1 : (1 + Foundation.log(factor) / Foundation.log(Double(originalMaxPositions))).squareRoot()
    }
}
