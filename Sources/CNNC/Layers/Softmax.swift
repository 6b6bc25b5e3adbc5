/// Softmax over the channels; only as the last layer, where training folds it into the loss.
public struct Softmax: Layer {
  public init() {}

  public static let type = LayerType(name: "softmax", keys: []) { _ in Softmax() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }
}
