import Foundation

/// Llama 3 rope scaling recovered from a GGUF file's `rope_freqs.weight`, for a Hugging Face export's
/// config.json. llama.cpp's converter writes only the per-frequency factors: 1 where the wavelength
/// 2π/f is below original/high_freq_factor, `factor` above original/low_freq_factor, and between them
/// 1 / ((1 − s)/factor + s) with s = (original/wavelength − low)/(high − low). The largest factor
/// (to 4 decimals) is `factor`; low_freq_factor 1 and high_freq_factor 4 (every Llama 3.x) are
/// assumed, original is solved from an interpolated factor, and the parameters are kept only if they
/// give back every stored factor (to 1e-5): otherwise nil.
enum Llama3RopeScaling {
    static func recover(factors: [Float], theta: Double, headDim: Int) -> [String: Any]? {
        // the largest factor, to 4 decimals (a file made from transformers' frequencies stores 4.0000005)
        guard let largest = factors.max(), largest > 1, factors.count == headDim / 2 else { return nil }
        let factor = (Double(largest) * 10_000).rounded() / 10_000
        let low = 1.0, high = 4.0
        let wavelengths = (0..<factors.count).map { 2 * Double.pi * pow(theta, Double(2 * $0) / Double(headDim)) }
        var candidates: [Double] = []
        for (stored, wavelength) in zip(factors.map(Double.init), wavelengths) where stored > 1 && stored < factor {
            let s = (1 / stored - 1 / factor) / (1 - 1 / factor)
            candidates.append((wavelength * (s * (high - low) + low)).rounded())
        }
        candidates += (8...17).map { Double(1 << $0) }  // no interpolated factor: the usual context lengths
        for original in candidates where original > 0 {
            let computed = wavelengths.map { wavelength -> Double in
                if wavelength < original / high { return 1 }
                if wavelength > original / low { return factor }
                let s = (original / wavelength - low) / (high - low)
                return 1 / ((1 - s) / factor + s)
            }
            if zip(computed, factors).allSatisfy({ abs($0 - Double($1)) <= 1e-5 * Double($1) }) {
                return [
                    "rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                    "original_max_position_embeddings": Int(original),
                ]
            }
        }
        return nil
    }
}
