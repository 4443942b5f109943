import Foundation

/// The machine-readable record of a GGUF export, written beside it as NAME.report.json:
/// ```
/// { "file": "smol.q4_k_m.gguf", "quant": "q4_k_m", "bytes": 105493152, "seconds": 6.9,
///   "base": "models/…", "base_quantized_as": ["Q4_1", "Q8_0"],
///   "tensors": [{"name": "blk.0.attn_q.weight", "type": "Q5_0", "shape": [576, 576], "bytes": 228096,
///                "relative_rms_error": 0.044}, …],
///   "verification": {"probe_tokens": 106, "max_abs_logit_difference": 6.5, "mean_abs_logit_difference": 0.65,
///                    "perplexity": {"reference": 10.73, "export": 11.33, "relative_change": 0.056},
///                    "greedy": {"same": false, "reference": "…", "export": "…"}} }
/// ```
/// `verification` is absent when the export was not verified.
public enum ExportReport {
    public static func json(_ r: MergeExport.GGUFResult, file: String, fileType: GGUFFileType) -> [String: Any] {
        var report: [String: Any] = [
            "file": (file as NSString).lastPathComponent, "quant": fileType.rawValue, "bytes": r.fileBytes, "seconds": r.seconds,
            "base": r.base.path, "base_quantized_as": r.base.quantizedTypes.map(\.description),
            "tensors": r.tensors.map { t -> [String: Any] in
                ["name": t.name, "type": t.type.description, "shape": t.shape, "bytes": t.bytes, "relative_rms_error": t.relativeRMSError]
            },
        ]
        if let c = r.comparison {
            report["verification"] = [
                "probe_tokens": c.probeTokens, "max_abs_logit_difference": Double(c.maxAbsLogitDifference),
                "mean_abs_logit_difference": c.meanAbsLogitDifference,
                "perplexity": ["reference": c.referencePerplexity, "export": c.exportPerplexity,
                               "relative_change": c.exportPerplexity / c.referencePerplexity - 1],
                "greedy": ["same": c.sameGreedyOutput, "reference": c.referenceGreedy, "export": c.exportGreedy] as [String: Any],
            ] as [String: Any]
        }
        return report
    }

    /// Writes the report beside the GGUF file at `ggufPath` (NAME.report.json); returns its path.
    @discardableResult
    public static func write(_ r: MergeExport.GGUFResult, for ggufPath: String, fileType: GGUFFileType) throws -> String {
        let path = ((ggufPath as NSString).deletingPathExtension) + ".report.json"
        let data = try JSONSerialization.data(withJSONObject: json(r, file: ggufPath, fileType: fileType), options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(data, to: path)
        return path
    }
}
