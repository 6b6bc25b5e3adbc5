/// The first phases of a lowering: which value holds each layer's data, which steps run in what
/// order, whether the network can train, and which values share a buffer.
extension Lowering {
  /// Phase 1: views (flatten, inference dropout) share their input's value.
  struct Values: Equatable {
    /// `owner[v]`: the value whose data v is (v itself unless v is a view's output).
    var owner: [Int]
    /// Each layer's input values, views looked through.
    var inputs: [[Int]]
    var isView: [Bool]
  }

  func resolveValues() -> Values {
    var values = Values(owner: Array(0...layers.count), inputs: [], isView: [])
    for (index, spec) in layers.enumerated() {
      let view = kind(index).isView(training: training)
      values.isView.append(view)
      values.inputs.append(
        spec.inputs.map { input in
          switch input {
          case .networkInput: return values.owner[0]
          case .layer(let source): return values.owner[source + 1]
          }
        })
      if view { values.owner[index + 1] = values.inputs[index][kind(index).viewedInput] }
    }
    return values
  }

  /// Phase 2: step numbers. Forward steps in layer order, then the loss, then backward steps
  /// in reverse; a view has no step, nor has the softmax the loss absorbs, nor a backward that
  /// would have nothing to compute.
  struct Schedule: Equatable {
    var forward: [Int?]
    var backward: [Int?]
    var loss: Int?
    var count: Int
    /// The value the loss reads: the folded softmax's input, else the final output.
    var logits: Int
  }

  func scheduleSteps(_ values: Values) -> Schedule {
    let hasForward = layers.indices.map { !values.isView[$0] && $0 != foldedSoftmax }
    let hasBackward = layers.indices.map { index in
      training && hasForward[index]
        && (layers[index].parameters.contains { $0.role == .learned }
          || values.inputs[index].contains(where: needsGradient))
    }
    var schedule = Schedule(
      forward: Array(repeating: nil, count: layers.count),
      backward: Array(repeating: nil, count: layers.count), loss: nil, count: 0,
      logits: foldedSoftmax.map { values.inputs[$0][0] } ?? values.owner[finalValue])
    for index in layers.indices where hasForward[index] {
      schedule.forward[index] = schedule.count
      schedule.count += 1
    }
    if training && options.loss == .softmaxCrossEntropy {
      schedule.loss = schedule.count
      schedule.count += 1
    }
    for index in layers.indices.reversed() where hasBackward[index] {
      schedule.backward[index] = schedule.count
      schedule.count += 1
    }
    return schedule
  }

  /// Phase 3 (training only): every branch must reach the loss, the loss needs class scores,
  /// and each layer may refuse the batch (batchnorm with one value per channel).
  func checkTrainable(_ values: Values, _ schedule: Schedule) throws(PlanError) {
    var consumed = Set(values.inputs.joined())
    consumed.insert(values.owner[finalValue])
    for index in layers.indices where !consumed.contains(values.owner[index + 1]) {
      throw PlanError(
        message: "\(layers[index].spec.subject): its output reaches no later layer; "
          + "training needs every branch to lead to the last layer")
    }
    let scores = shape(ofValue: schedule.logits)
    if options.loss == .softmaxCrossEntropy, scores.height != 1 || scores.width != 1 {
      throw PlanError(
        message: "training with softmax cross-entropy needs class scores of shape K×1×1, "
          + "but the last layer gives \(scores)")
    }
    for index in layers.indices where schedule.forward[index] != nil {
      if let problem = kind(index).trainingProblem(
        batch: options.batch, inputs: layers[index].inputShapes)
      {
        throw PlanError(message: "\(layers[index].spec.subject): \(problem)")
      }
    }
  }

  /// Phase 4: `result[v]` is the value whose buffer holds v's data (it only ever points back).
  /// Views share their input's; a layer that may run in place writes over an input that
  /// nothing reads after it (never over the network's input, which the caller owns); a
  /// convolution with an add fused into it writes into the residual's buffer.
  func shareBuffers(_ values: Values, _ schedule: Schedule) -> [Int] {
    let lastRead = lastReads(values, schedule)
    var bufferOwner = values.owner
    for index in layers.indices {
      let input = values.inputs[index][0]
      guard let step = schedule.forward[index], kind(index).mayRunInPlace, input != 0,
        lastRead[input] == step
      else { continue }
      bufferOwner[index + 1] = bufferOwner[input]
    }
    // In layer order, so a residual that an earlier fusion wrote into already has its owner.
    for fusion in fusedAdds.values.sorted(by: { $0.convolution < $1.convolution }) {
      bufferOwner[fusion.convolution + 1] = bufferOwner[values.owner[fusion.residual + 1]]
    }
    for value in bufferOwner.indices { bufferOwner[value] = bufferOwner[values.owner[value]] }
    return bufferOwner
  }

  /// The last step that reads each value (-1 for none).
  func lastReads(_ values: Values, _ schedule: Schedule) -> [Int] {
    var lastRead = [Int](repeating: -1, count: layers.count + 1)
    func read(_ value: Int, at step: Int?) {
      if let step { lastRead[value] = max(lastRead[value], step) }
    }
    for index in layers.indices {
      for value in values.inputs[index] {
        read(value, at: schedule.forward[index])
        if kind(index).backwardReads.contains(.input) { read(value, at: schedule.backward[index]) }
      }
      if kind(index).backwardReads.contains(.output) {
        read(values.owner[index + 1], at: schedule.backward[index])
      }
    }
    // A convolution with an add fused into it reads the residual as it adds to it.
    for fusion in fusedAdds.values {
      read(values.owner[fusion.residual + 1], at: schedule.forward[fusion.convolution])
    }
    read(schedule.logits, at: schedule.loss)
    read(values.owner[finalValue], at: schedule.count - 1)
    return lastRead
  }
}
