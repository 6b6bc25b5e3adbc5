/// A fully connected layer; its input is flattened in channel, row, column order.
public struct Dense: Layer {
  public var units: Int
  public var hasBias: Bool

  public init(units: Int, hasBias: Bool = true) {
    self.units = units
    self.hasBias = hasBias
  }

  public static let type = LayerType(name: "dense", keys: ["units", "bias"]) { keys in
    Dense(units: keys.positive("units"), hasBias: keys.boolean("bias", default: true))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    Shape(channels: units, height: 1, width: 1)
  }

  /// Weight `[units, inputs]`, PyTorch's `nn.Linear` layout.
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] {
    let weight = ParameterTensor(name: "weight", dimensions: [units, inputs[0].elementCount ?? 0])
    return hasBias ? [weight, ParameterTensor(name: "bias", dimensions: [units])] : [weight]
  }

  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? {
    inputs[0].elementCount.flatMap { checkedProduct([$0, units]) }
  }
}
