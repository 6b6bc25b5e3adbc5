import Foundation
import Testing

@testable import CNNC

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// The SVG curves of `--plot`, and `--log`'s CSV, through the library and through `cnnc run`.
@Suite struct TrainingCurveTests {
  /// Every element of an SVG document, with its attributes; fails the test on malformed XML.
  final class Elements: NSObject, XMLParserDelegate {
    var found: [(name: String, attributes: [String: String])] = []
    var text = ""

    static func of(_ svg: String) -> Elements? {
      let parser = XMLParser(data: Data(svg.utf8))
      let elements = Elements()
      parser.delegate = elements
      return parser.parse() ? elements : nil
    }

    func parser(
      _ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
      qualifiedName: String?, attributes: [String: String]
    ) {
      found.append((name, attributes))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func polylines() -> [[(Double, Double)]] {
      found.filter { $0.name == "polyline" }.map { element in
        (element.attributes["points"] ?? "").split(separator: " ").map { pair in
          let numbers = pair.split(separator: ",").compactMap { Double($0) }
          return (numbers[0], numbers[1])
        }
      }
    }
  }

  @Test func axesAndLabelsAreThereAndTheTitleIsEscaped() throws {
    var curve = TrainingCurve(title: "net <a & b>")
    curve.losses = (1...300).map { ($0, 2.3 / Double($0)) }
    curve.accuracies = [(1, 0.9802), (2, 0.9856)]
    let svg = try #require(Elements.of(curve.svg()), "not well-formed XML")
    for label in [
      "net <a & b>", "optimizer step", "training loss (cross-entropy)", "epoch",
      "test accuracy (%)", "98.02%", "98.56%", "moving average (0.98)",
    ] {
      #expect(svg.text.contains(label), "\(label)")
    }
    // Two loss lines (each step, smoothed) and the accuracy line, one point per value.
    let lines = svg.polylines()
    #expect(lines.map(\.count) == [300, 300, 2])
    #expect(svg.found.filter { $0.name == "circle" }.count == 2)
  }

  @Test func longRunsAreThinnedAndTheAverageIsDebiased() throws {
    var curve = TrainingCurve(title: "t")
    // A constant loss: a debiased average equals it from the first step on.
    curve.losses = (1...5_000).map { ($0, 0.5) }
    let svg = try #require(Elements.of(curve.svg()))
    let lines = svg.polylines()
    #expect(lines.map(\.count) == [TrainingCurve.maximumPoints, TrainingCurve.maximumPoints])
    let (raw, smoothed) = (lines[0], lines[1])
    for (a, b) in zip(raw, smoothed) {
      #expect(abs(a.1 - b.1) < 0.05, "smoothed \(b.1) against \(a.1)")
    }
    // The last step is kept, at the right edge of the first panel.
    #expect(raw.last?.0 == smoothed.last?.0)
  }

  @Test func emptyCurvesSaySoAndNonFiniteLossesAreLeftOut() throws {
    let empty = try #require(Elements.of(TrainingCurve(title: "t").svg()))
    #expect(empty.text.contains("no steps yet"))
    #expect(empty.text.contains("no epoch evaluated yet"))
    var curve = TrainingCurve(title: "t")
    curve.losses = [(1, 2), (2, .nan), (3, 1)]
    let svg = try #require(Elements.of(curve.svg()))
    #expect(svg.polylines().map(\.count) == [2, 2])
    #expect(!curve.svg().contains("nan"))
  }

  @Test func ticksFallOnRoundNumbers() {
    #expect(Axis(lower: 0, upper: 2.29).ticks == [0, 0.5, 1, 1.5, 2, 2.5])
    #expect(Axis(lower: 0, upper: 2_811).ticks == [0, 1_000, 2_000, 3_000])
    #expect(Axis(lower: 96.04, upper: 100).ticks == [96, 97, 98, 99, 100])
  }

  @Test func runWritesTheLogAndThePlot() throws {
    let (spec, folder) = try RunCommandTests.specFile()
    let (log, plot) = (folder + "/run.csv", folder + "/curve.svg")
    let run = try CommandLineTests.run([
      "run", spec, "--train", "--steps", "30", "--out", folder + "/curve.safetensors", "--log",
      log, "--plot", plot,
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
    #expect(lines.first == "step,epoch,loss,running_accuracy,lr,images_per_second")
    #expect(lines.count == 31)
    let rows = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
    #expect(rows.map { Int($0[0]) } == Array(1...30))
    #expect(rows.allSatisfy { $0.count == 6 && $0[1] == "1" })
    // The spec's lr 0.05 at step 1, then the inv policy's decay.
    #expect(rows[0][4] == "0.05")
    #expect(Double(rows[29][4])! < 0.05)
    #expect(rows.allSatisfy { (0...1).contains(Double($0[3]) ?? -1) })
    // The run stopped mid-epoch: its final evaluation is the picture's one accuracy point.
    let svg = try #require(Elements.of(try String(contentsOfFile: plot, encoding: .utf8)))
    #expect(svg.polylines().map(\.count) == [30, 30, 1])
    #expect(svg.text.contains("small: training"))

    let refused = try CommandLineTests.run(["run", spec, "--weights", "x", "--plot", plot])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("--plot and --log go with --train"))
    let lowering = try CommandLineTests.run(["run", spec, "--weights", "x", "--lowering", "gemm"])
    #expect(lowering.status != 0)
    #expect(lowering.stderr.contains("--lowering goes with --train"))
  }
}
