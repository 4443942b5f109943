import Foundation

/// report.html: one self-contained page (inline CSS and SVG, no script, no network): the header,
/// the side-by-side table, differences from the first model (e.g. exports of one model at
/// several quantizations), per-class or per-field results, routing curves, training loss curves,
/// and per model its files and confusion matrix.
enum HTMLReport {
    static func render(_ report: EvaluationReport) -> String {
        let e = SVGChart.escape
        var body = "<h1>Evaluation report</h1>\n<table class=\"header\">"
        for (key, value) in ReportText.header(report) { body += "<tr><th>\(e(key))</th><td>\(e(value))</td></tr>" }
        body += "</table>\n"
        for warning in report.warnings { body += "<p class=\"warning\">warning: \(e(warning))</p>\n" }

        body += "<h2>Models side by side</h2>\n<table><tr><th>metric</th>" + report.models.map { "<th>\(e($0.name))</th>" }.joined() + "</tr>"
        for row in ReportText.comparisonRows(report) {
            body += "<tr><td>\(e(row.metric))</td>" + row.values.map { "<td class=\"\($0.hasPrefix("failed") ? "failed" : "")\">\(e($0))</td>" }.joined() + "</tr>"
        }
        body += "</table>\n"
        if let note = ReportText.teacherNote(report) { body += "<p>\(e(note))</p>\n" }

        let ok = report.models.filter { $0.error == nil && $0.teacherCache == nil }
        if ok.count > 1 { body += "<h2>Differences from \(e(ok[0].name))</h2>\n" + deltas(ok) }
        body += perClass(ok)
        let routed = ok.filter { $0.routing != nil }
        if !routed.isEmpty {
            body += "<h2>Routing: answered locally vs accuracy</h2>\n<p>Each point is a confidence threshold: the small model answers the requests at or above it, the rest go to the big model.</p>\n"
            let series = routed.map { SVGChart.Series(name: $0.name, points: $0.routing!.curve.map { (100 * $0.coverage, 100 * $0.accuracy) }) }
                + [SVGChart.Series(name: "target", points: [(0, 100 * report.settings.targetAccuracy), (100, 100 * report.settings.targetAccuracy)], dashed: true)]
            let marks = routed.compactMap { m -> (x: Double, y: Double, label: String)? in
                guard let r = m.routing, let t = r.recommendedThreshold, let c = r.recommendedCoverage, let a = r.recommendedAccuracy else { return nil }
                return (100 * c, 100 * a, "\(m.name) ≥ \(ReportText.number(t))")
            }
            body += SVGChart.lines(series, xLabel: "answered locally (%)", yLabel: "accuracy on those (%)", xRange: 0...100, yRange: 0...100, marks: marks)
            for m in routed { body += "<p><b>\(e(m.name))</b> \(e(ReportText.routingSentence(m.routing!)))</p>\n" }
        }
        for m in report.models {
            body += "<h2>\(e(m.name))</h2>\n"
            if let error = m.error { body += "<p class=\"failed\">failed: \(e(error))</p>\n" }
            body += "<p>\(e(m.path))" + (m.adapter.map { " + adapter \(e($0))" } ?? "") + "</p><ul>"
            for file in m.files { body += "<li><code>\(e(file.path))</code> sha256 <code>\(file.sha256)</code></li>" }
            body += "</ul>\n"
            if let curves = m.training {
                body += "<h3>Loss during training (\(e(curves.metricsFile)))</h3>\n" + SVGChart.lines(
                    [SVGChart.Series(name: "train", points: curves.train.map { ($0[0], $0[1]) }),
                     SVGChart.Series(name: "held-out", points: curves.heldout.map { ($0[0], $0[1]) })],
                    xLabel: "step", yLabel: "loss")
            }
            if let label = m.label { body += confusion(label) }
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>slm evaluation report</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
            table { border-collapse: collapse; margin: 8px 0 16px; }
            th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 13px; }
            table.header th { background: #f3f3f3; }
            td.failed, p.failed { color: #b00020; }
            p.warning { color: #8a5a00; }
            code { font-size: 12px; }
            svg { display: block; margin: 8px 0 16px; }
            </style></head><body>
            \(body)
            </body></html>

            """
    }

    /// Bars of each model's difference from the first in loss, headline and token accuracy.
    private static func deltas(_ models: [ModelColumn]) -> String {
        let base = models[0], others = Array(models.dropFirst())
        var metrics: [(String, (ModelColumn) -> Double?)] = [
            ("loss", { $0.scoring?.loss }), ("token accuracy", { $0.scoring?.tokenAccuracy }),
        ]
        if let metric = base.headline?.metric { metrics.append((metric, { $0.headline?.value })) }
        let series = others.map { m in
            (name: m.name, values: metrics.map { _, value in
                guard let a = value(base), let b = value(m) else { return Double.nan }
                return b - a
            })
        }
        let largest = max(series.flatMap(\.values).filter(\.isFinite).map(abs).max() ?? 0, 1e-3)
        var html = SVGChart.bars(categories: metrics.map(\.0), series: series, yLabel: "difference from \(base.name)", range: -largest * 1.1...largest * 1.1, firstColor: 1)
        html += "<table><tr><th>model</th>" + metrics.map { "<th>Δ \(SVGChart.escape($0.0))</th>" }.joined() + "</tr>"
        for s in series { html += "<tr><td>\(SVGChart.escape(s.name))</td>" + s.values.map { "<td>\(String(format: "%+.4f", $0))</td>" }.joined() + "</tr>" }
        return html + "</table>\n"
    }

    /// F1 per class (label tasks) or per field (extraction), one bar per model.
    private static func perClass(_ models: [ModelColumn]) -> String {
        if let first = models.first(where: { $0.label != nil })?.label {
            let names = first.classes.map(\.label)
            let series = models.compactMap { m in m.label.map { l in (name: m.name, values: names.map { n in l.classes.first { $0.label == n }?.f1 ?? .nan }) } }
            return "<h2>F1 per class</h2>\n" + SVGChart.bars(categories: names, series: series, yLabel: "F1", range: 0...1)
        }
        if let first = models.first(where: { $0.extraction != nil })?.extraction {
            let names = first.fields.map(\.field)
            let series = models.compactMap { m in m.extraction.map { x in (name: m.name, values: names.map { n in x.fields.first { $0.field == n }?.f1 ?? .nan }) } }
            return "<h2>F1 per field</h2>\n" + SVGChart.bars(categories: names, series: series, yLabel: "F1", range: 0...1)
        }
        return ""
    }

    /// The confusion matrix as a table, cells shaded by their share of the row.
    private static func confusion(_ label: LabelMetrics) -> String {
        let e = SVGChart.escape
        var html = "<h3>Confusion matrix (rows: reference, columns: prediction)</h3>\n<table><tr><th></th>" + label.confusionLabels.map { "<th>\(e($0))</th>" }.joined() + "</tr>"
        for (name, row) in zip(label.confusionLabels, label.confusion) {
            let total = max(row.reduce(0, +), 1)
            html += "<tr><th>\(e(name))</th>" + row.map { count in
                String(format: "<td style=\"background: rgba(31,119,180,%.2f)\">%d</td>", Double(count) / Double(total) * 0.8, count)
            }.joined() + "</tr>"
        }
        return html + "</table>\n"
    }
}
