/// Softmax over the channels; only as the last layer, where training folds it into the loss.
public struct Softmax: Layer {
  public init() {}

  public static let type = LayerType(
    name: "softmax", keys: [],
    onnx: ONNXReading(["Softmax"]) { node throws(ONNXError) in
      try node.onlyAttributes(["axis"])
      try checkAxis(node)
    }
  ) { _ in Softmax() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }

  public var isClassSoftmax: Bool { true }

  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator("Softmax", [("axis", .int(1))])
  }

  /// cnnc's softmax is over the channels at each position. From opset 13, ONNX's is over one
  /// axis (default −1, the last: a 4-D tensor's width); before, over every dimension from `axis`
  /// on (default 1) taken together, which is the channels alone only when nothing follows them
  /// (a 2-D tensor, or a 1×1 plane after global pooling).
  static func checkAxis(_ node: ONNXNodeReader) throws(ONNXError) {
    let (form, opset) = (node.inputForm, node.opset)
    let axis = node.int("axis", default: opset >= 13 ? -1 : 1)
    let normalized = axis < 0 ? axis + form.rank : axis
    let overChannels =
      opset >= 13 ? normalized == 1 : normalized == 1 && (form.rank == 2 || form.unitPlane)
    guard !overChannels else { return }
    let meaning =
      opset >= 13
      ? "axis \(axis) of its \(form.rank)-D input (opset \(opset))"
      : "every dimension from axis \(axis) on of its \(form.rank)-D input together (opset "
        + "\(opset) flattens them)"
    throw node.problem(
      "it is a softmax over \(meaning); cnnc's softmax is over the channels (axis 1) at each "
        + "position")
  }
}

extension Softmax {
  public var backwardReads: BackwardReads { .output }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let s = b.outputShape
    let (x, y, batch) = (b.inputs[0], b.output, b.batch)
    return { softmaxForward(x, y, samples: batch, channels: s.channels, plane: s.height * s.width) }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    guard let dx = b.inputGradients[0], let dy = b.outputGradient else { return {} }
    let s = b.outputShape
    let (y, batch, accumulate) = (b.output, b.batch, b.accumulate[0])
    return {
      softmaxBackward(
        y, dy, dx, samples: batch, channels: s.channels, plane: s.height * s.width,
        accumulate: accumulate)
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Softmax {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { .softmax }
}
