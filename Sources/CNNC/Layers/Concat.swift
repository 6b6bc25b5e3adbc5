/// Stacks its inputs along the channels; heights and widths must agree.
public struct Concat: Layer {
  public init() {}

  public static let type = LayerType(
    name: "concat", keys: [], arity: .twoOrMore,
    onnx: ONNXReading(["Concat"]) { node throws(ONNXError) in
      try node.onlyAttributes(["axis"])
      if node.int("axis", default: 1) != 1 {
        throw node.problem("attribute 'axis' must be 1 (channels)")
      }
      node.dataInputs = node.inputCount
    }
  ) { _ in Concat() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    let first = inputs[0]
    var channels = 0
    for (index, shape) in inputs.enumerated() {
      guard shape.height == first.height, shape.width == first.width else {
        check.error(
          "'\(check.inputNames[index])' is \(shape) but '\(check.inputNames[0])' is \(first); "
            + "heights and widths must be equal to concatenate")
        return nil
      }
      let (sum, overflow) = channels.addingReportingOverflow(shape.channels)
      guard !overflow else {
        check.error("the channel count overflows a 64-bit integer")
        return nil
      }
      channels = sum
    }
    return Shape(channels: channels, height: first.height, width: first.width)
  }

  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator("Concat", [("axis", .int(1))], input: .alike)
  }
}

// Each sample's output is its inputs' (c_i, h, w) blocks one after another.
extension Concat {
  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let sizes = b.inputShapes.map { $0.elementCount ?? 0 }
    let (inputs, y, batch, outputCount) = (b.inputs, b.output, b.batch, b.outputCount)
    return {
      for n in 0..<batch {
        var offset = n * outputCount
        for (input, size) in zip(inputs, sizes) {
          (y + offset).update(from: input + n * size, count: size)
          offset += size
        }
      }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let sizes = b.inputShapes.map { $0.elementCount ?? 0 }
    let (gradients, accumulate, batch, outputCount) = (
      b.inputGradients, b.accumulate, b.batch, b.outputCount
    )
    let (dy, isa) = (b.requiredOutputGradient, b.isa)
    return {
      for n in 0..<batch {
        var offset = n * outputCount
        for index in sizes.indices {
          if let dx = gradients[index] {
            passGradient(
              isa, dy + offset, dx + n * sizes[index], count: sizes[index],
              accumulate: accumulate[index]
            )
          }
          offset += sizes[index]
        }
      }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Concat {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { .concat }
}
