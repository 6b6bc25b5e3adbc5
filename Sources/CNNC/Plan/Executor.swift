import Foundation

/// Nanoseconds on the monotonic clock (no allocation, unlike Date).
func monotonicNanoseconds() -> UInt64 {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// A plan made real: one arena and the parameter storage, allocated once, and a kernel per step.
/// Running a step allocates nothing.
public final class Executor {
  public let plan: ExecutionPlan
  private let arena: UnsafeMutableRawPointer
  /// Weights, and in training their gradients, laid out as `plan.parameters`.
  public let weights: UnsafeMutableBufferPointer<Float>
  public let gradients: UnsafeMutableBufferPointer<Float>
  private let ownsGradients: Bool
  /// The executor whose weights these are, kept alive while this one uses them.
  private let weightOwner: Executor?
  private let random: UnsafeMutablePointer<SplitMix64>
  /// Threads that split one image's layers with the caller (batch-1 inference plans only).
  private let team: KernelTeam?
  private var kernels: [Kernel] = []
  private let forwardSteps: Range<Int>
  private let backwardSteps: Range<Int>
  /// The fused loss, when the plan has one.
  private var lossKernel: (() -> (loss: Float, correct: Int))?

  /// With `sharingWeightsOf`, this executor reads and its owner updates one set of weights
  /// (data-parallel workers); the plans must have the same parameters.
  public convenience init(
    plan: ExecutionPlan, seed: UInt64 = 1, weightInit: WeightInit = .glorotUniform,
    sharingWeightsOf owner: Executor? = nil
  ) throws(PlanError) {
    try self.init(
      plan: plan, seed: seed, weightInit: weightInit, sharingWeightsOf: owner,
      gradientStorage: nil)
  }

  /// `gradientStorage`, when given, is where the gradients go (64-byte aligned, at least
  /// `plan.parameterFloats` floats, outliving the executor): the slot a gradient exchange
  /// sends from, so that nothing is copied.
  init(
    plan: ExecutionPlan, seed: UInt64, weightInit: WeightInit, sharingWeightsOf owner: Executor?,
    gradientStorage: UnsafeMutablePointer<Float>?
  ) throws(PlanError) {
    self.plan = plan
    let training = plan.options.mode == .training
    try plan.checkFitsInMemory()
    func zeroed(_ bytes: Int) throws(PlanError) -> UnsafeMutableRawPointer {
      guard let memory = Memory.allocateZeroed(bytes, alignment: Planner.alignment) else {
        throw PlanError(
          message: "the \(plan.options.mode) plan at batch \(plan.options.batch) needs "
            + "\(Memory.describe(plan.executorBytes)), and allocating \(Memory.describe(bytes)) of it failed "
            + "(this machine has \(Memory.describe(Memory.physicalBytes)))")
      }
      return memory
    }
    // At least one float each, so that every storage has a real base address.
    func storage(_ floats: Int) throws(PlanError) -> UnsafeMutableBufferPointer<Float> {
      let memory = try zeroed(max(floats, 1) * 4).bindMemory(
        to: Float.self, capacity: max(floats, 1))
      return UnsafeMutableBufferPointer(start: memory, count: floats)
    }
    arena = try zeroed(max(plan.arenaBytes, Planner.alignment))
    if let owner {
      precondition(
        owner.plan.parameterFloats == plan.parameterFloats, "plans of different networks")
      weights = owner.weights
    } else {
      weights = try storage(plan.parameterFloats)
    }
    weightOwner = owner
    if let gradientStorage, training {
      gradients = UnsafeMutableBufferPointer(start: gradientStorage, count: plan.parameterFloats)
    } else {
      gradients = try storage(training ? plan.parameterFloats : 0)
    }
    ownsGradients = gradientStorage == nil || !training
    team = plan.options.kernelThreads > 1 ? KernelTeam(threads: plan.options.kernelThreads) : nil
    random = .allocate(capacity: 1)
    random.initialize(to: SplitMix64(seed: seed))
    forwardSteps = 0..<(plan.steps.firstIndex { $0.phase != .forward } ?? plan.steps.count)
    backwardSteps =
      (plan.steps.firstIndex { $0.phase == .backward } ?? plan.steps.count)..<plan.steps.count
    bindKernels()
    if owner == nil { initializeParameters(seed: seed, scheme: weightInit) }
  }

  deinit {
    free(arena)
    if ownsGradients { free(gradients.baseAddress) }
    if weightOwner == nil { free(weights.baseAddress) }
    random.deallocate()
  }

  /// The arena bytes of buffer `id` as `T`.
  private func pointer<T>(_ id: Int, as type: T.Type = Float.self) -> UnsafeMutablePointer<T> {
    (arena + plan.buffers[id].offset).assumingMemoryBound(to: T.self)
  }

  /// The batch of inputs: (batch, c, h, w). Write it before `forward()`.
  public var input: UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(
      start: pointer(plan.inputBuffer),
      count: plan.options.batch * (plan.network.input.elementCount ?? 0))
  }

  /// The final layer's outputs (probabilities when training folds a softmax in): (batch, K).
  public var output: UnsafeMutableBufferPointer<Float> {
    let count = plan.network.layers.last?.output?.elementCount ?? 0
    return UnsafeMutableBufferPointer(
      start: pointer(plan.outputBuffer), count: plan.options.batch * count)
  }

  /// One label per sample, for the cross-entropy loss.
  public var labels: UnsafeMutableBufferPointer<Int32>? {
    plan.labelsBuffer.map {
      UnsafeMutableBufferPointer(start: pointer($0, as: Int32.self), count: plan.options.batch)
    }
  }

  /// Where backward starts: with `LossKind.outputGradient`, write the gradient of the final
  /// output here between `forward()` and `backward()`.
  public var lossGradient: UnsafeMutableBufferPointer<Float>? {
    plan.lossGradientBuffer.map {
      UnsafeMutableBufferPointer(start: pointer($0), count: output.count)
    }
  }

  /// The gradient with respect to the network's input, when the plan asked for it.
  public var inputGradient: UnsafeMutableBufferPointer<Float>? {
    guard
      let id = plan.operands.compactMap({ $0 }).flatMap({ ops in
        zip(ops.inputs, ops.inputGradients).filter { $0.0 == plan.inputBuffer }.compactMap { $0.1 }
      }).first
    else { return nil }
    return UnsafeMutableBufferPointer(start: pointer(id), count: input.count)
  }

  /// A parameter tensor's weights, e.g. "conv1.weight".
  public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
    plan.parameters.first { $0.name == name }.map { slot in
      UnsafeMutableBufferPointer(rebasing: weights[slot.range])
    }
  }

  public func parameterGradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
    plan.parameters.first { $0.name == name }.map { slot in
      UnsafeMutableBufferPointer(rebasing: gradients[slot.offset..<slot.offset + slot.count])
    }
  }

  /// Restarts the random stream (dropout masks), e.g. to repeat a forward pass exactly.
  public func reseed(_ seed: UInt64) { random.pointee = SplitMix64(seed: seed) }

  public var randomState: UInt64 {
    get { random.pointee.state }
    set { random.pointee.state = newValue }
  }

  public func forward() {
    for step in forwardSteps { kernels[step]() }
  }

  /// The fused softmax cross-entropy: mean loss and correct predictions over the batch.
  @discardableResult
  public func loss() -> (loss: Float, correct: Int) {
    lossKernel?() ?? (0, 0)
  }

  /// Fills the parameter gradients (and the input gradient, if planned) from the loss gradient.
  public func backward() {
    for step in backwardSteps { kernels[step]() }
  }

  /// Runs every step once (forward, loss, backward in training), adding each step's
  /// wall-clock nanoseconds to `nanoseconds[step]`: the per-layer profile `cnnc bench` prints.
  public func profileSteps(into nanoseconds: UnsafeMutableBufferPointer<UInt64>) {
    for step in plan.steps.indices {
      let start = monotonicNanoseconds()
      if plan.steps[step].phase == .loss { _ = loss() } else { kernels[step]() }
      nanoseconds[step] += monotonicNanoseconds() - start
    }
  }

  /// forward, loss and backward: one training step's gradients, before the optimizer.
  @discardableResult
  public func trainStep() -> (loss: Float, correct: Int) {
    forward()
    let result = loss()
    backward()
    return result
  }

  /// Each tensor as its layer declares: seeded uniform weights (Glorot unless `scheme` says
  /// otherwise) for `.fans`, else zeros or ones.
  public func initializeParameters(seed: UInt64, scheme: WeightInit = .glorotUniform) {
    var generator = SplitMix64(seed: seed)
    for slot in plan.parameters {
      let values = UnsafeMutableBufferPointer(rebasing: weights[slot.range])
      switch slot.initializer {
      case .zeros: values.update(repeating: 0)
      case .ones: values.update(repeating: 1)
      case .fans:
        // [out, in, kernel...]: PyTorch's fans (fan-out counts the out dimension).
        let receptive = slot.dimensions.dropFirst(2).reduce(1, *)
        let fanIn = slot.dimensions.dropFirst().first.map { $0 * receptive } ?? 1
        let fanOut = (slot.dimensions.first ?? 1) * receptive
        let limit = scheme.limit(fanIn: fanIn, fanOut: fanOut)
        for index in values.indices {
          values[index] = (generator.nextUnitFloat() * 2 - 1) * limit
        }
      }
    }
  }

  private func bindKernels() {
    let training = plan.options.mode == .training
    let batch = plan.options.batch
    // Storage always has a base address (see init); inference binds gradients to nothing real,
    // and its plan has no backward steps to use them.
    guard let weightBase = weights.baseAddress, let gradientBase = gradients.baseAddress else {
      return
    }
    let slotsByLayer = Dictionary(grouping: plan.parameters, by: \.layer)
    for step in plan.steps {
      guard let index = step.layer, let ops = plan.operands[index] else {
        kernels.append({})
        continue
      }
      let layer = plan.network.layers[index]
      let slots = slotsByLayer[index] ?? []
      let binding = LayerBinding(
        isa: plan.isa, threads: team == nil ? 1 : plan.options.kernelThreads, team: team,
        batch: batch, inputShapes: layer.inputShapes,
        outputShape: layer.output ?? Shape(channels: 0, height: 0, width: 0),
        inputs: ops.inputs.map { pointer($0) }, output: pointer(ops.output),
        outputGradient: ops.outputGradient.map { pointer($0) },
        inputGradients: ops.inputGradients.map { $0.map { pointer($0) } },
        accumulate: ops.accumulate,
        scratch: Dictionary(
          uniqueKeysWithValues: zip(ops.scratchNames, ops.scratch).map { name, id in
            (name, id.map { UnsafeMutableRawPointer(pointer($0, as: UInt8.self)) })
          }),
        parameters: slots.map { weightBase + $0.offset },
        parameterGradients: slots.map { gradientBase + $0.offset },
        updatesState: weightOwner == nil, random: random,
        foldedParameters: plan.foldedBatchNorms.first { $0.value == index }.map { fold in
          (slotsByLayer[fold.key] ?? []).map { weightBase + $0.offset }
        } ?? [])
      let kind = plan.layerKinds[index]
      kernels.append(
        step.phase == .forward
          ? kind.forwardKernel(binding, training: training) : kind.backwardKernel(binding))
    }
    if let lossStep = plan.steps.first(where: { $0.phase == .loss }), let labels = plan.labelsBuffer
    {
      let logits: UnsafePointer<Float> = UnsafePointer(pointer(lossStep.reads[0]))
      let labelPointer: UnsafePointer<Int32> = UnsafePointer(pointer(labels, as: Int32.self))
      let probabilities: UnsafeMutablePointer<Float> = pointer(plan.outputBuffer)
      let gradient: UnsafeMutablePointer<Float> = pointer(
        plan.lossGradientBuffer ?? plan.outputBuffer)
      let classes = plan.network.layers.last?.output?.elementCount ?? 0
      lossKernel = {
        softmaxCrossEntropy(
          logits: logits, labels: labelPointer, probabilities: probabilities, gradient: gradient,
          samples: batch, classes: classes)
      }
    }
  }
}
