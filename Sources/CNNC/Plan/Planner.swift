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

  public static func plan(_ network: InferredNetwork, _ options: PlanOptions) throws(PlanError)
    -> ExecutionPlan
  {
    var lowering = try Lowering(network, options)
    return try lowering.run()
  }
}

/// The state of one lowering. Values are numbered: 0 is the network's input, i + 1 the output
/// of layer i.
private struct Lowering {
  let network: InferredNetwork
  let options: PlanOptions
  let isa: KernelISA
  let training: Bool
  let layers: [InferredLayer]
  /// Each layer's type behaviour and output shape, which planning needs a valid spec for.
  let kinds: [any Layer]
  let outputs: [Shape]
  /// The softmax that the cross-entropy loss absorbs, when the net ends in one.
  let foldedSoftmax: Int?
  /// Each layer's input values, with views looked through to the value that owns the data.
  var inputValues: [[Int]] = []
  var isView: [Bool] = []

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
      guard let output = layer.output, let kind = layer.spec.layer else {
        throw PlanError(message: "\(layer.spec.subject): the spec has errors; run cnnc check")
      }
      outputs.append(output)
      kinds.append(kind)
    }
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

  func layer(_ index: Int) -> any Layer { kinds[index] }
  func shape(ofValue value: Int) -> Shape { value == 0 ? network.input : outputs[value - 1] }
  var finalValue: Int { layers.count }

  mutating func run() throws(PlanError) -> ExecutionPlan {
    // Views share their input's value; everything else owns its own.
    var owner = Array(0...layers.count)
    for (index, layer) in layers.enumerated() {
      let view = self.layer(index).isView(training: training)
      isView.append(view)
      inputValues.append(
        layer.inputs.map { input in
          switch input {
          case .networkInput: return owner[0]
          case .layer(let source): return owner[source + 1]
          }
        })
      if view { owner[index + 1] = inputValues[index][0] }
    }

    // Which layers get which steps.
    let hasForward = layers.indices.map { !isView[$0] && $0 != foldedSoftmax }
    func needsGradient(_ value: Int) -> Bool { value != 0 || options.inputGradient }
    let hasBackward = layers.indices.map { index in
      training && hasForward[index]
        && (layers[index].parameters.contains { $0.role == .learned }
          || inputValues[index].contains(where: needsGradient))
    }
    var forwardStep = [Int?](repeating: nil, count: layers.count)
    var backwardStep = [Int?](repeating: nil, count: layers.count)
    var stepCount = 0
    for index in layers.indices where hasForward[index] {
      forwardStep[index] = stepCount
      stepCount += 1
    }
    let lossStep: Int? = training && options.loss == .softmaxCrossEntropy ? stepCount : nil
    if lossStep != nil { stepCount += 1 }
    for index in layers.indices.reversed() where hasBackward[index] {
      backwardStep[index] = stepCount
      stepCount += 1
    }
    let logits = foldedSoftmax.map { inputValues[$0][0] } ?? owner[finalValue]
    if training {
      try checkTrainable(logits: logits, owner: owner)
      for index in layers.indices where hasForward[index] {
        if let problem = layer(index).trainingProblem(
          batch: options.batch, inputs: layers[index].inputShapes)
        {
          throw PlanError(message: "\(layers[index].spec.subject): \(problem)")
        }
      }
    }

    // The last step that reads each value, for deciding in-place runs.
    var lastRead = [Int](repeating: -1, count: layers.count + 1)
    func read(_ value: Int, at step: Int?) {
      if let step { lastRead[value] = max(lastRead[value], step) }
    }
    for index in layers.indices {
      for value in inputValues[index] {
        read(value, at: forwardStep[index])
        if layer(index).backwardReads.contains(.input) { read(value, at: backwardStep[index]) }
      }
      if layer(index).backwardReads.contains(.output) {
        read(owner[index + 1], at: backwardStep[index])
      }
    }
    read(logits, at: lossStep)
    read(owner[finalValue], at: stepCount - 1)

    // In place: a layer that may writes over an input that nothing reads after it (never
    // over the network's input, which the caller owns).
    func runsInPlace(_ index: Int) -> Bool {
      let input = inputValues[index][0]
      return hasForward[index] && layer(index).mayRunInPlace && input != 0
        && lastRead[input] == forwardStep[index]
    }
    // `bufferOwner[v]` is the value whose buffer holds v's data; it only ever points back.
    var bufferOwner = owner
    for index in layers.indices where runsInPlace(index) {
      bufferOwner[index + 1] = bufferOwner[inputValues[index][0]]
    }
    for value in bufferOwner.indices { bufferOwner[value] = bufferOwner[owner[value]] }

    var builder = PlanBuilder(batch: options.batch)
    // Activation buffers, one per owning value.
    var activation = [Int](repeating: -1, count: layers.count + 1)
    activation[0] = try builder.add("input", .input, shape(ofValue: 0))
    for value in 1...layers.count where bufferOwner[value] == value {
      activation[value] = try builder.add(
        layers[value - 1].name, .activation, shape(ofValue: value))
    }
    for value in 1...layers.count where bufferOwner[value] != value {
      activation[value] = activation[bufferOwner[value]]
    }
    // Gradient buffers, one per value that owns its data (a view shares its input's).
    var gradient = [Int?](repeating: nil, count: layers.count + 1)
    if training {
      for value in 0...layers.count where owner[value] == value && needsGradient(value) {
        if let folded = foldedSoftmax, value == folded + 1 { continue }
        let name = value == 0 ? "input" : layers[value - 1].name
        gradient[value] = try builder.add("\(name) gradient", .gradient, shape(ofValue: value))
      }
    }
    var labels: Int?
    var probabilities = activation[finalValue]
    if lossStep != nil {
      labels = try builder.add("labels", .labels, elements: options.batch)
      if foldedSoftmax == nil {
        probabilities = try builder.add("probabilities", .activation, shape(ofValue: finalValue))
      }
    }

    // Scratch and operands per layer, then the steps in order.
    var operands = [LayerOperands?](repeating: nil, count: layers.count)
    var steps = [PlanStep?](repeating: nil, count: stepCount)
    var gradientWritten = Set<Int>()
    let requests = layers.indices.map { index in
      layer(index).scratch(
        batch: options.batch, inputs: layers[index].inputShapes, output: outputs[index])
    }
    for (index, layerRequests) in requests.enumerated() {
      precondition(
        Set(layerRequests.map(\.name)).count == layerRequests.count,
        "\(layers[index].typeName): two scratch requests share a name")
    }
    for index in layers.indices where hasForward[index] {
      let wantsInputGradient = training && inputValues[index].contains(where: needsGradient)
      var scratch: [Int?] = []
      for request in requests[index] {
        if !training && request.lifetime == .backward
          || request.forInputGradient && !wantsInputGradient
        {
          scratch.append(nil)
          continue
        }
        let copies = request.perThread ? options.kernelThreads : 1
        guard let elements = request.elements.flatMap({ checkedProduct([$0, copies]) }) else {
          throw PlanError(
            message: "\(layers[index].spec.subject): its \(request.name) buffer overflows")
        }
        scratch.append(
          try builder.add("\(layers[index].name) \(request.name)", .scratch, elements: elements))
      }
      operands[index] = LayerOperands(
        inputs: inputValues[index].map { activation[$0] }, output: activation[index + 1],
        outputGradient: gradient[owner[index + 1]],
        inputGradients: inputValues[index].map { gradient[$0] },
        accumulate: inputValues[index].map { _ in false }, scratch: scratch,
        scratchNames: requests[index].map(\.name))
    }

    for index in layers.indices {
      guard let step = forwardStep[index], let ops = operands[index] else { continue }
      let forwardScratch = zip(requests[index], ops.scratch)
        .filter { $0.0.lifetime != .backward }.compactMap { $0.1 }
      steps[step] = PlanStep(
        phase: .forward, layer: index, kernel: "\(layers[index].typeName) forward",
        reads: ops.inputs, writes: [ops.output] + forwardScratch)
    }
    if let lossStep, let labels {
      steps[lossStep] = PlanStep(
        phase: .loss, layer: nil, kernel: "softmax cross-entropy",
        reads: [activation[logits], labels],
        writes: [probabilities, gradient[logits]].compactMap { $0 })
    }
    for index in layers.indices.reversed() {
      guard let step = backwardStep[index], var ops = operands[index] else { continue }
      var reads = ops.outputGradient.map { [$0] } ?? []
      if layer(index).backwardReads.contains(.input) { reads += ops.inputs }
      if layer(index).backwardReads.contains(.output) { reads.append(ops.output) }
      var writes: [Int] = []
      for (request, buffer) in zip(requests[index], ops.scratch) {
        guard let buffer else { continue }
        if request.lifetime == .forwardToBackward { reads.append(buffer) }
        if request.lifetime == .backward { writes.append(buffer) }
      }
      for (slot, target) in ops.inputGradients.enumerated() {
        guard let target else { continue }
        ops.accumulate[slot] = !gradientWritten.insert(target).inserted
        writes.append(target)
      }
      operands[index] = ops
      steps[step] = PlanStep(
        phase: .backward, layer: index, kernel: "\(layers[index].typeName) backward",
        reads: reads, writes: writes)
    }
    let orderedSteps = steps.compactMap { $0 }

    // Liveness from the steps. The caller's buffers live through the whole plan: the input
    // stays as written (a second forward pass sees the same batch), and the caller reads the
    // output and the loss gradient afterwards.
    builder.markLiveness(orderedSteps)
    builder.extend(activation[0], from: 0, to: orderedSteps.count - 1)
    if let labels { builder.extend(labels, from: 0, to: orderedSteps.count - 1) }
    builder.extend(probabilities, from: nil, to: orderedSteps.count - 1)
    let lossGradient: Int? =
      training
      ? (options.loss == .softmaxCrossEntropy ? gradient[logits] : gradient[owner[finalValue]])
      : nil

    let records = builder.buffers.map(\.record)
    let offsets = ArenaPlanner.offsets(for: records, alignment: Planner.alignment)
    for index in builder.buffers.indices { builder.buffers[index].offset = offsets[index] }
    let (parameters, parameterFloats) = try parameterSlots()
    return ExecutionPlan(
      network: network, options: options, isa: isa, steps: orderedSteps, buffers: builder.buffers,
      parameters: parameters, arenaBytes: ArenaPlanner.arenaBytes(records, offsets: offsets),
      naiveBytes: records.reduce(0) { $0 + $1.bytes },
      lowerBoundBytes: ArenaPlanner.lowerBound(records),
      parameterFloats: parameterFloats, inputBuffer: activation[0], outputBuffer: probabilities,
      labelsBuffer: labels, lossGradientBuffer: lossGradient, operands: operands)
  }

  /// Training needs every branch to reach the loss, and class scores to compare with labels.
  func checkTrainable(logits: Int, owner: [Int]) throws(PlanError) {
    var consumed = Set(inputValues.joined())
    consumed.insert(owner[finalValue])
    for index in layers.indices where !consumed.contains(owner[index + 1]) {
      throw PlanError(
        message: "\(layers[index].spec.subject): its output reaches no later layer; "
          + "training needs every branch to lead to the last layer")
    }
    let scores = shape(ofValue: logits)
    if options.loss == .softmaxCrossEntropy, scores.height != 1 || scores.width != 1 {
      throw PlanError(
        message: "training with softmax cross-entropy needs class scores of shape K×1×1, "
          + "but the last layer gives \(scores)")
    }
  }

  /// Each learned tensor's place in one parameter storage, 16-float aligned.
  func parameterSlots() throws(PlanError) -> ([ParameterSlot], Int) {
    var slots: [ParameterSlot] = []
    var offset = 0
    for (index, layer) in layers.enumerated() {
      for tensor in layer.parameters {
        guard let count = tensor.floatCount, count <= Int(Int32.max) else {
          throw PlanError(message: "\(layer.spec.subject): its \(tensor.name) is too large to run")
        }
        slots.append(
          ParameterSlot(
            name: "\(layer.name).\(tensor.name)", layer: index, dimensions: tensor.dimensions,
            initializer: tensor.initializer, role: tensor.role, elementType: tensor.elementType,
            offset: offset, count: count))
        offset += ArenaPlanner.roundUp(count, to: 16)
      }
    }
    return (slots, offset)
  }
}

/// Collects buffers and their lifetimes while a plan is lowered.
private struct PlanBuilder {
  let batch: Int
  var buffers: [PlanBuffer] = []

  /// A buffer of one `shape` per sample.
  mutating func add(_ name: String, _ kind: PlanBuffer.Kind, _ shape: Shape) throws(PlanError)
    -> Int
  {
    guard let perSample = shape.elementCount, perSample <= Int(Int32.max) else {
      throw PlanError(message: "'\(name)': \(shape) per sample is too large to run")
    }
    return try add(name, kind, elements: perSample * batch)
  }

  /// A buffer of `elements` 4-byte values.
  mutating func add(_ name: String, _ kind: PlanBuffer.Kind, elements: Int) throws(PlanError) -> Int
  {
    guard let bytes = checkedProduct([elements, 4]), bytes < Int.max / 2 else {
      throw PlanError(message: "'\(name)': its byte count overflows a 64-bit integer")
    }
    buffers.append(
      PlanBuffer(
        name: name, kind: kind, bytes: ArenaPlanner.roundUp(bytes, to: Planner.alignment),
        firstStep: Int.max, lastStep: -1, offset: 0))
    return buffers.count - 1
  }

  mutating func markLiveness(_ steps: [PlanStep]) {
    for (index, step) in steps.enumerated() {
      for buffer in step.reads + step.writes { extend(buffer, from: index, to: index) }
    }
    for index in buffers.indices where buffers[index].lastStep < 0 {
      buffers[index].firstStep = 0
      buffers[index].lastStep = 0
    }
  }

  mutating func extend(_ buffer: Int, from first: Int?, to last: Int?) {
    if let first { buffers[buffer].firstStep = min(buffers[buffer].firstStep, first) }
    if let last { buffers[buffer].lastStep = max(buffers[buffer].lastStep, last) }
  }
}
