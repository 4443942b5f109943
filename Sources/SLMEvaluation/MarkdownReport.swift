import Foundation

/// report.md: the header, the side-by-side table, then per model the task's details and routing.
public enum MarkdownReport {
    public static func render(_ report: EvaluationReport) -> String {
        var out = "# Evaluation report\n\n"
        out += ReportText.header(report).map { "- \($0.0): \($0.1)" }.joined(separator: "\n") + "\n"
        for warning in report.warnings { out += "- **warning**: \(warning)\n" }
        out += "\n## Models side by side\n\n" + comparisonTable(report)
        if let note = ReportText.teacherNote(report) { out += "\n" + note + "\n" }
        for model in report.models {
            out += "\n## \(model.name)\n\n"
            if let error = model.error { out += "**failed**: \(error)\n" }
            for file in model.files { out += "- `\(file.path)` sha256 `\(file.sha256)`\n" }
            if let label = model.label {
                out += "\n" + table(
                    ["class", "precision", "recall", "F1", "support"],
                    label.classes.map { [$0.label, ReportText.number($0.precision), ReportText.number($0.recall), ReportText.number($0.f1), "\($0.support)"] })
                out += "\nConfusion matrix (rows: reference, columns: prediction)\n\n"
                out += table([""] + label.confusionLabels, zip(label.confusionLabels, label.confusion).map { [$0] + $1.map(String.init) })
            }
            if let extraction = model.extraction {
                out += "\n" + table(
                    ["field", "precision", "recall", "F1", "support"],
                    extraction.fields.map { [$0.field, ReportText.number($0.precision), ReportText.number($0.recall), ReportText.number($0.f1), "\($0.support)"] })
            }
            if let routing = model.routing { out += "\n" + ReportText.routingSentence(routing) + "\n" }
        }
        return out
    }

    /// The side-by-side table alone, as `slm eval` prints it.
    public static func comparisonTable(_ report: EvaluationReport) -> String {
        table(["metric"] + report.models.map(\.name), ReportText.comparisonRows(report).map { [$0.metric] + $0.values })
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        return line(header) + line(header.map { _ in "---" }) + rows.map(line).joined()
    }
}

/// Text shared by report.md and report.html: header lines, the comparison table's rows, numbers.
enum ReportText {
    static func header(_ report: EvaluationReport) -> [(String, String)] {
        var lines: [(String, String)] = [
            ("slm", report.slmVersion), ("created", report.created), ("seed", "\(report.seed)"),
            ("data", "\(report.dataset.path) (\(report.dataset.samples) \(report.dataset.format) samples, sha256 \(report.dataset.sha256))"),
            ("task", "\(report.dataset.task.rawValue): \(report.dataset.taskReason)"),
        ]
        if let recipe = report.recipe { lines.append(("recipe", "\(recipe.path) (sha256 \(recipe.sha256))")) }
        if let cache = report.settings.teacherCache { lines.append(("teacher cache", cache)) }
        let s = report.settings
        lines.append((
            "settings",
            "max \(s.maxNewTokens) new tokens, sequences of \(s.sequenceLength) tokens, \(s.bootstrapResamples) bootstrap resamples for \(Int(s.confidenceLevel * 100))% intervals, routing target accuracy \(number(s.targetAccuracy))"
        ))
        return lines
    }

    struct Row {
        var metric: String
        var values: [String]
    }

    /// The rows of the side-by-side table, each present when some model has the figure.
    static func comparisonRows(_ report: EvaluationReport) -> [Row] {
        let models = report.models
        func row(_ metric: String, _ value: (ModelColumn) -> String?) -> Row? {
            let values = models.map { $0.error != nil && value($0) == nil ? "failed" : value($0) ?? "–" }
            return models.contains(where: { value($0) != nil }) ? Row(metric: metric, values: values) : nil
        }
        let rows: [Row?] = [
            row("status") { $0.error == nil ? "ok" : "failed: " + String($0.error!.prefix(120)) },
            row("chat template") { $0.chatTemplate },
            row("loss") { $0.scoring.map { withInterval($0.loss, $0.lossInterval) } ?? $0.teacherCache.map { withInterval($0.loss, $0.lossInterval) + " †" } },
            row("perplexity") { $0.scoring.map { number($0.perplexity) } ?? $0.teacherCache.map { number($0.perplexity) + " †" } },
            row("token accuracy") { $0.scoring.map { percent($0.tokenAccuracy) } ?? $0.teacherCache.map { percent($0.tokenAccuracy) } },
            row("top-1 agreement with teacher") { $0.teacherAgreement.map { withInterval($0.top1Agreement, $0.top1AgreementInterval, percent: true) } },
            row("KL(teacher ‖ model)") { $0.teacherAgreement.map { withInterval($0.kl, $0.klInterval) } },
            row("teacher cache coverage") { column in
                column.teacherAgreement.map { "\($0.samplesFound)/\($0.samples) samples, \(percent($0.tokenCoverage)) of tokens" }
                    ?? column.teacherCache.map { "\($0.samplesFound)/\($0.samples) samples; reference in top-\($0.k): \(percent($0.coverage)) of tokens" }
            },
            row("headline") { $0.headline.map { "\($0.metric) " + withInterval($0.value, $0.interval, percent: true) } },
            row("exact match") { $0.generation.map { withInterval($0.exactMatch, $0.exactMatchInterval, percent: true) } },
            row("macro F1") { $0.label.map { number($0.macroF1) } },
            row("valid JSON") { $0.extraction.map { percent($0.validJSONRate) } },
            row("field F1") { $0.extraction.map { number($0.f1) } },
            row("ROUGE-L") { $0.text.map { number($0.rougeL) } },
            row("latency p50 / p95") { $0.generation.map { String(format: "%.3f / %.3f s", $0.p50LatencySeconds, $0.p95LatencySeconds) } },
            row("generation tokens/s") { $0.generation.map { String(format: "%.1f", $0.tokensPerSecond) } },
            row("scoring tokens/s") { $0.scoring.map { String(format: "%.0f", $0.tokensPerSecond) } },
            row("routing threshold") { $0.routing.map { r in r.recommendedThreshold.map { number($0) } ?? "none reaches \(percent(r.targetAccuracy))" } },
            row("answered locally") { $0.routing.flatMap { $0.recommendedCoverage.map(percent) } },
        ] + exportRows(report)
        return rows.compactMap { $0 }
    }

    /// Rows of GGUF exports: size, bits per weight, tensor error, and the perplexity change from the
    /// column each was quantized from.
    static func exportRows(_ report: EvaluationReport) -> [Row?] {
        let models = report.models
        func row(_ metric: String, _ value: (ModelColumn, ExportSummary) -> String?) -> Row? {
            let values = models.map { m in m.export.flatMap { value(m, $0) } ?? "–" }
            return values.contains(where: { $0 != "–" }) ? Row(metric: metric, values: values) : nil
        }
        func perplexityChange(_ m: ModelColumn, _ e: ExportSummary) -> String? {
            guard let name = e.reference, let reference = models.first(where: { $0.name == name })?.scoring, let p = m.scoring?.perplexity else { return nil }
            return String(format: "%+.3f%% (loss %+.4f) vs %@", 100 * (p / reference.perplexity - 1), m.scoring!.loss - reference.loss, name)
        }
        return [
            row("quantization") { _, e in e.quant },
            row("size") { _, e in String(format: "%.1f MiB", Double(e.fileBytes ?? e.tensorBytes) / 1_048_576) + (e.fileBytes == nil ? " (tensors)" : "") },
            row("bits/weight") { _, e in String(format: "%.2f", e.bitsPerWeight) },
            row("mean tensor error") { _, e in String(format: "%.2e", e.meanRelativeRMSError) },
            row("worst tensors") { _, e in e.worstTensors.isEmpty ? nil : e.worstTensors.map { String(format: "%@ %@ %.2e", $0.name, $0.type, $0.relativeRmsError) }.joined(separator: "; ") },
            row("perplexity change") { m, e in perplexityChange(m, e) },
        ]
    }

    /// What the teacher column's figures cover, when the report has one.
    static func teacherNote(_ report: EvaluationReport) -> String? {
        guard let t = report.models.lazy.compactMap(\.teacherCache).first else { return nil }
        return "† The teacher column is read from its cache (\(t.teacher), top-\(t.k)): its token accuracy covers every target token of the \(t.samplesFound) samples found; its loss and perplexity only the \(percent(t.coverage)) of target tokens whose reference is among its top \(t.k) (beyond them the probability is unknown), so they flatter the teacher. Task metrics need generation and are – for it; evaluate a local teacher as a MODEL for those."
    }

    static func routingSentence(_ routing: RoutingAnalysis) -> String {
        guard let threshold = routing.recommendedThreshold, let coverage = routing.recommendedCoverage, let accuracy = routing.recommendedAccuracy else {
            return "Routing: no confidence threshold reaches \(percent(routing.targetAccuracy)) accuracy on the answers kept; send every request to the big model."
        }
        return "Routing: answer locally when the confidence is at least \(number(threshold)): \(percent(coverage)) of requests stay local, at \(percent(accuracy)) accuracy (target \(percent(routing.targetAccuracy)))."
    }

    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "–" }
        if abs(x) >= 1000 { return String(format: "%.1f", x) }
        return String(format: "%.4g", x)
    }

    static func percent(_ x: Double) -> String { x.isFinite ? String(format: "%.1f%%", 100 * x) : "–" }

    static func withInterval(_ x: Double, _ interval: [Double]?, percent asPercent: Bool = false) -> String {
        func f(_ v: Double) -> String { asPercent ? percent(v) : number(v) }
        guard let interval, interval.count == 2 else { return f(x) }
        return "\(f(x)) [\(f(interval[0])), \(f(interval[1]))]"
    }
}
