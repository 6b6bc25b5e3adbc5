/// One layer type's behaviour: its shape rule, its learned tensors and its cost.
///
/// Each layer type lives in its own file under Layers/ and joins `LayerRegistry.types`.
public protocol Layer: LayerLowering, Sendable {
  /// The output shape for these input shapes; mismatches are reported to `check`.
  func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape?

  /// Learned tensors, named and shaped as PyTorch names and lays them out.
  func parameters(for inputs: [Shape]) -> [ParameterTensor]

  /// Multiply-adds per sample (FLOPs are twice this); nil on 64-bit overflow.
  func multiplyAdds(for inputs: [Shape], output: Shape) -> Int?
}

extension Layer {
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] { [] }
  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? { 0 }
}

/// A learned tensor, e.g. conv weight `[out, in, kh, kw]`.
public struct ParameterTensor: Hashable, Sendable {
  public var name: String
  public var dimensions: [Int]

  public var elementCount: Int? { checkedProduct(dimensions) }
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
  /// Reads the type's keys; errors go to the reader's diagnostics.
  public let read: @Sendable (inout KeyReader) -> any Layer

  public init(
    name: String, keys: [String], arity: InputArity = .one,
    read: @escaping @Sendable (inout KeyReader) -> any Layer
  ) {
    self.name = name
    self.keys = keys
    self.arity = arity
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
