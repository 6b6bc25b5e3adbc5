/// Reshapes c×h×w to (c·h·w)×1×1 in channel, row, column order; a view, no copy.
public struct Flatten: Layer {
  public init() {}

  public static let type = LayerType(
    name: "flatten", keys: [],
    onnx: ONNXReading(["Flatten"]) { node throws(ONNXError) in
      try node.onlyAttributes(["axis"])
      guard node.int("axis", default: 1) == 1 else {
        throw node.problem("attribute 'axis' must be 1 (flatten all but the batch)")
      }
      node.outputForm = ONNXForm(rank: 2)
    }
  ) { _ in Flatten() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    guard let count = inputs[0].elementCount else { return nil }
    return Shape(channels: count, height: 1, width: 1)
  }

  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator("Flatten", [("axis", .int(1))], outputIsFlat: true)
  }
}

extension Flatten {
  /// The (c, h, w) layout already is the flattened order, so the output is the input's buffer.
  public func isView(training: Bool) -> Bool { true }
  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel { {} }
  public func backwardKernel(_ b: LayerBinding) -> Kernel { {} }
}

// MARK: Code generation (`cnnc compile`)

extension Flatten {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { .view }
}
