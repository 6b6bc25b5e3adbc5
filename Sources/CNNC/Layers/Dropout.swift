/// Zeroes each element with probability `rate` in training, scaling survivors by 1/(1 − rate).
public struct Dropout: Layer {
  public var rate: Float

  public init(rate: Float) { self.rate = rate }

  public static let type = LayerType(name: "dropout", keys: ["rate"]) { keys in
    let rate = keys.number("rate", requirement: "in [0, 1)") { $0 >= 0 && $0 < 1 }
    return Dropout(rate: Float(rate))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }
}
