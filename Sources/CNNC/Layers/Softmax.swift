/// Softmax over the channels; only as the last layer, where training folds it into the loss.
public struct Softmax: Layer {
  public init() {}

  public static let type = LayerType(name: "softmax", keys: []) { _ in Softmax() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }

  public var isClassSoftmax: Bool { true }
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
