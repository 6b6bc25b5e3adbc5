/// The element-wise sum of its inputs, which must all have one shape.
public struct Add: Layer {
  public init() {}

  public static let type = LayerType(name: "add", keys: [], arity: .twoOrMore) { _ in Add() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    for (index, shape) in inputs.enumerated() where shape != inputs[0] {
      check.error(
        "'\(check.inputNames[index])' is \(shape) but '\(check.inputNames[0])' is \(inputs[0]); "
          + "all shapes must be equal to add")
      return nil
    }
    return inputs[0]
  }
}
