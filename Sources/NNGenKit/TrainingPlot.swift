import Foundation

/// The training curves as an SVG picture (docs/TRAINING.md, Curves): on the left the train and
/// validation loss per epoch (a log scale when the losses span two decades or more), on the right
/// the validation metric (accuracy in percent, or R^2); axes, ticks, grid lines and a legend.
/// One run, or several compared (each its own colour; train dashed, validation solid).
/// The standalone runtime's templates/nn_rt_plot.c draws the same picture byte for byte: every
/// number goes through the C library's printf (`cFormat`) and the same arithmetic, in the same order.
public enum TrainingPlot {
    /// The picture's size in pixels.
    public static let width = 760.0, height = 340.0
    /// Each panel's plotting area: left edges, top, width, height.
    public static let panelLeft = [64.0, 444.0], panelTop = 40.0, panelWidth = 280.0, panelHeight = 240.0
    /// The colours of the series, in order.
    public static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

    /// One axis: the range of values shown, and whether it is logarithmic (base 10).
    public struct Axis: Sendable, Equatable {
        /// The value (or log10 of it) at the start and at the end of the axis.
        public var low: Double, high: Double
        /// Whether values are placed by their log10.
        public var log: Bool
        /// The tick values (for a log axis, powers of ten).
        public var ticks: [Double]

        /// Where `v` falls along an axis of `length` pixels starting at 0: its fraction times length.
        public func fraction(_ v: Double) -> Double {
            ((log ? log10(v) : v) - low) / (high - low)
        }
    }

    /// 1, 2 or 5 times a power of ten, the first at least `x`.
    static func niceStep(_ x: Double) -> Double {
        let e = floor(log10(x))
        let p = pow(10.0, e)
        let f = x / p
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p
    }

    /// The epoch axis: from the first to the last epoch (half an epoch around a single one), ticks
    /// on whole epochs.
    public static func epochAxis(_ epochs: [Int]) -> Axis {
        let first = Double(epochs.min() ?? 1), last = Double(epochs.max() ?? 1)
        let low = first == last ? first - 0.5 : first, high = first == last ? last + 0.5 : last
        let step = max(1.0, niceStep((high - low) / 6))
        var ticks: [Double] = []
        var t = ceil(low / step) * step
        while t <= high {
            if t >= 1 { ticks.append(t) }
            t += step
        }
        return Axis(low: low, high: high, log: false, ticks: ticks)
    }

    /// A value axis for `values`: logarithmic when `allowLog`, every value is positive and the
    /// largest is at least 100 times the smallest; otherwise linear on nice ticks around them.
    public static func valueAxis(_ values: [Double], allowLog: Bool) -> Axis {
        var a = values.min() ?? 0, b = values.max() ?? 1
        if allowLog, a > 0, b / a >= 100 {
            let low = floor(log10(a)), high = ceil(log10(b))
            var ticks: [Double] = []
            var k = low
            while k <= high {
                ticks.append(pow(10.0, k))
                k += 1
            }
            return Axis(low: low, high: high, log: true, ticks: ticks)
        }
        if a == b {
            let pad = a == 0 ? 1 : fabs(a) * 0.1
            a -= pad
            b += pad
        }
        let step = niceStep((b - a) / 5)
        let low = floor(a / step) * step, high = ceil(b / step) * step
        let count = Int((high - low) / step + 0.5)
        return Axis(low: low, high: high, log: false, ticks: (0...count).map { low + Double($0) * step })
    }

    /// One run to draw: its log, and its name in the legend (nil for a single run).
    public struct Run: Sendable {
        /// The run's name in the legend, or nil when it is the only run.
        public var label: String?
        /// The run's metrics.
        public var log: MetricsLog

        /// A run named `label` with the metrics `log`.
        public init(label: String?, log: MetricsLog) {
            self.label = label
            self.log = log
        }
    }

    /// A series of points (epoch, value), its colour, dashing and legend text.
    struct Series {
        var points: [(Double, Double)]
        var color: String
        var dashed: Bool
        var legend: String
    }

    /// The SVG text of `runs` (at least one; they share the metric of the first).
    public static func svg(_ runs: [Run]) -> String {
        let metric = runs.first?.log.metric ?? .accuracy
        var lossSeries: [Series] = [], metricSeries: [Series] = []
        for (r, run) in runs.enumerated() {
            let single = runs.count == 1
            let rows = run.log.rows
            let prefix = run.label.map { $0 + " " } ?? ""
            let trainColor = colors[(single ? 0 : r) % colors.count], valColor = colors[(single ? 1 : r) % colors.count]
            lossSeries.append(Series(points: rows.map { (Double($0.epoch), $0.trainLoss) }, color: trainColor,
                                     dashed: !single, legend: prefix + "train"))
            let val = rows.compactMap { row in row.valLoss.map { (Double(row.epoch), $0) } }
            if !val.isEmpty {
                lossSeries.append(Series(points: val, color: valColor, dashed: false, legend: prefix + "validation"))
            }
            let scale = metric == .accuracy ? 100.0 : 1.0
            let m = rows.compactMap { row in row.valMetric.map { (Double(row.epoch), $0 * scale) } }
            if !m.isEmpty {
                metricSeries.append(Series(points: m, color: valColor, dashed: false,
                                           legend: run.label ?? "validation"))
            }
        }
        let epochs = runs.flatMap { $0.log.rows.map(\.epoch) }
        let x = epochAxis(epochs)
        let lossValues = lossSeries.flatMap { $0.points.map(\.1) }
        let lossAxis = valueAxis(lossValues, allowLog: true)
        let metricValues = metricSeries.flatMap { $0.points.map(\.1) }
        let metricAxis = valueAxis(metricValues, allowLog: false)

        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += cFormat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                     + "font-family=\"sans-serif\" font-size=\"11\">\n", width, height, width, height)
        s += cFormat("<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n", width, height)
        s += panel(0, title: lossAxis.log ? "loss (log scale)" : "loss", x: x, y: lossAxis, series: lossSeries)
        let metricTitle = metric == .accuracy ? "validation accuracy (%)" : "validation R^2"
        s += panel(1, title: metricTitle, x: x, y: metricAxis, series: metricSeries)
        s += "</svg>\n"
        return s
    }

    /// The point of (`ex`, `v`) in panel `p`, as `X,Y` with two decimals.
    public static func point(panel p: Int, x: Axis, y: Axis, epoch ex: Double, value v: Double) -> String {
        let px = panelLeft[p] + x.fraction(ex) * panelWidth
        let py = panelTop + panelHeight - y.fraction(v) * panelHeight
        return cFormat("%.2f,%.2f", px, py)
    }

    static func panel(_ p: Int, title: String, x: Axis, y: Axis, series: [Series]) -> String {
        let left = panelLeft[p], top = panelTop, w = panelWidth, h = panelHeight
        var s = "<g>\n"
        s += cFormat("<text x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"13\">", left + w / 2) + escaped(title) + "</text>\n"
        for t in x.ticks {
            let px = left + x.fraction(t) * w
            s += cFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>\n", px, top, px, top + h)
            s += cFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", px, top + h, px, top + h + 4)
            s += cFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n", px, top + h + 16, t)
        }
        for t in y.ticks {
            let py = top + h - y.fraction(t) * h
            s += cFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>\n", left, py, left + w, py)
            s += cFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", left - 4, py, left, py)
            s += cFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%g</text>\n", left - 6, py + 4, t)
        }
        s += cFormat("<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"#333\"/>\n", left, top, w, h)
        s += cFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">epoch</text>\n", left + w / 2, top + h + 34)
        if series.isEmpty {
            s += cFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" fill=\"#666\">no validation part</text>\n",
                         left + w / 2, top + h / 2)
        }
        for (i, line) in series.enumerated() {
            let points = line.points.map { point(panel: p, x: x, y: y, epoch: $0.0, value: $0.1) }
            s += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.5\""
                + (line.dashed ? " stroke-dasharray=\"5 3\"" : "") + " points=\"" + points.joined(separator: " ") + "\"/>\n"
            if points.count == 1 {
                let xy = points[0].split(separator: ",")
                s += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(line.color)\"/>\n"
            }
            // The legend: top right for the loss (curves fall), bottom right for the metric (they rise).
            let ly = p == 0 ? top + 14 + 14 * Double(i) : top + h - 10 - 14 * Double(series.count - 1 - i)
            s += cFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"", left + w - 120, ly, left + w - 100, ly)
                + line.color + "\" stroke-width=\"1.5\"" + (line.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>\n"
            s += cFormat("<text x=\"%.2f\" y=\"%.2f\">", left + w - 96, ly + 4) + escaped(line.legend) + "</text>\n"
        }
        return s + "</g>\n"
    }

    /// `text` with `&`, `<`, `>` and `"` escaped for XML.
    static func escaped(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
