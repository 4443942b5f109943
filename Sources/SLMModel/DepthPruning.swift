import Foundation
import SLMTensor

/// A smaller student made from a model by dropping whole decoder layers (depth pruning), as
/// ShortGPT and Minitron do: keep N layers, either spread evenly or the N that change their input
/// most on a calibration set.
public enum DepthPruning {
    /// `keep` of `total` layer indices spread evenly, first and last included:
    /// round(i · (total − 1) / (keep − 1)) for i in 0..<keep (layer 0 alone when keep is 1).
    public static func evenLayers(total: Int, keep: Int) -> [Int] {
        precondition(keep >= 1 && keep <= total, "keep 1...\(total) layers, not \(keep)")
        guard keep > 1 else { return [0] }
        return (0..<keep).map { Int((Double($0) * Double(total - 1) / Double(keep - 1)).rounded()) }
    }

    /// Each layer's importance on calibration sequences: 1 − the mean, over every token, of the
    /// cosine similarity between the layer's input and output hidden state (ShortGPT's Block
    /// Influence). A layer that barely changes its input scores near 0 and is the first to go.
    public static func importance(of model: Transformer, calibration: [[Int32]]) throws -> [Double] {
        var sums = [Double](repeating: 0, count: model.layers.count)
        var tokens = 0
        try GradMode.withoutGrad {
            for ids in calibration where !ids.isEmpty {
                let t = ids.count
                let positions = (0..<t).map(Int32.init)
                var x = try model.embedded(ids)
                for (n, layer) in model.layers.enumerated() {
                    let y = try layer.forward(x, batch: 1, sequence: t, positions: positions)
                    sums[n] += rowCosineSum(x.scalars, y.scalars, width: model.config.hiddenSize)
                    x = y
                }
                tokens += t
            }
        }
        return sums.map { 1 - $0 / Double(max(tokens, 1)) }
    }

    /// The indices of the `keep` highest scores, in layer order (ties: the earlier layer).
    public static func mostImportant(_ scores: [Double], keep: Int) -> [Int] {
        Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(keep)).sorted()
    }

    /// Σ over rows of cos(a_row, b_row) for two [rows, width] matrices.
    static func rowCosineSum(_ a: [Float], _ b: [Float], width: Int) -> Double {
        var total = 0.0
        for row in 0..<a.count / width {
            var ab = 0.0, aa = 0.0, bb = 0.0
            for i in row * width..<(row + 1) * width {
                let x = Double(a[i]), y = Double(b[i])
                ab += x * y
                aa += x * x
                bb += y * y
            }
            total += ab / max((aa * bb).squareRoot(), 1e-30)
        }
        return total
    }
}

extension Transformer {
    /// The same model with only the layers at `indices` (in that order); the weights are shared, not copied.
    public func keepingLayers(_ indices: [Int]) -> Transformer {
        var config = self.config
        config.layers = indices.count
        if let gemma = config.gemma { config.gemma?.slidingLayers = indices.map { gemma.slidingLayers[$0] } }
        let kept = Transformer(
            config: config, embedTokens: embedTokens, layers: indices.map { layers[$0] }, norm: norm,
            lmHead: lmHead === embedTokens ? nil : lmHead)
        kept.decodingHead = decodingHead
        return kept
    }
}
