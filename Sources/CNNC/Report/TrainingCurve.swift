import Foundation

/// A training run's curves as one SVG picture: the training loss per step (each step faint,
/// an exponential moving average over them bold) beside the test accuracy after each epoch.
/// Written by cnnc itself (`cnnc run --train --plot FILE`), with no plotting library.
public struct TrainingCurve: Sendable {
  /// (step, loss) for every step taken, in order.
  public var losses: [(step: Int, loss: Double)] = []
  /// (epochs done, accuracy in 0...1) at each evaluation: after every epoch, and at the end of
  /// a run that stops mid-epoch (a fractional epoch).
  public var accuracies: [(epoch: Double, accuracy: Double)] = []
  public var title: String
  /// The moving average's weight on the past, as TensorBoard's smoothing slider.
  public var smoothing = 0.98

  public init(title: String) { self.title = title }

  /// The loss line's points are thinned to at most this many, so that a long run's file stays
  /// small; the smoothed line is computed from every step first.
  static let maximumPoints = 1_000

  public func svg() -> String {
    let (width, height) = (960.0, 400.0)
    var out = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" \
      font-size="13">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(width / 2)" y="24" text-anchor="middle" font-size="16" font-weight="bold">\
      \(escaped(title))</text>

      """
    let lossPanel = Panel(x: 70, y: 50, width: 390, height: 290)
    let accuracyPanel = Panel(x: 550, y: 50, width: 390, height: 290)
    out += lossChart(lossPanel)
    out += accuracyChart(accuracyPanel)
    out += "</svg>\n"
    return out
  }

  private func lossChart(_ panel: Panel) -> String {
    let steps = losses.map { Double($0.step) }
    let values = losses.map(\.loss).filter(\.isFinite)
    let xAxis = Axis(lower: 0, upper: max(steps.last ?? 1, 1))
    let yAxis = Axis(lower: 0, upper: max(values.max() ?? 1, 1e-6))
    var out = panel.frame(
      x: xAxis, y: yAxis, xLabel: "optimizer step", yLabel: "training loss (cross-entropy)",
      yFormat: { Self.number($0) })
    guard !losses.isEmpty else { return out + panel.note("no steps yet") }
    // Debiased, as Adam's moments and TensorBoard's smoothing are: from a zero start divided
    // by 1 − βᵗ, so that the first steps show their own mean rather than the first loss.
    var (average, weight) = (0.0, 1.0)
    var smoothed: [(Double, Double)] = []
    for (step, loss) in losses where loss.isFinite {
      average = smoothing * average + (1 - smoothing) * loss
      weight *= smoothing
      smoothed.append((Double(step), average / (1 - weight)))
    }
    let raw = losses.filter { $0.loss.isFinite }.map { (Double($0.step), $0.loss) }
    out += panel.polyline(thinned(raw), x: xAxis, y: yAxis, color: "#9ecae1", width: 1)
    out += panel.polyline(thinned(smoothed), x: xAxis, y: yAxis, color: "#08519c", width: 2)
    out += panel.legend([
      ("#9ecae1", "each step"), ("#08519c", "moving average (\(Self.number(smoothing)))"),
    ])
    return out
  }

  private func accuracyChart(_ panel: Panel) -> String {
    let lastEpoch = accuracies.last?.epoch ?? 1
    let xAxis = Axis(lower: 0, upper: max(lastEpoch, 1))
    let percents = accuracies.map { 100 * $0.accuracy }
    // Up to 100% from as far below the lowest accuracy as that is below 100% (at least a
    // point), so that differences near the top show.
    let lowest = min(percents.min() ?? 0, 100)
    let yAxis = Axis(lower: max(0, lowest - max(1, 100 - lowest)), upper: 100)
    var out = panel.frame(
      x: xAxis, y: yAxis, xLabel: "epoch", yLabel: "test accuracy (%)",
      yFormat: { Self.number($0) })
    guard !accuracies.isEmpty else { return out + panel.note("no epoch evaluated yet") }
    let points = accuracies.map { ($0.epoch, 100 * $0.accuracy) }
    out += panel.polyline(points, x: xAxis, y: yAxis, color: "#d94801", width: 2)
    for (point, percent) in zip(points, percents) {
      let (px, py) = panel.place(point, x: xAxis, y: yAxis)
      out += "<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"3.5\" fill=\"#d94801\"/>\n"
      out +=
        "<text x=\"\(f(px))\" y=\"\(f(py + 17))\" text-anchor=\"middle\" font-size=\"11\">"
        + String(format: "%.2f%%", percent) + "</text>\n"
    }
    return out
  }

  /// At most `maximumPoints` of `points`, evenly spaced, the last always kept.
  private func thinned(_ points: [(Double, Double)]) -> [(Double, Double)] {
    guard points.count > Self.maximumPoints else { return points }
    let stride = Double(points.count - 1) / Double(Self.maximumPoints - 1)
    return (0..<Self.maximumPoints).map { points[Int((Double($0) * stride).rounded())] }
  }

  /// Tick labels: as few digits as tell them apart.
  static func number(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e9 { return String(Int(value)) }
    return String(format: "%g", value)
  }
}

/// A value range with ticks at 1, 2 or 5 × 10ⁿ.
struct Axis {
  var lower: Double
  var upper: Double
  var ticks: [Double]

  init(lower: Double, upper: Double) {
    let span = max(upper - lower, 1e-9)
    let rough = span / 5
    let magnitude = pow(10, (log10(rough)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
    self.lower = (lower / step).rounded(.down) * step
    self.upper = (upper / step).rounded(.up) * step
    ticks = Array(stride(from: self.lower, through: self.upper + step / 2, by: step))
  }

  func fraction(_ value: Double) -> Double { (value - lower) / max(upper - lower, 1e-12) }
}

/// One chart's plotting area in the picture.
struct Panel {
  var x: Double
  var y: Double
  var width: Double
  var height: Double

  func place(_ point: (Double, Double), x xAxis: Axis, y yAxis: Axis) -> (Double, Double) {
    (x + width * xAxis.fraction(point.0), y + height * (1 - yAxis.fraction(point.1)))
  }

  /// Grid, ticks with labels, and the axis titles.
  func frame(
    x xAxis: Axis, y yAxis: Axis, xLabel: String, yLabel: String, yFormat: (Double) -> String
  ) -> String {
    var out = "<g stroke=\"#dddddd\" stroke-width=\"1\">\n"
    for tick in yAxis.ticks {
      let py = y + height * (1 - yAxis.fraction(tick))
      out += "<line x1=\"\(f(x))\" y1=\"\(f(py))\" x2=\"\(f(x + width))\" y2=\"\(f(py))\"/>\n"
    }
    for tick in xAxis.ticks {
      let px = x + width * xAxis.fraction(tick)
      out += "<line x1=\"\(f(px))\" y1=\"\(f(y))\" x2=\"\(f(px))\" y2=\"\(f(y + height))\"/>\n"
    }
    out += "</g>\n"
    out +=
      "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\" "
      + "fill=\"none\" stroke=\"#333333\"/>\n"
    for tick in yAxis.ticks {
      let py = y + height * (1 - yAxis.fraction(tick))
      out +=
        "<text x=\"\(f(x - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\">"
        + "\(yFormat(tick))</text>\n"
    }
    for tick in xAxis.ticks {
      let px = x + width * xAxis.fraction(tick)
      out +=
        "<text x=\"\(f(px))\" y=\"\(f(y + height + 18))\" text-anchor=\"middle\">"
        + "\(TrainingCurve.number(tick))</text>\n"
    }
    out +=
      "<text x=\"\(f(x + width / 2))\" y=\"\(f(y + height + 40))\" text-anchor=\"middle\">"
      + "\(escaped(xLabel))</text>\n"
    let (lx, ly) = (x - 48, y + height / 2)
    out +=
      "<text x=\"\(f(lx))\" y=\"\(f(ly))\" text-anchor=\"middle\" "
      + "transform=\"rotate(-90 \(f(lx)) \(f(ly)))\">\(escaped(yLabel))</text>\n"
    return out
  }

  func polyline(
    _ points: [(Double, Double)], x xAxis: Axis, y yAxis: Axis, color: String, width: Double
  ) -> String {
    let coordinates = points.map { point in
      let (px, py) = place(point, x: xAxis, y: yAxis)
      return "\(f(px)),\(f(py))"
    }
    return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(f(width))\" "
      + "stroke-linejoin=\"round\" points=\"\(coordinates.joined(separator: " "))\"/>\n"
  }

  func legend(_ entries: [(color: String, label: String)]) -> String {
    var out = ""
    for (index, entry) in entries.enumerated() {
      let ly = y + 16 + Double(index) * 18
      out +=
        "<line x1=\"\(f(x + width - 190))\" y1=\"\(f(ly - 4))\" x2=\"\(f(x + width - 168))\" "
        + "y2=\"\(f(ly - 4))\" stroke=\"\(entry.color)\" stroke-width=\"3\"/>\n"
      out +=
        "<text x=\"\(f(x + width - 162))\" y=\"\(f(ly))\">\(escaped(entry.label))</text>\n"
    }
    return out
  }

  func note(_ text: String) -> String {
    "<text x=\"\(f(x + width / 2))\" y=\"\(f(y + height / 2))\" text-anchor=\"middle\" "
      + "fill=\"#888888\">\(escaped(text))</text>\n"
  }
}

/// Coordinates with one decimal: enough for a picture, and small files.
private func f(_ value: Double) -> String { String(format: "%.1f", value) }

/// Text for an SVG element: the five characters XML reserves, escaped.
func escaped(_ text: String) -> String {
  var out = ""
  for character in text {
    switch character {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&apos;"
    default: out.append(character)
    }
  }
  return out
}

extension TrainingCurve {
  /// Writes the picture atomically, so that a viewer watching the file never sees half of it.
  public func write(to path: String) throws(CheckpointError) {
    try OutputFile.write(Array(svg().utf8), to: path)
  }
}
