/// The network's layers as `DevicePlan` fuses them: which layers are views of another's value,
/// and what each computing layer takes into its own step.
struct DeviceGraph {
  let network: InferredNetwork
  /// Each layer's code-generation rule.
  let operations: [DeviceOperation]
  /// Whether the layer's value is another's (`viewOf`; nil there: the network's input).
  private(set) var isView: [Bool]
  private(set) var viewOf: [Int?]
  /// The value a computing layer's step writes (a fused pooling's, where there is one).
  private(set) var outputShape: [Shape]
  /// The layers a computing layer's step computes, itself first.
  private(set) var stepLayers: [[Int]]
  /// The layer whose output a computing layer's buffer holds (its own, or its pooling's).
  private(set) var namingLayer: [Int]
  /// By convolution: the batchnorm folded into it, and the pooling computed from its rows.
  private(set) var foldedBatchNorm: [Int: Int] = [:]
  private(set) var pooling: [Int: Int] = [:]
  /// By convolution or dense layer: the activation applied as it stores.
  private(set) var activation: [Int: Activation.Function] = [:]

  init(_ network: InferredNetwork) throws(CompileError) {
    self.network = network
    var operations: [DeviceOperation] = []
    var shapes: [Shape] = []
    for layer in network.layers {
      guard let output = layer.output else {
        throw CompileError("\(layer.spec.subject): its shape could not be inferred")
      }
      guard
        let operation = layer.spec.layer?.deviceOperation(
          inputs: layer.inputShapes, output: output)
      else {
        throw CompileError(
          "\(layer.spec.subject): cnnc compile has no C for '\(layer.typeName)' layers yet")
      }
      for shape in layer.inputShapes + [output] {
        guard let count = shape.elementCount, count <= Int(Int32.max) else {
          throw CompileError(
            "\(layer.spec.subject): a tensor of \(shape) is too large for the C code's int indices")
        }
      }
      operations.append(operation)
      shapes.append(output)
    }
    self.operations = operations
    isView = operations.map { if case .view = $0 { true } else { false } }
    viewOf = network.layers.map { layer in
      if case .layer(let source) = layer.inputs[0] { source } else { nil }
    }
    outputShape = shapes
    stepLayers = network.layers.indices.map { [$0] }
    namingLayer = Array(network.layers.indices)
  }

  /// The computing layer whose value `input` is, through views; nil: the network's input.
  func root(of input: LayerInput) -> Int? {
    guard case .layer(var index) = input else { return nil }
    while isView[index] {
      guard let next = viewOf[index] else { return nil }
      index = next
    }
    return index
  }

  /// For each value (a computing layer's index; -1: the network's input), how many computing
  /// layers read it, the network's output counting as one more.
  func readers() -> [Int: Int] {
    var counts: [Int: Int] = [:]
    for (index, layer) in network.layers.enumerated() where !isView[index] {
      for input in layer.inputs { counts[root(of: input) ?? -1, default: 0] += 1 }
    }
    counts[root(of: .layer(network.layers.count - 1)) ?? -1, default: 0] += 1
    return counts
  }

  /// Folds batchnorms, then activations, then poolings into the steps before them (see
  /// `DevicePlan`), each where nothing else reads the value it would hide.
  mutating func fuse() {
    let layers = network.layers
    let direct = network.readerCounts
    for (index, layer) in layers.enumerated() {
      guard case .batchNorm = operations[index], layer.inputs.count == 1,
        case .layer(let source) = layer.inputs[0], !isView[source], direct[source] == 1,
        case .convolution = operations[source]
      else { continue }
      foldedBatchNorm[source] = index
      absorb(index, into: source)
    }
    var counts = readers()
    for (index, layer) in layers.enumerated() where !isView[index] {
      guard case .activation(let function) = operations[index],
        let source = root(of: layer.inputs[0]), counts[source] == 1, activation[source] == nil
      else { continue }
      switch operations[source] {
      case .convolution, .dense:
        activation[source] = function
        absorb(index, into: source)
        counts[source] = counts[index]
      default: continue
      }
    }
    counts = readers()
    for (index, layer) in layers.enumerated() where !isView[index] {
      guard case .pooling = operations[index], let source = root(of: layer.inputs[0]),
        counts[source] == 1, case .convolution = operations[source], pooling[source] == nil,
        layer.inputShapes[0] == outputShape[source]
      else { continue }
      pooling[source] = index
      absorb(index, into: source)
      counts[source] = counts[index]
      outputShape[source] = outputShape[index]
      namingLayer[source] = index
    }
  }

  /// Makes `layer` a view of `source`'s value, computed by `source`'s step.
  private mutating func absorb(_ layer: Int, into source: Int) {
    isView[layer] = true
    viewOf[layer] = source
    stepLayers[source].append(layer)
  }
}
