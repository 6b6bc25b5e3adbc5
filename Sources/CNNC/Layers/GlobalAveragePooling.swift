/// The mean of each channel over its whole height and width.
public struct GlobalAveragePooling: Layer {
  public init() {}

  public static let type = LayerType(
    name: "global_avgpool", keys: [],
    onnx: ONNXReading(["GlobalAveragePool"]) { node throws(ONNXError) in
      try node.onlyAttributes([])
      node.outputForm.unitPlane = true
    }
  ) { _ in GlobalAveragePooling() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    Shape(channels: inputs[0].channels, height: 1, width: 1)
  }

  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator("GlobalAveragePool", input: .image)
  }
}

extension GlobalAveragePooling {
  // x: (N·C planes, H·W); y: (N·C)
  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let shape = b.inputShapes[0]
    let (planes, area) = (b.batch * shape.channels, shape.height * shape.width)
    let (x, y) = (b.inputs[0], b.output)
    return {
      for plane in 0..<planes {
        var sum: Float = 0
        for i in 0..<area { sum += x[plane * area + i] }
        y[plane] = sum / Float(area)
      }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let shape = b.inputShapes[0]
    let (planes, area) = (b.batch * shape.channels, shape.height * shape.width)
    guard let dx = b.inputGradients[0], let dy = b.outputGradient else { return {} }
    let accumulate = b.accumulate[0]
    return {
      for plane in 0..<planes {
        let share = dy[plane] / Float(area)
        let target = dx + plane * area
        for i in 0..<area {
          if accumulate { target[i] += share } else { target[i] = share }
        }
      }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension GlobalAveragePooling {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    .globalAveragePooling
  }
}
