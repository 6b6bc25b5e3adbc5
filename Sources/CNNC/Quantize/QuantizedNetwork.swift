/// Why a network could not be quantized.
public struct QuantizationError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }

  public init(_ message: String) { self.message = message }
}

/// A trained network in int8, by post-training static quantization in TFLite's scheme, over the
/// steps of its `DevicePlan` (batchnorm folded, activations and poolings fused, as `cnnc
/// compile` runs them):
/// - weights int8, symmetric per output channel over ±127 (zero point 0);
/// - activations int8, asymmetric per tensor, from the range the calibration images reach
///   (zero always exact); a ReLU fused into a convolution or dense layer is the clamp's low end;
/// - biases int32 at scale input scale × weight scale, zero point 0;
/// - each output requantized by a 31-bit fixed-point multiplier and a shift (`Requantization`,
///   one rounding, halves away from zero).
/// Max and average pooling, ReLU and copies keep their input's mapping; global averages, adds
/// and concats requantize to their own. A step without an int8 form here (softmax,
/// sigmoid, tanh, leaky ReLU, a batchnorm that could not be folded), or one kept in float on
/// request, runs in float between a dequantize and a quantize; the last step, when it runs in
/// float, gives its float values as they are.
public struct QuantizedNetwork: Sendable {
  public let plan: DevicePlan
  /// The network input's mapping.
  public let input: QuantizationParameters
  /// Each step's output mapping.
  public let outputs: [QuantizationParameters]
  /// The steps that run in float.
  public let floatSteps: Set<Int>
  /// The int8 form of each convolution and dense step.
  let weighted: [Int: WeightedStep]
  /// Each step's inputs' mappings, as the steps before it left their buffers.
  let inputMappings: [[QuantizationParameters]]

  /// A convolution's or dense layer's int8 constants, per output channel.
  struct WeightedStep: Sendable {
    var weights: [Int8]
    var weightScales: [Float]
    var bias: [Int32]
    var requantizations: [Requantization]
  }

  /// Calibrates on `calibration` (each C×H×W floats, prepared as the network's input) and
  /// quantizes; `keepFloat` names spec layers whose steps stay in float.
  public init(_ plan: DevicePlan, calibration: [[Float]], keepFloat: Set<String> = [])
    throws(QuantizationError)
  {
    let float = FloatSteps(plan: plan)
    var low = [Float](repeating: 0, count: plan.steps.count)
    var high = low
    var (inputLow, inputHigh): (Float, Float) = (0, 0)
    for image in calibration {
      inputLow = min(inputLow, image.min() ?? 0)
      inputHigh = max(inputHigh, image.max() ?? 0)
      for (index, output) in float.run(image).enumerated() {
        let values = output.beforePooling ?? output.values
        low[index] = min(low[index], values.min() ?? 0)
        high[index] = max(high[index], values.max() ?? 0)
      }
    }
    let input = QuantizationParameters.activation(low: inputLow, high: inputHigh)
    let names = Set(plan.network.layers.map(\.name))
    if let unknown = keepFloat.subtracting(names).sorted().first {
      throw QuantizationError("--keep-float: the network has no layer '\(unknown)'")
    }
    var bufferMappings = [QuantizationParameters](repeating: input, count: plan.buffers.count)
    var outputs: [QuantizationParameters] = []
    var floatSteps: Set<Int> = []
    var weighted: [Int: WeightedStep] = [:]
    for (index, step) in plan.steps.enumerated() {
      let mappings = step.inputs.map { bufferMappings[$0] }
      let own = QuantizationParameters.activation(low: low[index], high: high[index])
      let requested = step.layers.contains { keepFloat.contains(plan.network.layers[$0].name) }
      let mapping: QuantizationParameters
      if requested || !Self.hasInt8Form(step.operation) {
        floatSteps.insert(index)
        mapping = own
      } else {
        switch step.operation {
        case .convolution, .dense:
          mapping = own
          weighted[index] = try Self.weighted(step, input: mappings[0], output: own, plan)
        case .add, .concat, .globalAveragePooling:
          // A global average's range is far narrower than its input's: at the input's scale
          // its few values would keep only a few steps (allconv lost 0.8 points so).
          mapping = own
        default:
          mapping = mappings[0]
        }
      }
      outputs.append(mapping)
      bufferMappings[step.output] = mapping
    }
    self.init(
      plan: plan, input: input, outputs: outputs, floatSteps: floatSteps, weighted: weighted)
  }

  /// A network from its parts; each step's input mappings follow from the steps before it.
  init(
    plan: DevicePlan, input: QuantizationParameters, outputs: [QuantizationParameters],
    floatSteps: Set<Int>, weighted: [Int: WeightedStep]
  ) {
    self.plan = plan
    self.input = input
    self.outputs = outputs
    self.floatSteps = floatSteps
    self.weighted = weighted
    var bufferMappings = [QuantizationParameters](repeating: input, count: plan.buffers.count)
    var inputMappings: [[QuantizationParameters]] = []
    for (index, step) in plan.steps.enumerated() {
      inputMappings.append(step.inputs.map { bufferMappings[$0] })
      bufferMappings[step.output] = outputs[index]
    }
    self.inputMappings = inputMappings
  }

  /// Whether cnnc computes `operation` in int8.
  static func hasInt8Form(_ operation: DevicePlan.Operation) -> Bool {
    switch operation {
    case .convolution(_, _, _, let activation, _), .dense(_, _, let activation):
      activation == nil || activation == .relu
    case .activation(let function, _): function == .relu
    case .pooling, .globalAveragePooling, .concat, .add, .copy: true
    case .affine, .softmax: false
    }
  }

  /// A convolution's or dense step's int8 weights, int32 biases and requantizations.
  private static func weighted(
    _ step: DevicePlan.Step, input: QuantizationParameters, output: QuantizationParameters,
    _ plan: DevicePlan
  ) throws(QuantizationError) -> WeightedStep {
    let weight = step.constants.first { $0.role == "weight" }?.values ?? []
    let bias = step.constants.first { $0.role == "bias" }?.values
    let channels = outputChannels(step.operation)
    let perChannel = weight.count / max(channels, 1)
    // An int32 accumulator holds this many products of |x − z| ≤ 255 and |w| ≤ 127.
    guard perChannel <= 66_000 else {
      let name = plan.network.layers[step.layers[0]].spec.subject
      throw QuantizationError(
        "\(name): \(perChannel) products per output could overflow an int32 accumulator")
    }
    var result = WeightedStep(weights: [], weightScales: [], bias: [], requantizations: [])
    result.weights.reserveCapacity(weight.count)
    for c in 0..<channels {
      let values = weight[(c * perChannel)..<((c + 1) * perChannel)]
      let mapping = QuantizationParameters.weights(
        largestMagnitude: values.map(abs).max() ?? 0)
      result.weights.append(contentsOf: values.map { mapping.quantize($0, low: -127) })
      result.weightScales.append(mapping.scale)
      let accumulatorScale = Double(input.scale) * Double(mapping.scale)
      let b = (Double(bias?[c] ?? 0) / accumulatorScale).rounded(.toNearestOrAwayFromZero)
      // The bias and every product together must fit the int32 accumulator.
      let room = Double(Int32.max) - Double(perChannel) * 255 * 127
      guard abs(b) <= room else {
        let name = plan.network.layers[step.layers[0]].spec.subject
        throw QuantizationError(
          "\(name): output channel \(c)'s bias (\(bias?[c] ?? 0)) is \(b) steps of its "
            + "accumulator, more than an int32 holds beside its products; its inputs' range "
            + "or its weights are too small against it")
      }
      result.bias.append(Int32(b))
      guard let requantization = Requantization(scale: accumulatorScale / Double(output.scale))
      else {
        let name = plan.network.layers[step.layers[0]].spec.subject
        throw QuantizationError(
          "\(name): output channel \(c)'s requantization scale is too large for a 31-bit "
            + "multiplier (its outputs' range is tiny against its inputs' and weights')")
      }
      result.requantizations.append(requantization)
    }
    return result
  }
}

extension QuantizedNetwork {
  /// A convolution's or dense step's int8 constants, as an exporter writes them.
  public struct Int8Constants: Sendable {
    /// Row-major (output channel first), as the float weight was laid out.
    public var weights: [Int8]
    /// Each output channel's weight scale (zero point 0).
    public var weightScales: [Float]
    /// At scale input scale × weight scale, zero point 0.
    public var bias: [Int32]
  }

  /// Step `index`'s int8 constants; nil for a step without weights or one run in float.
  public func int8Constants(ofStep index: Int) -> Int8Constants? {
    weighted[index].map {
      Int8Constants(weights: $0.weights, weightScales: $0.weightScales, bias: $0.bias)
    }
  }

  /// The mappings of step `index`'s inputs, in the order of `plan.steps[index].inputs`.
  public func inputMappings(ofStep index: Int) -> [QuantizationParameters] {
    inputMappings[index]
  }
}
