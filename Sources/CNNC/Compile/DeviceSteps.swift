/// The trained tensors of a network, by layer and name, from its parameter storage.
struct ParameterValues {
  private let slots: [String: ParameterSlot]
  private let storage: [Float]

  init(_ network: InferredNetwork, _ storage: [Float]) throws(CompileError) {
    let layout: (slots: [ParameterSlot], floats: Int)
    do {
      layout = try network.parameterLayout()
    } catch {
      throw CompileError(error.message)
    }
    guard storage.count == layout.floats else {
      throw CompileError(
        "\(storage.count) parameter values given; the network lays out \(layout.floats)")
    }
    slots = Dictionary(layout.slots.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    self.storage = storage
  }

  /// The values of `<layer>.<name>`.
  func tensor(_ layer: String, _ name: String) throws(CompileError) -> [Float] {
    guard let slot = slots["\(layer).\(name)"] else {
      throw CompileError("the network has no parameter '\(layer).\(name)'")
    }
    return Array(storage[slot.range])
  }
}

extension DevicePlan {
  /// Computing layer `index`'s step: what it does and its constants, with what the graph
  /// fused into it.
  static func operation(of index: Int, _ graph: DeviceGraph, _ values: ParameterValues)
    throws(CompileError) -> (Operation, [Constant])
  {
    let layer = graph.network.layers[index]
    let input = layer.inputShapes[0]
    let output = layer.output ?? input
    var constants: [Constant] = []
    let operation: Operation
    switch graph.operations[index] {
    case .convolution(let window, let filters, let groups, let hasBias):
      var weight = try values.tensor(layer.name, "weight")
      var bias = hasBias ? try values.tensor(layer.name, "bias") : nil
      if let folded = graph.foldedBatchNorm[index],
        case .batchNorm(let epsilon) = graph.operations[folded]
      {
        let normalisation = try BatchNormValues(graph.network.layers[folded].name, values)
        let perFilter = weight.count / filters
        var foldedBias = [Float](repeating: 0, count: filters)
        // The executor's folding (`Convolution.foldedForward`), operation for operation.
        for f in 0..<filters {
          let scale = normalisation.scale(f, epsilon: epsilon)
          for i in (f * perFilter)..<((f + 1) * perFilter) { weight[i] *= scale }
          foldedBias[f] =
            ((bias?[f] ?? 0) - normalisation.mean[f]) * scale + normalisation.beta[f]
        }
        bias = foldedBias
      }
      constants = [Constant(role: "weight", values: weight)]
      if let bias { constants.append(Constant(role: "bias", values: bias)) }
      let pooling = graph.pooling[index].flatMap { pooling -> FusedPooling? in
        guard case .pooling(let kind, let window) = graph.operations[pooling] else { return nil }
        return FusedPooling(kind: kind, window: window, layer: pooling)
      }
      operation = .convolution(
        window, filters: filters, groups: groups, activation: graph.activation[index],
        pooling: pooling)
    case .pooling(let kind, let window):
      operation = .pooling(kind, window)
    case .globalAveragePooling:
      operation = .globalAveragePooling(
        channels: input.channels, plane: input.height * input.width)
    case .dense(let units, let hasBias):
      constants = [Constant(role: "weight", values: try values.tensor(layer.name, "weight"))]
      if hasBias {
        constants.append(Constant(role: "bias", values: try values.tensor(layer.name, "bias")))
      }
      operation = .dense(
        inputs: input.elementCount ?? 0, units: units, activation: graph.activation[index])
    case .batchNorm(let epsilon):
      let normalisation = try BatchNormValues(layer.name, values)
      // The executor's inference batchnorm (`BatchNorm`'s forward kernel), per channel.
      let scales = (0..<input.channels).map { normalisation.scale($0, epsilon: epsilon) }
      let shifts = (0..<input.channels).map {
        normalisation.beta[$0] - normalisation.mean[$0] * scales[$0]
      }
      constants = [
        Constant(role: "scale", values: scales), Constant(role: "shift", values: shifts),
      ]
      operation = .affine(channels: input.channels, plane: input.height * input.width)
    case .activation(let function):
      operation = .activation(function, count: output.elementCount ?? 0)
    case .softmax:
      operation = .softmax(channels: input.channels, plane: input.height * input.width)
    case .concat:
      operation = .concat
    case .add:
      operation = .add(count: output.elementCount ?? 0)
    case .view:
      operation = .copy(count: output.elementCount ?? 0)
    }
    for constant in constants {
      if let at = constant.values.firstIndex(where: { !$0.isFinite }) {
        throw CompileError(
          "\(layer.spec.subject): its \(constant.role)[\(at)] is \(constant.values[at]), which "
            + "C has no literal for; the checkpoint's values must be finite")
      }
    }
    return (operation, constants)
  }
}

/// A batchnorm's trained tensors.
private struct BatchNormValues {
  var gamma: [Float]
  var beta: [Float]
  var mean: [Float]
  var variance: [Float]

  init(_ layer: String, _ values: ParameterValues) throws(CompileError) {
    gamma = try values.tensor(layer, "weight")
    beta = try values.tensor(layer, "bias")
    mean = try values.tensor(layer, "running_mean")
    variance = try values.tensor(layer, "running_var")
  }

  /// γ / √(running variance + ε) for channel `c`.
  func scale(_ c: Int, epsilon: Float) -> Float {
    gamma[c] / (variance[c] + epsilon).squareRoot()
  }
}
