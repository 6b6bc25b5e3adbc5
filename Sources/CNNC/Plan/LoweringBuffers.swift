/// The last phases of a lowering: the buffers, each layer's operands, the steps that read and
/// write them, and the buffers' places in the arena.
extension Lowering {
  /// Phase 5: one activation buffer per value that owns its data, a gradient buffer per
  /// value that needs one, and the loss's labels and probabilities.
  struct Buffers {
    var builder: PlanBuilder
    /// Buffer id per value (shared where values share a buffer).
    var activation: [Int]
    /// Buffer id per owning value that needs a gradient (a view shares its input's).
    var gradient: [Int?]
    var labels: Int?
    /// Where the caller reads the output: the loss's probabilities, else the final value.
    var probabilities: Int
    /// Where backward starts: the loss writes it, or the caller (`LossKind.outputGradient`).
    var lossGradient: Int?
  }

  func allocateBuffers(_ values: Values, _ schedule: Schedule, _ bufferOwner: [Int])
    throws(PlanError) -> Buffers
  {
    var builder = PlanBuilder(batch: options.batch)
    var activation = [Int](repeating: -1, count: layers.count + 1)
    activation[0] = try builder.add("input", .input, shape(ofValue: 0))
    for value in 1...layers.count where bufferOwner[value] == value {
      activation[value] = try builder.add(
        layers[value - 1].name, .activation, shape(ofValue: value))
    }
    for value in 1...layers.count where bufferOwner[value] != value {
      activation[value] = activation[bufferOwner[value]]
    }
    var gradient = [Int?](repeating: nil, count: layers.count + 1)
    if training {
      for value in 0...layers.count where values.owner[value] == value && needsGradient(value) {
        if let folded = foldedSoftmax, value == folded + 1 { continue }
        let name = value == 0 ? "input" : layers[value - 1].name
        gradient[value] = try builder.add("\(name) gradient", .gradient, shape(ofValue: value))
      }
    }
    var buffers = Buffers(
      builder: builder, activation: activation, gradient: gradient, labels: nil,
      probabilities: activation[finalValue], lossGradient: nil)
    if schedule.loss != nil {
      buffers.labels = try buffers.builder.add("labels", .labels, elements: options.batch)
      if foldedSoftmax == nil {
        buffers.probabilities = try buffers.builder.add(
          "probabilities", .activation, shape(ofValue: finalValue))
      }
    }
    if training {
      buffers.lossGradient =
        options.loss == .softmaxCrossEntropy
        ? gradient[schedule.logits] : gradient[values.owner[finalValue]]
    }
    return buffers
  }

  /// Phase 6: each stepped layer's operands, with the scratch buffers it asks for in this mode.
  struct Binding {
    var operands: [LayerOperands?]
    var requests: [[ScratchRequest]]
  }

  func bindOperands(_ values: Values, _ buffers: inout Buffers) throws(PlanError) -> Binding {
    let requests = layers.indices.map { index in
      kind(index).scratch(
        batch: options.batch, inputs: layers[index].inputShapes, output: outputs[index],
        training: training)
    }
    for (index, layerRequests) in requests.enumerated() {
      precondition(
        Set(layerRequests.map(\.name)).count == layerRequests.count,
        "\(layers[index].typeName): two scratch requests share a name")
    }
    var operands = [LayerOperands?](repeating: nil, count: layers.count)
    for index in layers.indices where !values.isView[index] && index != foldedSoftmax {
      let wantsInputGradient = training && values.inputs[index].contains(where: needsGradient)
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
          try buffers.builder.add(
            "\(layers[index].name) \(request.name)", .scratch, elements: elements))
      }
      operands[index] = LayerOperands(
        inputs: values.inputs[index].map { buffers.activation[$0] },
        output: buffers.activation[index + 1],
        outputGradient: buffers.gradient[values.owner[index + 1]],
        inputGradients: values.inputs[index].map { buffers.gradient[$0] },
        accumulate: values.inputs[index].map { _ in false }, scratch: scratch,
        scratchNames: requests[index].map(\.name))
    }
    return Binding(operands: operands, requests: requests)
  }

  /// Phase 7: the steps in order with what each reads and writes. Backward steps that meet a
  /// gradient already written (a value read by two layers) accumulate into it.
  func orderSteps(
    _ values: Values, _ schedule: Schedule, _ buffers: Buffers, _ binding: inout Binding
  ) -> [PlanStep] {
    var steps = [PlanStep?](repeating: nil, count: schedule.count)
    for index in layers.indices {
      guard let step = schedule.forward[index], let ops = binding.operands[index] else { continue }
      let forwardScratch = zip(binding.requests[index], ops.scratch)
        .filter { $0.0.lifetime != .backward }.compactMap { $0.1 }
      // A convolution with an add fused into it reads the residual it adds to (its output).
      let residual = fusedAdds.values.contains { $0.convolution == index } ? [ops.output] : []
      steps[step] = PlanStep(
        phase: .forward, layer: index, kernel: kernelName(index, .forward, values),
        reads: ops.inputs + residual, writes: [ops.output] + forwardScratch)
    }
    if let loss = schedule.loss, let labels = buffers.labels {
      steps[loss] = PlanStep(
        phase: .loss, layer: nil, kernel: "softmax cross-entropy",
        reads: [buffers.activation[schedule.logits], labels],
        writes: [buffers.probabilities, buffers.gradient[schedule.logits]].compactMap { $0 })
    }
    var gradientWritten = Set<Int>()
    for index in layers.indices.reversed() {
      guard let step = schedule.backward[index], var ops = binding.operands[index] else {
        continue
      }
      var reads = ops.outputGradient.map { [$0] } ?? []
      if kind(index).backwardReads.contains(.input) { reads += ops.inputs }
      if kind(index).backwardReads.contains(.output) { reads.append(ops.output) }
      var writes: [Int] = []
      for (request, buffer) in zip(binding.requests[index], ops.scratch) {
        guard let buffer else { continue }
        if request.lifetime == .forwardToBackward { reads.append(buffer) }
        if request.lifetime == .backward { writes.append(buffer) }
      }
      for (slot, target) in ops.inputGradients.enumerated() {
        guard let target else { continue }
        ops.accumulate[slot] = !gradientWritten.insert(target).inserted
        writes.append(target)
      }
      binding.operands[index] = ops
      steps[step] = PlanStep(
        phase: .backward, layer: index, kernel: kernelName(index, .backward, values),
        reads: reads, writes: writes)
    }
    return steps.compactMap { $0 }
  }

  /// "conv forward by GEMM": the layer's type, the phase, and the lowering where it has a choice.
  func kernelName(_ index: Int, _ phase: PlanStep.Phase, _ values: Values) -> String {
    let name = "\(layers[index].typeName) \(phase.rawValue)"
    guard
      let lowerings = kind(index).loweringNames(
        batch: options.batch, inputs: layers[index].inputShapes, output: outputs[index],
        training: training, inputGradient: values.inputs[index].contains(where: needsGradient))
    else { return name }
    return name + " " + (phase == .forward ? lowerings.forward : lowerings.backward)
  }

  /// Phase 8: liveness from the steps, then offsets. The caller's buffers live through the
  /// whole plan: the input stays as written (a second forward pass sees the same batch), and
  /// the caller reads the output and the loss gradient afterwards.
  struct Placement: Equatable {
    var arenaBytes: Int
    var naiveBytes: Int
    var lowerBoundBytes: Int
  }

  func placeBuffers(_ steps: [PlanStep], _ buffers: inout Buffers) -> Placement {
    let last = steps.count - 1
    buffers.builder.markLiveness(steps)
    buffers.builder.extend(buffers.activation[0], from: 0, to: last)
    if let labels = buffers.labels { buffers.builder.extend(labels, from: 0, to: last) }
    buffers.builder.extend(buffers.probabilities, from: nil, to: last)
    let records = buffers.builder.buffers.map(\.record)
    let offsets = ArenaPlanner.offsets(for: records, alignment: Planner.alignment)
    for index in offsets.indices { buffers.builder.buffers[index].offset = offsets[index] }
    return Placement(
      arenaBytes: ArenaPlanner.arenaBytes(records, offsets: offsets),
      naiveBytes: records.reduce(0) { $0 + $1.bytes },
      lowerBoundBytes: ArenaPlanner.lowerBound(records))
  }
}
