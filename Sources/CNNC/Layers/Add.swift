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

extension Add {
  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let (inputs, y, count) = (b.inputs, b.output, b.batch * b.outputCount)
    return {
      y.update(from: inputs[0], count: count)
      for input in inputs.dropFirst() {
        for i in 0..<count { y[i] += input[i] }
      }
    }
  }

  /// Every input receives the whole output gradient.
  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let (gradients, accumulate, count) = (b.inputGradients, b.accumulate, b.batch * b.outputCount)
    let dy = b.requiredOutputGradient
    return {
      for index in gradients.indices {
        if let dx = gradients[index] {
          passGradient(dy, dx, count: count, accumulate: accumulate[index])
        }
      }
    }
  }
}
