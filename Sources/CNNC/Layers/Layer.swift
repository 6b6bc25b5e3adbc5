/// One layer type's behaviour: its shape rule, its learned tensors, its cost and its ONNX node.
///
/// Each layer type lives in its own file under Layers/ and joins `LayerRegistry.types`.
public protocol Layer: LayerLowering, Sendable {
  /// The output shape for these input shapes; mismatches are reported to `check`.
  func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape?

  /// Its tensors, learned and state, named and shaped as PyTorch names and lays them out.
  func parameters(for inputs: [Shape]) -> [ParameterTensor]

  /// A softmax over the class scores: it must be the last layer, and training with softmax
  /// cross-entropy folds it into the loss.
  var isClassSoftmax: Bool { get }

  /// Multiply-adds per sample (FLOPs are twice this); nil on 64-bit overflow.
  func multiplyAdds(for inputs: [Shape], output: Shape) -> Int?

  /// The ONNX node it exports as, reading `inputCount` data inputs (inference form).
  func onnxOperator(inputCount: Int) -> ONNXOperator

  /// Its code-generation rule: what it computes for one image in `cnnc compile`'s C; nil for a
  /// type the code generator does not have yet.
  func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation?
}

extension Layer {
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] { [] }
  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? { 0 }
  public var isClassSoftmax: Bool { false }
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { nil }
}

/// A tensor a layer keeps between steps, e.g. conv weight `[out, in, kh, kw]`: how it starts,
/// whether the optimizer moves it, and its name in checkpoints (`<layer>.<name>`).
public struct ParameterTensor: Hashable, Sendable {
  /// How an executor fills the tensor before training (or loading a checkpoint).
  public enum Initializer: Hashable, Sendable {
    /// The run's `weight_init` scheme, from the fans of `[out, in, kernel...]`.
    case fans
    case zeros
    case ones
  }

  /// Who updates the tensor.
  public enum Role: Hashable, Sendable {
    /// Has a gradient; the optimizer and weight decay update it.
    case learned
    /// Saved and restored, never given to the optimizer; the layer's own kernels update it
    /// (batchnorm's running statistics).
    case state
  }

  /// Its element type in checkpoints (and in the parameter storage: an int64 takes two floats'
  /// room, its bits kept as they are).
  public enum ElementType: Hashable, Sendable {
    case float32
    case int64
  }

  public var name: String
  public var dimensions: [Int]
  public var initializer: Initializer
  public var role: Role
  public var elementType: ElementType

  public init(
    name: String, dimensions: [Int], initializer: Initializer, role: Role = .learned,
    elementType: ElementType = .float32
  ) {
    self.name = name
    self.dimensions = dimensions
    self.initializer = initializer
    self.role = role
    self.elementType = elementType
  }

  public var elementCount: Int? { checkedProduct(dimensions) }

  /// The floats of parameter storage it takes.
  public var floatCount: Int? {
    elementCount.flatMap { checkedProduct([$0, elementType == .int64 ? 2 : 1]) }
  }
}

/// How many inputs a layer type takes.
public enum InputArity: Sendable {
  case one
  case twoOrMore
}

/// A layer type as the spec language knows it: its word, its keys and how to read them.
public struct LayerType: Sendable {
  public let name: String
  /// Keys besides `type`, `name` and `input`.
  public let keys: [String]
  public let arity: InputArity
  /// The ONNX operators it imports from, and how.
  public let onnx: ONNXReading
  /// Reads the type's keys; errors go to the reader's diagnostics.
  let read: @Sendable (inout KeyReader) -> any Layer

  init(
    name: String, keys: [String], arity: InputArity = .one, onnx: ONNXReading,
    read: @escaping @Sendable (inout KeyReader) -> any Layer
  ) {
    self.name = name
    self.keys = keys
    self.arity = arity
    self.onnx = onnx
    self.read = read
  }
}

/// Every layer type, in the order the reference lists them. A new layer joins here.
public enum LayerRegistry {
  public static let types: [LayerType] = [
    Convolution.type,
    Pooling.maxType,
    Pooling.averageType,
    GlobalAveragePooling.type,
    Dense.type,
    BatchNorm.type,
    Flatten.type,
    Activation.reluType,
    Activation.sigmoidType,
    Activation.tanhType,
    Activation.leakyReLUType,
    Dropout.type,
    Softmax.type,
    Concat.type,
    Add.type,
  ]

  public static func type(named name: String) -> LayerType? {
    types.first { $0.name == name }
  }

  /// The layer type an ONNX operator imports as.
  public static func type(forONNXOperator operatorType: String) -> LayerType? {
    types.first { $0.onnx.operators.contains(operatorType) }
  }
}

/// Where a layer reports shape problems while its output shape is inferred.
public struct ShapeCheck {
  /// e.g. "conv 'c3'"
  public let subject: String
  public let location: SourceLocation
  /// The names of the layer's inputs, in order, for messages about them.
  public let inputNames: [String]
  public var diagnostics = DiagnosticList()

  public mutating func error(_ message: String) {
    diagnostics.error("\(subject): \(message)", at: location)
  }

  public mutating func warning(_ message: String) {
    diagnostics.warning("\(subject): \(message)", at: location)
  }
}
