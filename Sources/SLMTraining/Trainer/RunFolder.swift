import Foundation

/// The files of one training run, all under `output.dir`:
/// ```
/// recipe.yaml        the effective recipe (defaults filled, overrides applied)
/// metrics.jsonl      one JSON object per logged step and per evaluation
/// checkpoints/       step-NNNNNN/ folders and `latest`, naming the newest complete one
/// adapter/           the final LoRA adapter (PEFT layout), or model/ after full fine-tuning
/// initial-adapter/   the adapter as initialised, when the run was asked to save it
/// report/            the evaluation report after the last step (`eval.report`; docs/evaluation.md)
/// ```
public struct RunFolder: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    public var recipe: String { path + "/recipe.yaml" }
    public var metrics: String { path + "/metrics.jsonl" }
    public var checkpoints: String { path + "/checkpoints" }
    public var latestPointer: String { checkpoints + "/latest" }
    public func checkpoint(step: Int) -> String { checkpoints + "/" + String(format: "step-%06d", step) }
    public func result(lora: Bool) -> String { path + (lora ? "/adapter" : "/model") }
    public var initialAdapter: String { path + "/initial-adapter" }
    public var report: String { path + "/report" }

    /// The newest complete checkpoint's folder, if the run has one.
    public var latestCheckpoint: String? {
        guard let name = try? String(contentsOfFile: latestPointer, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
              !name.isEmpty, !name.contains("/")
        else { return nil }
        let folder = checkpoints + "/" + name
        return FileManager.default.fileExists(atPath: folder) ? folder : nil
    }
}
