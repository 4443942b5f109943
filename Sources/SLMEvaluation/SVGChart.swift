import Foundation

/// Small inline SVG charts for report.html: lines over x/y axes, grouped bars. Plain SVG 1.1, no
/// script, no external font or style, so the report renders offline in any browser.
enum SVGChart {
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    static let width = 560.0, height = 300.0
    static let left = 56.0, right = 130.0, top = 16.0, bottom = 40.0

    /// Lines (with dots) over linear axes; `marks` are labelled points (e.g. a recommended threshold).
    static func lines(
        _ series: [Series], xLabel: String, yLabel: String, xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil, marks: [(x: Double, y: Double, label: String)] = []) -> String {
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        guard !all.isEmpty else { return "<p><em>no data</em></p>" }
        let xs = xRange ?? padded(all.map(\.x).min()!...all.map(\.x).max()!)
        let ys = yRange ?? padded(all.map(\.y).min()!...all.map(\.y).max()!)
        let plot = Plot(xs: xs, ys: ys)
        var svg = open() + plot.axes(xLabel: xLabel, yLabel: yLabel)
        for (n, s) in series.enumerated() {
            let color = colors[n % colors.count]
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            let path = points.map { String(format: "%.1f,%.1f", plot.x($0.x), plot.y($0.y)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(path)\"/>"
            if points.count <= 60 {
                for p in points { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", plot.x(p.x), plot.y(p.y), color) }
            }
            svg += legend(n, s.name, color, dashed: s.dashed)
        }
        for mark in marks {
            svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>", plot.x(mark.x), plot.y(mark.y))
            // Labels right of the middle go to the left of their point, to stay inside the plot.
            let leftward = plot.x(mark.x) > (left + width - right) / 2
            svg += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"%@\">%@</text>", plot.x(mark.x) + (leftward ? -8 : 8),
                plot.y(mark.y) + (plot.y(mark.y) < top + 20 ? 16 : -8), leftward ? "end" : "start", escape(mark.label))
        }
        return svg + "</svg>"
    }

    /// Bars grouped by category, one bar per series in each group; values in `range`.
    /// `firstColor`: the palette index of the first series (so a model keeps its colour from chart to chart).
    static func bars(categories: [String], series: [(name: String, values: [Double])], yLabel: String, range: ClosedRange<Double>, firstColor: Int = 0) -> String {
        guard !categories.isEmpty, !series.isEmpty else { return "<p><em>no data</em></p>" }
        let plot = Plot(xs: 0...Double(categories.count), ys: range)
        var svg = open() + plot.axes(xLabel: "", yLabel: yLabel, xTicks: false)
        let groupWidth = plot.x(1) - plot.x(0), barWidth = groupWidth * 0.8 / Double(series.count)
        for (c, category) in categories.enumerated() {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>", plot.x(Double(c) + 0.5), height - bottom + 16, escape(String(category.prefix(14))))
            for (s, item) in series.enumerated() where c < item.values.count && item.values[c].isFinite {
                let value = min(max(item.values[c], range.lowerBound), range.upperBound)
                let x = plot.x(Double(c)) + groupWidth * 0.1 + Double(s) * barWidth
                let y0 = plot.y(max(range.lowerBound, 0)), y1 = plot.y(value)
                svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %.4g</title></rect>",
                              x, min(y0, y1), barWidth, abs(y1 - y0), colors[(firstColor + s) % colors.count], escape(item.name), item.values[c])
            }
        }
        for (s, item) in series.enumerated() { svg += legend(s, item.name, colors[(firstColor + s) % colors.count], dashed: false) }
        return svg + "</svg>"
    }

    private struct Plot {
        var xs: ClosedRange<Double>, ys: ClosedRange<Double>
        func x(_ v: Double) -> Double { left + (v - xs.lowerBound) / span(xs) * (width - left - right) }
        func y(_ v: Double) -> Double { height - bottom - (v - ys.lowerBound) / span(ys) * (height - top - bottom) }
        func span(_ r: ClosedRange<Double>) -> Double { r.upperBound > r.lowerBound ? r.upperBound - r.lowerBound : 1 }

        func axes(xLabel: String, yLabel: String, xTicks: Bool = true) -> String {
            var svg = String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fafafa\" stroke=\"#999\"/>", left, top, width - left - right, height - top - bottom)
            for k in 0...4 {
                let v = ys.lowerBound + Double(k) / 4 * span(ys)
                svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>", left, y(v), width - right, y(v))
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%@</text>", left - 4, y(v) + 3, tick(v))
                if xTicks {
                    let u = xs.lowerBound + Double(k) / 4 * span(xs)
                    svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"middle\">%@</text>", x(u), height - bottom + 14, tick(u))
                }
            }
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>", (left + width - right) / 2, height - 6, escape(xLabel))
            svg += String(format: "<text x=\"12\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 %.1f)\">%@</text>", (top + height - bottom) / 2, (top + height - bottom) / 2, escape(yLabel))
            return svg
        }
    }

    private static func open() -> String {
        String(format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">", width, height, width, height)
    }

    private static func legend(_ n: Int, _ name: String, _ color: String, dashed: Bool) -> String {
        let y = top + 10 + Double(n) * 16, x = width - right + 10
        return String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"%@/>", x, y, x + 18, y, color, dashed ? " stroke-dasharray=\"6 4\"" : "")
            + String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%@</text>", x + 22, y + 4, escape(String(name.prefix(16))))
    }

    /// The range with 5% room on each side (a single value gets ±1).
    private static func padded(_ r: ClosedRange<Double>) -> ClosedRange<Double> {
        let span = r.upperBound - r.lowerBound
        let room = span > 0 ? span * 0.05 : 1
        return (r.lowerBound - room)...(r.upperBound + room)
    }

    private static func tick(_ v: Double) -> String { abs(v) >= 100 ? String(format: "%.0f", v) : String(format: "%.3g", v) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
