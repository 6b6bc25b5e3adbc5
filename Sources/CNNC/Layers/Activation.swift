/// Element-wise activations: the output has the input's shape.
public struct Activation: Layer {
  /// The spec's `relu`, `sigmoid`, `tanh` and `leaky_relu` (with its `slope`).
  public enum Function: Sendable, Equatable {
    case relu
    case sigmoid
    case tanh
    case leakyReLU(slope: Float)
  }

  public var function: Function
  /// A ReLU applied by the layer before it (`ReLUFusion`): a view of that layer's output, with
  /// no step of its own.
  public var isFused = false

  public init(_ function: Function) { self.function = function }

  public static let reluType = LayerType(name: "relu", keys: [], onnx: .plain("Relu")) { _ in
    Activation(.relu)
  }
  public static let sigmoidType = LayerType(name: "sigmoid", keys: [], onnx: .plain("Sigmoid")) {
    _ in Activation(.sigmoid)
  }
  public static let tanhType = LayerType(name: "tanh", keys: [], onnx: .plain("Tanh")) { _ in
    Activation(.tanh)
  }
  public static let leakyReLUType = LayerType(
    name: "leaky_relu", keys: ["slope"],
    onnx: ONNXReading(["LeakyRelu"]) { node throws(ONNXError) in
      try node.onlyAttributes(["alpha"])
      node.keys.append(("slope", "\(node.float("alpha", default: 0.01))"))
    }
  ) { keys in
    let slope = keys.number("slope", default: 0.01, requirement: "a finite number") { _ in true }
    return Activation(.leakyReLU(slope: Float(slope)))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }

  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    switch function {
    case .relu: ONNXOperator("Relu")
    case .sigmoid: ONNXOperator("Sigmoid")
    case .tanh: ONNXOperator("Tanh")
    case .leakyReLU(let slope): ONNXOperator("LeakyRelu", [("alpha", .float(slope))])
    }
  }
}

extension Activation {
  public var backwardReads: BackwardReads {
    if case .leakyReLU = function { return .input }
    return .output
  }

  /// ReLU, sigmoid and tanh differentiate from their output, so they may overwrite the input.
  public var mayRunInPlace: Bool { backwardReads == .output }
  public func isView(training: Bool) -> Bool { isFused }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let (x, y, count, isa) = (b.inputs[0], b.output, b.batch * b.inputCount, b.isa)
    switch function {
    case .relu: return { reluForward(isa, x, y, count: count) }
    case .sigmoid: return { sigmoidForward(x, y, count: count) }
    case .tanh: return { tanhForward(x, y, count: count) }
    case .leakyReLU(let slope): return { leakyReLUForward(x, y, slope: slope, count: count) }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    guard let dx = b.inputGradients[0], let dy = b.outputGradient else { return {} }
    let (x, y, count, accumulate) = (b.inputs[0], b.output, b.batch * b.inputCount, b.accumulate[0])
    let isa = b.isa
    switch function {
    case .relu: return { reluBackward(isa, y, dy, dx, count: count, accumulate: accumulate) }
    case .sigmoid: return { sigmoidBackward(y, dy, dx, count: count, accumulate: accumulate) }
    case .tanh: return { tanhBackward(y, dy, dx, count: count, accumulate: accumulate) }
    case .leakyReLU(let slope):
      return { leakyReLUBackward(x, dy, dx, slope: slope, count: count, accumulate: accumulate) }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Activation {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    .activation(function)
  }
}
