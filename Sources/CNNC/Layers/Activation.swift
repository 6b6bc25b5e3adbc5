/// Element-wise activations: the output has the input's shape.
public struct Activation: Layer {
  public enum Function: Sendable, Equatable {
    case relu
    case sigmoid
    case tanh
    case leakyReLU(slope: Float)
  }

  public var function: Function

  public init(_ function: Function) { self.function = function }

  public static let reluType = LayerType(name: "relu", keys: []) { _ in Activation(.relu) }
  public static let sigmoidType = LayerType(name: "sigmoid", keys: []) { _ in Activation(.sigmoid) }
  public static let tanhType = LayerType(name: "tanh", keys: []) { _ in Activation(.tanh) }
  public static let leakyReLUType = LayerType(name: "leaky_relu", keys: ["slope"]) { keys in
    let slope = keys.number("slope", default: 0.01, requirement: "a finite number") { _ in true }
    return Activation(.leakyReLU(slope: Float(slope)))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }
}
