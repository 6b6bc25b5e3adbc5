/// Zeroes each element with probability `rate` in training, scaling survivors by 1/(1 − rate).
public struct Dropout: Layer {
  public var rate: Float

  public init(rate: Float) { self.rate = rate }

  public static let type = LayerType(
    name: "dropout", keys: ["rate"],
    onnx: ONNXReading(["Dropout"]) { node throws(ONNXError) in
      try node.onlyAttributes(["seed"])
      let rate = try node.weight(1)?.values.first ?? 0.5
      node.keys.append(("rate", "\(rate)"))
    }
  ) { keys in
    let rate = keys.number("rate", requirement: "in [0, 1)") { $0 >= 0 && $0 < 1 }
    return Dropout(rate: Float(rate))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }

  /// The inference form: the identity.
  public func onnxOperator(inputCount: Int) -> ONNXOperator { ONNXOperator("Identity") }
}

extension Dropout {
  /// At inference dropout is the identity, so it needs neither a step nor a buffer.
  public func isView(training: Bool) -> Bool { !training }
  public var mayRunInPlace: Bool { true }

  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    let mask = output.elementCount.flatMap { checkedProduct([batch, $0]) }
    return [
      ScratchRequest(name: ScratchKey.dropoutMask, elements: mask, lifetime: .forwardToBackward)
    ]
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let (x, y, count, rate, random) = (
      b.inputs[0], b.output, b.batch * b.inputCount, rate, b.random
    )
    let mask = b.requiredScratch(ScratchKey.dropoutMask, as: Float.self)
    return { dropoutForward(x, y, mask, rate: rate, count: count, random: &random.pointee) }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    guard let dx = b.inputGradients[0], let dy = b.outputGradient else { return {} }
    let mask = b.requiredScratch(ScratchKey.dropoutMask, as: Float.self)
    let (count, accumulate) = (b.batch * b.inputCount, b.accumulate[0])
    return { scaleBackward(mask, dy, dx, count: count, accumulate: accumulate) }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Dropout {
  /// Dropout does nothing at inference.
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { .view }
}
