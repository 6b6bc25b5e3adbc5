// How a layer is written to ONNX and read back, without the protobuf types: CNNCONNX encodes
// and decodes the model, and each layer type says in its own file what node it is
// (`Layer.onnxOperator`) and how it reads the nodes it stands for (`LayerType.onnx`).

/// Why a network could not be exported, or a model imported.
public struct ONNXError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public var description: String { message }

  public init(message: String) { self.message = message }

  /// A problem with one node, named with its operator.
  public static func node(_ name: String, _ operatorType: String, _ text: String) -> ONNXError {
    ONNXError(message: "node '\(name)' (\(operatorType)): \(text)")
  }
}

/// The node a layer exports as.
public struct ONNXOperator: Sendable {
  /// What the node's inputs must be. ONNX tensors are (N, C, H, W), or flat (N, K) after a
  /// dense layer or a flatten.
  public enum Input: Sendable, Equatable {
    case any
    /// (N, C, H, W): a windowed layer cannot read a flat tensor.
    case image
    /// Flat; an image input is flattened first by a `Flatten` node (a dense layer).
    case flat
    /// All of one rank (add, concat).
    case alike
  }

  /// An attribute, as the operator's definition types it.
  public enum Value: Sendable, Equatable {
    case int(Int)
    case ints([Int])
    case float(Float)
  }

  public var type: String
  public var attributes: [(name: String, value: Value)]
  /// The layer's tensors the node reads after its data inputs, by their names in the layer
  /// (`weight`); those the layer does not have (a convolution without bias) are left out.
  public var tensors: [String]
  public var input: Input
  /// The output is flat (N, K) whatever the input was.
  public var outputIsFlat: Bool

  public init(
    _ type: String, _ attributes: [(name: String, value: Value)] = [], tensors: [String] = [],
    input: Input = .any, outputIsFlat: Bool = false
  ) {
    self.type = type
    self.attributes = attributes
    self.tensors = tensors
    self.input = input
    self.outputIsFlat = outputIsFlat
  }
}

/// A tensor's form in ONNX: its rank, and whether its plane is known to be 1×1 (after a global
/// pooling), which is what an axis attribute is relative to.
public struct ONNXForm: Sendable, Equatable {
  public var rank: Int
  public var unitPlane: Bool

  public init(rank: Int, unitPlane: Bool = false) {
    self.rank = rank
    self.unitPlane = unitPlane
  }
}

/// How a layer type reads ONNX nodes: the operators it stands for, and the reading.
public struct ONNXReading: Sendable {
  public let operators: [String]
  private let reading: @Sendable (inout ONNXNodeReader) throws(ONNXError) -> Void

  public init(
    _ operators: [String],
    read: @escaping @Sendable (inout ONNXNodeReader) throws(ONNXError) -> Void
  ) {
    self.operators = operators
    self.reading = read
  }

  /// Reads `node` into its layer's keys and tensors.
  public func read(_ node: inout ONNXNodeReader) throws(ONNXError) { try reading(&node) }

  /// An operator that becomes the layer with no keys and takes no attributes.
  public static func plain(_ operatorType: String) -> ONNXReading {
    ONNXReading([operatorType]) { node throws(ONNXError) in try node.onlyAttributes([]) }
  }
}

/// One ONNX node being read as a layer: its attributes and initializer inputs, and what the
/// layer type makes of them: the spec keys besides `type`, `name` and `input`, its tensors, and
/// how many of the node's inputs are data (the rest are the layer's tensors).
public struct ONNXNodeReader {
  /// An attribute with every field a model may fill; a reader takes the field its meaning
  /// needs, as ONNX Runtime does.
  public struct Attribute: Sendable {
    public var name: String
    public var int: Int
    public var ints: [Int]
    public var float: Float
    public var string: String

    public init(name: String, int: Int, ints: [Int], float: Float, string: String) {
      self.name = name
      self.int = int
      self.ints = ints
      self.float = float
      self.string = string
    }
  }

  public let operatorType: String
  /// The layer's name: its tensors are `<name>.weight` and so on.
  public let layerName: String
  /// The model's ai.onnx opset (Softmax's meaning depends on it).
  public let opset: Int
  /// The form of the node's first input.
  public let inputForm: ONNXForm
  let nodeName: String
  let attributes: [Attribute]
  let inputs: [String]
  let initializers: [String: (dims: [Int], values: [Float])]

  public var keys: [(String, String)] = []
  public var tensors: [String: [Float]] = [:]
  public var dataInputs = 1
  /// The form of the node's output; the input's unless the reading says otherwise.
  public var outputForm: ONNXForm

  public init(
    operatorType: String, nodeName: String, layerName: String, opset: Int, inputForm: ONNXForm,
    attributes: [Attribute], inputs: [String],
    initializers: [String: (dims: [Int], values: [Float])]
  ) {
    self.operatorType = operatorType
    self.nodeName = nodeName
    self.layerName = layerName
    self.opset = opset
    self.inputForm = inputForm
    self.outputForm = inputForm
    self.attributes = attributes
    self.inputs = inputs
    self.initializers = initializers
  }

  /// The node's number of inputs, data and initializers.
  public var inputCount: Int { inputs.count }

  /// An error naming the node and its operator.
  public func problem(_ text: String) -> ONNXError {
    ONNXError.node(nodeName, operatorType, text)
  }

  public func attribute(_ name: String) -> Attribute? { attributes.first { $0.name == name } }

  public func ints(_ name: String, default fallback: [Int]) -> [Int] {
    attribute(name)?.ints ?? fallback
  }

  public func int(_ name: String, default fallback: Int) -> Int { attribute(name)?.int ?? fallback }

  public func float(_ name: String, default fallback: Float) -> Float {
    attribute(name)?.float ?? fallback
  }

  /// Refuses every attribute but `known`.
  public func onlyAttributes(_ known: Set<String>) throws(ONNXError) {
    for attribute in attributes where !known.contains(attribute.name) {
      throw problem("attribute '\(attribute.name)' has no cnnc equivalent")
    }
  }

  /// Refuses dilations other than 1, which no cnnc layer has.
  public func noDilation() throws(ONNXError) {
    guard ints("dilations", default: [1, 1]).allSatisfy({ $0 == 1 }) else {
      throw problem("attribute 'dilations' other than 1 is not supported")
    }
  }

  /// A (height, width) key: one number when both are equal; nil when it is the default.
  public func pair(_ values: [Int], _ name: String, default fallback: Int?) throws(ONNXError)
    -> String?
  {
    guard values.count == 2 else {
      throw problem("attribute '\(name)' has \(values.count) values; cnnc layers are 2-D")
    }
    if values[0] == values[1] {
      return values[0] == fallback ? nil : String(values[0])
    }
    return "[\(values[0]), \(values[1])]"
  }

  /// ONNX pads are (top, left, bottom, right); cnnc pads both sides alike.
  public func symmetricPads() throws(ONNXError) -> [Int] {
    let pads = ints("pads", default: [0, 0, 0, 0])
    guard pads.count == 4, pads[0] == pads[2], pads[1] == pads[3] else {
      throw problem("attribute 'pads' \(pads) pads the two sides unequally")
    }
    if let auto = attribute("auto_pad"), !["", "NOTSET"].contains(auto.string) {
      throw problem("attribute 'auto_pad' \(auto.string) is not supported; give pads")
    }
    return [pads[0], pads[1]]
  }

  /// The initializer the node reads as input `index`; nil when the input is absent.
  public func weight(_ index: Int) throws(ONNXError) -> (dims: [Int], values: [Float])? {
    guard index < inputs.count, !inputs[index].isEmpty else { return nil }
    guard let tensor = initializers[inputs[index]] else {
      throw problem("input \(index) ('\(inputs[index])') must be an initializer")
    }
    return tensor
  }
}
