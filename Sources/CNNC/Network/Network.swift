/// The network as cnnc's passes see it: the spec's layers with their inputs resolved and every
/// shape, parameter tensor and cost inferred (`ShapeInference`, run by `SpecChecker`), and the
/// layout of the parameters in one storage, which checkpoints, plans, optimizers, ONNX export
/// and import share.

/// Where a layer's input comes from.
public enum LayerInput: Hashable, Sendable {
  case networkInput
  case layer(Int)
}

/// A layer with everything shape inference worked out for it.
public struct InferredLayer: Sendable {
  public var spec: LayerSpec
  public var inputs: [LayerInput]
  public var inputShapes: [Shape]
  /// Nil where the layer or one of its inputs had an error.
  public var output: Shape?
  public var parameters: [ParameterTensor]
  /// Elements of its learned tensors (state such as running statistics is not counted, as in
  /// PyTorch's `parameters()`).
  public var parameterCount: Int?
  /// 2 × multiply-adds per sample.
  public var flops: Int?

  public var name: String { spec.name }
  public var typeName: String { spec.typeName }
}

/// A network whose every layer shape has been inferred (as far as the spec allowed).
public struct InferredNetwork: Sendable {
  public var name: String
  public var input: Shape
  /// Where `input:` is written in the spec.
  public var inputLocation = SourceLocation(line: 1, column: 1)
  public var layers: [InferredLayer]
  public var train: TrainSpec?

  public var parameterCount: Int? { checkedSum(layers.compactMap(\.parameterCount)) }
  public var flops: Int? { checkedSum(layers.compactMap(\.flops)) }

  /// The layer called `name`.
  public func layer(named name: String) -> InferredLayer? { layers.first { $0.name == name } }
}

extension InferredNetwork {
  /// Parses and checks a spec given as a string; throws when it has any error.
  public init(yaml: String, name: String = "network") throws(SpecError) {
    let result = SpecChecker.check(Array(yaml.utf8), name: name)
    guard result.isValid, let network = result.network else {
      throw SpecError(diagnostics: result.diagnostics.errors)
    }
    self = network
  }
}

extension InferredNetwork {
  /// For each layer, how many layer inputs name it (an add reading a layer twice counts twice).
  var readerCounts: [Int] {
    var readers = [Int](repeating: 0, count: layers.count)
    for layer in layers {
      for case .layer(let source) in layer.inputs { readers[source] += 1 }
    }
    return readers
  }
}

/// A layer tensor's place in the parameter storage.
public struct ParameterSlot: Sendable {
  /// "<layer>.<tensor>", e.g. "conv1.weight".
  public var name: String
  public var layer: Int
  public var dimensions: [Int]
  public var initializer: ParameterTensor.Initializer
  public var role: ParameterTensor.Role
  public var elementType: ParameterTensor.ElementType
  /// In floats from the start of the storage.
  public var offset: Int
  /// Floats of storage (two per int64 element).
  public var count: Int

  public var range: Range<Int> { offset..<offset + count }
}

extension InferredNetwork {
  /// Each layer tensor's place in one parameter storage, 16-float aligned, and the storage's
  /// size in floats. It depends on the layers alone: a plan of any mode or batch, a checkpoint
  /// and an ONNX model of the network lay their parameters out alike.
  public func parameterLayout() throws(PlanError) -> (slots: [ParameterSlot], floats: Int) {
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
