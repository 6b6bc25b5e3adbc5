/// An int8 network as a safetensors file (`cnnc quantize -o`), every figure a reader needs to
/// run it without cnnc, under names built from the spec's layer names. Each step of the device
/// plan is named by its first layer L:
/// - `input.scale` (F32 [1]), `input.zero_point` (I32 [1]): the network input's mapping;
/// - `L.output_scale`, `L.output_zero_point`: the step's output mapping (a pooling fused into
///   a convolution shares it);
/// - an int8 convolution or dense step: `L.weight` (I8, the float weight's shape; batchnorm
///   folded), `L.weight_scale` (F32 [out]: each output channel's), `L.bias` (I32 [out], at
///   input scale × weight scale), and the requantization worked out: `L.multiplier` (I32 [out],
///   in [2^30, 2^31)) and `L.shift` (I32 [out]): output = round(acc × multiplier / 2^shift),
///   halves away from zero, plus the output zero point;
/// - a step that runs in float: its float constants, `L.weight` and `L.bias` (folded) or
///   `L.scale` and `L.shift` (a batchnorm), as F32.
/// The metadata says `format: cnnc-int8-1`, the rounding rule and which steps run in float.
extension QuantizedNetwork {
  public static let checkpointFormat = "cnnc-int8-1"

  /// Whether `file` is an int8 checkpoint (of any version: reading one refuses a version this
  /// cnnc does not read by name).
  public static func isCheckpoint(_ file: SafeTensors) -> Bool {
    file.metadata["format"]?.hasPrefix("cnnc-int8") ?? false
  }

  /// The checkpoint of this network.
  public var checkpoint: SafeTensors {
    var tensors: [SafeTensors.Tensor] = [
      .init(name: "input.scale", shape: [1], values: [input.scale]),
      .init(name: "input.zero_point", shape: [1], int32s: [input.zeroPoint]),
    ]
    for (index, step) in plan.steps.enumerated() {
      let layer = plan.network.layers[step.layers[0]]
      let name = layer.name
      tensors.append(
        .init(name: "\(name).output_scale", shape: [1], values: [outputs[index].scale]))
      tensors.append(
        .init(name: "\(name).output_zero_point", shape: [1], int32s: [outputs[index].zeroPoint]))
      if let w = weighted[index] {
        let shape = layer.parameters.first { $0.name == "weight" }?.dimensions ?? [w.weights.count]
        let out = [w.bias.count]
        tensors += [
          .init(name: "\(name).weight", shape: shape, int8s: w.weights),
          .init(name: "\(name).weight_scale", shape: out, values: w.weightScales),
          .init(name: "\(name).bias", shape: out, int32s: w.bias),
          .init(
            name: "\(name).multiplier", shape: out, int32s: w.requantizations.map(\.multiplier)),
          .init(
            name: "\(name).shift", shape: out, int32s: w.requantizations.map { Int32($0.shift) }),
        ]
      } else if floatSteps.contains(index) {
        for constant in step.constants {
          tensors.append(
            .init(
              name: "\(name).\(constant.role)", shape: [constant.values.count],
              values: constant.values))
        }
      }
    }
    let floatNames = floatSteps.sorted().map { plan.network.layers[plan.steps[$0].layers[0]].name }
    return SafeTensors(
      tensors: tensors,
      metadata: [
        "format": Self.checkpointFormat,
        "scheme":
          "weights int8 symmetric per output channel; activations int8 asymmetric per tensor; biases int32",
        "rounding": "to nearest, halves away from zero, once",
        "float_steps": floatNames.joined(separator: ","),
      ])
  }
}

extension QuantizedNetwork {
  /// The int8 network `file` (read from `path`) holds for `network`, every tensor checked
  /// against the network's steps.
  public init(_ network: InferredNetwork, checkpoint file: SafeTensors, path: String)
    throws(QuantizationError)
  {
    func fail(_ problem: String) -> QuantizationError { QuantizationError("\(path): \(problem)") }
    guard file.metadata["format"] == Self.checkpointFormat else {
      throw fail(
        "its format '\(file.metadata["format"] ?? "")' is not \(Self.checkpointFormat), the int8 "
          + "checkpoint this cnnc reads")
    }
    let floats: Int
    do {
      floats = try network.parameterLayout().floats
    } catch {
      throw QuantizationError(error.message)
    }
    var plan: DevicePlan
    do {
      plan = try DevicePlan(network, parameters: [Float](repeating: 0, count: floats))
    } catch {
      throw QuantizationError(error.message)
    }
    // Every tensor has the type and shape the writer gives it (`checkpoint`).
    func tensor(_ name: String, _ type: SafeTensors.DType, shape: [Int]) throws(QuantizationError)
      -> SafeTensors.Tensor
    {
      guard let tensor = file[name] else { throw fail("tensor '\(name)' is missing") }
      guard tensor.dtype == type, tensor.shape == shape else {
        throw fail(
          "tensor '\(name)' is \(tensor.dtype.rawValue) \(tensor.shape); the network needs "
            + "\(type.rawValue) \(shape)")
      }
      return tensor
    }
    func mapping(_ prefix: String) throws(QuantizationError) -> QuantizationParameters {
      let scale = try tensor("\(prefix)scale", .f32, shape: [1]).values[0]
      let zeroPoint = try tensor("\(prefix)zero_point", .i32, shape: [1]).int32s?[0] ?? 0
      guard scale.isNormal, scale > 0, (-128...127).contains(zeroPoint) else {
        throw fail("\(prefix)scale \(scale) and zero point \(zeroPoint) are not an int8 mapping")
      }
      return QuantizationParameters(scale: scale, zeroPoint: zeroPoint)
    }
    let floatNames = Set(
      (file.metadata["float_steps"] ?? "").split(separator: ",").map(String.init))
    let stepNames = Set(plan.steps.map { network.layers[$0.layers[0]].name })
    if let unknown = floatNames.subtracting(stepNames).sorted().first {
      throw fail("its metadata lists '\(unknown)' in float_steps, which is no step of the network")
    }
    var outputs: [QuantizationParameters] = []
    var floatSteps: Set<Int> = []
    var weighted: [Int: WeightedStep] = [:]
    for (index, step) in plan.steps.enumerated() {
      let name = network.layers[step.layers[0]].name
      outputs.append(try mapping("\(name).output_"))
      if floatNames.contains(name) || !Self.hasInt8Form(step.operation) {
        guard floatNames.contains(name) else {
          throw fail("step '\(name)' has no int8 form but the metadata does not list it in float")
        }
        floatSteps.insert(index)
        var constants = step.constants
        for c in constants.indices {
          constants[c].values =
            try tensor("\(name).\(constants[c].role)", .f32, shape: [constants[c].values.count])
            .values
          if constants[c].values.contains(where: { !$0.isFinite }) {
            throw fail("tensor '\(name).\(constants[c].role)' holds NaN or infinite values")
          }
        }
        plan.replaceConstants(ofStep: index, with: constants)
        continue
      }
      guard let weight = step.constants.first(where: { $0.role == "weight" }) else { continue }
      let channels = step.constants.first { $0.role == "bias" }?.values.count ?? 0
      let out = channels > 0 ? channels : Self.outputChannels(step.operation)
      let shape =
        network.layers[step.layers[0]].parameters.first { $0.name == "weight" }?.dimensions
        ?? [weight.values.count]
      let weights = try tensor("\(name).weight", .i8, shape: shape).int8s ?? []
      let scales = try tensor("\(name).weight_scale", .f32, shape: [out]).values
      let bias = try tensor("\(name).bias", .i32, shape: [out]).int32s ?? []
      let multipliers = try tensor("\(name).multiplier", .i32, shape: [out]).int32s ?? []
      let shifts = try tensor("\(name).shift", .i32, shape: [out]).int32s ?? []
      var requantizations: [Requantization] = []
      for (multiplier, shift) in zip(multipliers, shifts) {
        guard let r = Requantization(multiplier: multiplier, shift: Int(shift)) else {
          throw fail(
            "'\(name)': multiplier \(multiplier) with shift \(shift) is not a requantization")
        }
        requantizations.append(r)
      }
      guard weights.allSatisfy({ $0 != -128 }), scales.allSatisfy({ $0.isNormal && $0 > 0 }) else {
        throw fail("'\(name)': weights must lie in ±127 and their scales be positive")
      }
      let room = Int64(Int32.max) - Int64(weight.values.count / out) * 255 * 127
      guard bias.allSatisfy({ Int64($0).magnitude <= room }) else {
        throw fail("'\(name)': a bias leaves the int32 accumulator no room for its products")
      }
      weighted[index] = WeightedStep(
        weights: weights, weightScales: scales, bias: bias, requantizations: requantizations)
    }
    let read = Self(
      plan: plan, input: try mapping("input."), outputs: outputs, floatSteps: floatSteps,
      weighted: weighted)
    try read.checkConsistency(fail)
    self = read
  }

  /// The mappings and requantizations agree as the quantizer made them: a step that keeps its
  /// input's mapping (pooling, ReLU, copy) has it, and each requantization is its channel's
  /// input scale × weight scale / output scale.
  private func checkConsistency(_ fail: (String) -> QuantizationError) throws(QuantizationError) {
    for (index, step) in plan.steps.enumerated() where !floatSteps.contains(index) {
      let name = plan.network.layers[step.layers[0]].name
      switch step.operation {
      case .pooling, .activation, .copy:
        guard outputs[index] == inputMappings[index][0] else {
          throw fail(
            "'\(name)' keeps its input's mapping, but its output_scale and "
              + "output_zero_point differ from it")
        }
      default: break
      }
      guard let w = weighted[index] else { continue }
      for (channel, scale) in w.weightScales.enumerated() {
        let accumulatorScale = Double(inputMappings[index][0].scale) * Double(scale)
        let expected = Requantization(scale: accumulatorScale / Double(outputs[index].scale))
        guard expected == w.requantizations[channel] else {
          throw fail(
            "'\(name)': channel \(channel)'s multiplier and shift are not its input "
              + "scale × weight scale / output scale")
        }
      }
    }
  }

  /// The output channels of a convolution or dense step.
  static func outputChannels(_ operation: DevicePlan.Operation) -> Int {
    switch operation {
    case .convolution(_, let filters, _, _, _): filters
    case .dense(_, let units, _): units
    default: 0
    }
  }
}

extension Requantization {
  /// A multiplier and shift as a file holds them: the multiplier in [2^30, 2^31) (or 0), the
  /// shift 1 to 62.
  init?(multiplier: Int32, shift: Int) {
    guard (1...62).contains(shift), multiplier == 0 || multiplier >= 1 << 30 else { return nil }
    self.multiplier = multiplier
    self.shift = shift
  }
}
