import ArgumentParser
import CNNC
import Foundation

struct QuantizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quantize",
    abstract: "Quantize a trained network to int8 and report what each layer lost.",
    discussion: """
      Post-training static quantization in TFLite's scheme over the steps cnnc compile runs \
      (batchnorm folded, activations and poolings fused): per-channel int8 weights, per-tensor \
      int8 activations calibrated on training images, int32 biases. Prints each step's \
      signal-to-quantization-noise ratio against the float network, the dB it lost, and the \
      float and int8 test accuracy. See docs/quantize.md.
      """)

  @Argument(help: "The spec file (YAML).")
  var spec: String

  @Option(help: "The trained float checkpoint (safetensors).")
  var weights: String

  @Option(help: "Training images to calibrate on (drawn with the spec's seed).")
  var calibration = 500

  @Option(help: "Test images to measure on (default: all).")
  var testImages: Int?

  @Option(help: "Layers whose steps stay in float, comma-separated.")
  var keepFloat: String?

  @Option(
    name: [.customShort("o"), .long],
    help: "Write the int8 network here (safetensors; see docs/quantize.md for its tensors).")
  var output: String?

  @OptionGroup var jsonOption: JSONOption

  func validate() throws {
    guard calibration >= 1 else { throw ValidationError("--calibration must be at least 1") }
    if let testImages, testImages < 1 {
      throw ValidationError("--test-images must be at least 1")
    }
  }

  func run() throws {
    try refuseInt8(weights, "cnnc quantize takes the float checkpoint it came from")
    let file = try SpecFile(path: spec)
    let result = SpecChecker.check(file.bytes, name: file.defaultName)
    file.printDiagnostics(result.diagnostics.sorted)
    guard result.isValid, let network = result.network else { throw ExitCode(1) }
    if let output {
      try refuseOverlaps(
        inputs: [("the spec", spec), ("--weights", weights)], outputs: [("-o", output)])
    }
    let report: QuantizationReport
    let keep = Set((keepFloat ?? "").split(separator: ",").map(String.init))
    do {
      let layout = try network.parameterLayout()
      let values = try Checkpoints.values(at: weights, layout.slots, floats: layout.floats)
      let plan = try DevicePlan(network, parameters: values)
      let data = try TrainingData(for: network, specPath: spec)
      guard let test = data.test else {
        throw CommandFailure("\(spec): the spec's data has no test split to measure on")
      }
      var generator = SplitMix64(seed: UInt64(truncatingIfNeeded: network.train?.seed ?? 1))
      let drawn = Array(
        (0..<data.train.count).shuffled(using: &generator).prefix(calibration))
      let calibrationImages = try QuantizationReport.images(
        of: data.train, drawn, preprocessing: data.preprocessing, shape: network.input)
      let quantized = try QuantizedNetwork(plan, calibration: calibrationImages, keepFloat: keep)
      let measured = Array(0..<min(testImages ?? test.count, test.count))
      report = QuantizationReport.measure(
        quantized,
        images: try QuantizationReport.images(
          of: test, measured, preprocessing: data.preprocessing, shape: network.input),
        labels: measured.map { test.label(of: $0) })
      if let output { try quantized.checkpoint.write(to: output) }
    } catch let error as PlanError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch let error as CompileError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch let error as QuantizationError {
      throw CommandFailure("\(spec): \(error.message)")
    } catch {
      throw CommandFailure(error)
    }
    if jsonOption.json {
      print(json(report).text)
    } else {
      printReport(report)
      if let output { print("wrote \(output)") }
    }
  }

  private func printReport(_ report: QuantizationReport) {
    print("calibrated on \(calibration) training images; measured on \(report.images) test images")
    let rows =
      [("input", report.inputSQNR, Double?.none)]
      + report.steps.map { step in
        (
          step.layers.joined(separator: "+") + (step.runsInFloat ? " (float)" : ""), step.sqnr,
          Optional(step.added)
        )
      }
    let width = max(24, rows.map(\.0.count).max() ?? 0)
    print(
      "step".padding(toLength: width, withPad: " ", startingAt: 0) + "   SQNR (dB)   added (dB)")
    for (name, sqnr, added) in rows {
      print(
        name.padding(toLength: width, withPad: " ", startingAt: 0) + decibels(sqnr, width: 12)
          + (added.map { decibels($0, width: 13) } ?? ""))
    }
    print(
      String(
        format: "test accuracy: float %.2f%%, int8 %.2f%% (%+.2f points); the same class on %.2f%%",
        100 * report.floatAccuracy, 100 * report.int8Accuracy,
        100 * (report.int8Accuracy - report.floatAccuracy), 100 * report.agreement))
    if let worst = report.worstStep, report.steps[worst].added.isFinite {
      let step = report.steps[worst]
      print(
        "added the most noise: \(step.layers.joined(separator: "+")); "
          + "--keep-float \(step.layers[0]) keeps it in float")
    }
  }

  /// A figure in dB right-aligned in `width` columns ("exact" for no noise at all).
  private func decibels(_ value: Double, width: Int) -> String {
    let text = value.isFinite ? String(format: "%.1f", value) : "exact"
    return String(repeating: " ", count: max(0, width - text.count)) + text
  }

  private func json(_ report: QuantizationReport) -> JSON {
    .object([
      ("images", .integer(report.images)),
      ("input_sqnr_db", JSON.number(report.inputSQNR)),
      (
        "steps",
        .array(
          report.steps.map { step in
            .object([
              ("layers", .array(step.layers.map(JSON.string))),
              ("sqnr_db", JSON.number(step.sqnr)), ("added_db", JSON.number(step.added)),
              ("float", .bool(step.runsInFloat)),
            ])
          })
      ),
      ("float_accuracy", JSON.number(report.floatAccuracy)),
      ("int8_accuracy", JSON.number(report.int8Accuracy)),
      ("agreement", JSON.number(report.agreement)),
    ])
  }
}

/// Throws, saying so, when `weights` is an int8 checkpoint and the command reads float ones
/// only (`what` says which).
func refuseInt8(_ weights: String, _ what: String) throws {
  guard let file = try? SafeTensors.read(weights), QuantizedNetwork.isCheckpoint(file) else {
    return
  }
  throw CommandFailure(
    "\(weights): an int8 checkpoint (cnnc quantize); \(what): give the float checkpoint")
}
