import Foundation

/// How much a quantized network lost, step by step: each step's signal-to-quantization-noise
/// ratio against the float network on the same images, how much of it the step itself lost,
/// and the test accuracy of both.
public struct QuantizationReport: Sendable {
  public struct Step: Sendable {
    /// The spec layers the step computes.
    public var layers: [String]
    /// 10·log10(Σ float² / Σ (float − int8)²) over the images' outputs of the step, in dB;
    /// infinite where the int8 values are exact.
    public var sqnr: Double
    /// The noise the step itself added, as an SQNR in dB: its output's noise-to-signal ratio
    /// less its noisiest input's, inverted (infinite where it added none: a ReLU or a pooling
    /// may even lower the ratio). The lowest is the step that lost the most.
    public var added: Double
    public var runsInFloat: Bool
  }

  public var steps: [Step]
  /// The network input's quantization, in dB.
  public var inputSQNR: Double
  public var images: Int
  /// The share of `images` each network classifies as labelled (the largest output).
  public var floatAccuracy: Double
  public var int8Accuracy: Double
  /// The share of images whose largest output is the same in both.
  public var agreement: Double

  /// The step that added the most noise.
  /// The int8 step that added the most noise (a step already in float is no candidate for
  /// `--keep-float`).
  public var worstStep: Int? {
    steps.indices.filter { !steps[$0].runsInFloat }.min { steps[$0].added < steps[$1].added }
  }

  /// Runs both networks over `images` (prepared as the network's input) with their `labels`.
  public static func measure(_ network: QuantizedNetwork, images: [[Float]], labels: [Int])
    -> QuantizationReport
  {
    let plan = network.plan
    let float = FloatSteps(plan: plan)
    var signal = [Double](repeating: 0, count: plan.steps.count)
    var noise = signal
    var (inputSignal, inputNoise) = (0.0, 0.0)
    var (floatCorrect, int8Correct, agree) = (0, 0, 0)
    for (image, label) in zip(images, labels) {
      for value in image {
        let q = network.input.real(network.input.quantize(value))
        inputSignal += Double(value) * Double(value)
        inputNoise += Double(value - q) * Double(value - q)
      }
      let reference = float.run(image)
      let run = network.run(image)
      for index in plan.steps.indices {
        for (f, q) in zip(reference[index].values, run.steps[index]) {
          signal[index] += Double(f) * Double(f)
          noise[index] += Double(f - q) * Double(f - q)
        }
      }
      let floatClass = largest(reference.last?.values ?? [])
      let int8Class = largest(run.output)
      floatCorrect += floatClass == label ? 1 : 0
      int8Correct += int8Class == label ? 1 : 0
      agree += floatClass == int8Class ? 1 : 0
    }
    let inputSQNR = decibels(inputSignal, inputNoise)
    var bufferSQNR = [Double](repeating: inputSQNR, count: plan.buffers.count)
    var steps: [Step] = []
    for (index, step) in plan.steps.enumerated() {
      let sqnr = decibels(signal[index], noise[index])
      let before = step.inputs.map { bufferSQNR[$0] }.min() ?? inputSQNR
      let added = noiseRatio(sqnr) - noiseRatio(before)
      steps.append(
        Step(
          layers: step.layers.map { plan.network.layers[$0].name }, sqnr: sqnr,
          added: added > 0 ? -10 * log10(added) : .infinity,
          runsInFloat: network.floatSteps.contains(index)))
      bufferSQNR[step.output] = sqnr
    }
    let count = Double(max(images.count, 1))
    return QuantizationReport(
      steps: steps, inputSQNR: inputSQNR, images: images.count,
      floatAccuracy: Double(floatCorrect) / count, int8Accuracy: Double(int8Correct) / count,
      agreement: Double(agree) / count)
  }

  /// Noise power over signal power, from an SQNR in dB.
  private static func noiseRatio(_ sqnr: Double) -> Double { pow(10, -sqnr / 10) }

  private static func decibels(_ signal: Double, _ noise: Double) -> Double {
    noise == 0 ? .infinity : 10 * log10(signal / noise)
  }

  private static func largest(_ values: [Float]) -> Int {
    values.indices.max { values[$0] < values[$1] || (values[$0] == values[$1] && $0 > $1) } ?? -1
  }
}

extension QuantizationReport {
  /// Images `indices` of `data`, prepared by `preprocessing` (without its augmentation) as a
  /// network with input `shape` receives them.
  public static func images(
    of data: any ImageDataset, _ indices: [Int], preprocessing: Preprocessing, shape: Shape
  ) throws(DataError) -> [[Float]] {
    let reader = SampleReader(preprocessing.withoutAugmentation, shape: shape)
    var images: [[Float]] = []
    for index in indices {
      var image = [Float](repeating: 0, count: data.valuesPerImage)
      try image.withUnsafeMutableBufferPointer { (pointer) throws(DataError) in
        guard let base = pointer.baseAddress else { return }
        try reader.read(data, index, draw: nil, into: base)
      }
      images.append(image)
    }
    return images
  }
}
