import Foundation
import SLMTraining

extension ModelColumn.TrainingCurves {
    /// The loss curves of a run's metrics.jsonl (`{"type": "train" | "eval", "step", "loss", …}` a line);
    /// lines that are not such records are passed over.
    public static func read(_ run: RunFolder) throws -> Self {
        guard let text = try? String(contentsOfFile: run.metrics, encoding: .utf8) else {
            throw EvaluationError("\(run.metrics): cannot be read")
        }
        var curves = Self(metricsFile: run.metrics, train: [], heldout: [])
        for line in text.split(separator: "\n") {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = (record["step"] as? NSNumber)?.doubleValue, let loss = (record["loss"] as? NSNumber)?.doubleValue
            else { continue }
            switch record["type"] as? String {
            case "train": curves.train.append([step, loss])
            case "eval": curves.heldout.append([step, loss])
            default: continue
            }
        }
        return curves
    }
}
