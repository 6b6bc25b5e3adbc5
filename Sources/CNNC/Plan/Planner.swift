import Foundation

/// Why a network could not be planned.
public struct PlanError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }
}

/// Lowers an inferred network to an `ExecutionPlan`: the steps in order, a liveness record for
/// every transient buffer, and offsets in one arena.
public enum Planner {
  /// Buffers start on cache-line boundaries.
  public static let alignment = 64

  /// Plans `network` for `options`; every refusal (too deep, too large, untrainable, an
  /// instruction set the CPU lacks) is a `PlanError` naming the layer where there is one.
  public static func plan(_ network: InferredNetwork, _ options: PlanOptions) throws(PlanError)
    -> ExecutionPlan
  {
    try Lowering(network, options).run()
  }
}

/// The state of one lowering. Values are numbered: 0 is the network's input, i + 1 the output
/// of layer i. `run()` is a sequence of phases, each a method tested on its own
/// (PlannerPhaseTests): most take the earlier phases' results and return their own;
/// `bindOperands`, `orderSteps` and `placeBuffers` also update the buffers or bindings passed
/// to them `inout` (scratch added, steps' operands recorded, offsets assigned).
struct Lowering {
  let network: InferredNetwork
  let options: PlanOptions
  let isa: KernelISA
  let training: Bool
  let layers: [InferredLayer]
  /// Each layer's type behaviour and output shape, which planning needs a valid spec for.
  let kinds: [any Layer]
  /// Batchnorms folded into the convolution before them (`BatchNormFolding`).
  let folds: [Int: Int]
  /// ReLUs fused into the batchnorm or add before them (`ReLUFusion`).
  let fusedReLUs: [Int: Int]
  /// Adds fused into the convolution of one of their inputs (`ResidualFusion`).
  let fusedAdds: [Int: ResidualFusion.Fusion]
  let outputs: [Shape]
  /// The softmax that the cross-entropy loss absorbs, when the net ends in one.
  let foldedSoftmax: Int?

  init(_ network: InferredNetwork, _ options: PlanOptions) throws(PlanError) {
    guard network.layers.count <= Limits.maximumLayerCount else {
      throw PlanError(
        message:
          "\(network.layers.count) layers are more than the planner takes (\(Limits.maximumLayerCount))"
      )
    }
    guard options.batch >= 1, options.batch <= Limits.maximumSize else {
      throw PlanError(
        message: "batch must be between 1 and \(Limits.maximumSize), not \(options.batch)")
    }
    guard (1...256).contains(options.imageThreads) else {
      throw PlanError(
        message: "image threads must be between 1 and 256, not \(options.imageThreads)")
    }
    if let isa = options.isa {
      try isa.checkSupported(asked: "the \(isa.rawValue) kernel path")
      self.isa = isa
    } else {
      isa = try KernelISA.fromEnvironment(ProcessInfo.processInfo.environment)
    }
    var outputs: [Shape] = []
    var kinds: [any Layer] = []
    for layer in network.layers {
      guard let output = layer.output, layer.spec.layer != nil else {
        throw PlanError(message: "\(layer.spec.subject): the spec has errors; run cnnc check")
      }
      outputs.append(output)
    }
    folds = BatchNormFolding.folds(network, options)
    for index in network.layers.indices {
      guard var kind = BatchNormFolding.kind(index, of: network, folds: folds) else { continue }
      if var convolution = kind as? Convolution {
        convolution.lowering = options.lowering
        kind = convolution
      }
      kinds.append(kind)
    }
    fusedReLUs = ReLUFusion.fusions(network, kinds: kinds, options)
    ReLUFusion.apply(fusedReLUs, to: &kinds)
    fusedAdds = ResidualFusion.fuse(network, kinds: &kinds, options)
    self.kinds = kinds
    self.network = network
    self.options = options
    self.training = options.mode == .training
    self.layers = network.layers
    self.outputs = outputs
    let last = network.layers.count - 1
    foldedSoftmax =
      training && options.loss == .softmaxCrossEntropy
        && kinds[last].isClassSoftmax
      ? last : nil
  }

  /// Layer `index`'s type behaviour (`layers[index]` is what shape inference found for it).
  func kind(_ index: Int) -> any Layer { kinds[index] }
  func shape(ofValue value: Int) -> Shape { value == 0 ? network.input : outputs[value - 1] }
  var finalValue: Int { layers.count }
  func needsGradient(_ value: Int) -> Bool { value != 0 || options.inputGradient }

  func run() throws(PlanError) -> ExecutionPlan {
    let values = resolveValues()
    let schedule = scheduleSteps(values)
    if training { try checkTrainable(values, schedule) }
    let sharing = shareBuffers(values, schedule)
    var buffers = try allocateBuffers(values, schedule, sharing)
    var binding = try bindOperands(values, &buffers)
    let steps = orderSteps(values, schedule, buffers, &binding)
    let placement = placeBuffers(steps, &buffers)
    let (parameters, parameterFloats) = try network.parameterLayout()
    return ExecutionPlan(
      network: network, options: options, isa: isa, steps: steps, buffers: buffers.builder.buffers,
      parameters: parameters, arenaBytes: placement.arenaBytes, naiveBytes: placement.naiveBytes,
      lowerBoundBytes: placement.lowerBoundBytes, parameterFloats: parameterFloats,
      inputBuffer: buffers.activation[0], outputBuffer: buffers.probabilities,
      labelsBuffer: buffers.labels, lossGradientBuffer: buffers.lossGradient,
      foldedBatchNorms: folds, fusedReLUs: fusedReLUs,
      fusedAdds: fusedAdds.mapValues(\.convolution), layerKinds: kinds,
      operands: binding.operands)
  }
}
