import CNNCKernels

/// The element-wise sum of its inputs, which must all have one shape.
public struct Add: Layer {
  /// Applies the ReLU that follows it (`ReLUFusion`): y = max(Σ inputs, 0), and backward masks
  /// the gradient where y is 0, so the ReLU has no pass of its own.
  public var appliesReLU = false
  /// An inference plan's `ResidualFusion`: the convolution computing input `viewedInput` adds
  /// the other input into its output, and this add is a view of that output.
  public internal(set) var isFusedIntoConvolution = false
  public internal(set) var viewedInput = 0

  public init() {}

  public static let type = LayerType(
    name: "add", keys: [], arity: .twoOrMore,
    onnx: ONNXReading(["Add", "Sum"]) { node throws(ONNXError) in
      try node.onlyAttributes([])
      node.dataInputs = node.inputCount
    }
  ) { _ in Add() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    for (index, shape) in inputs.enumerated() where shape != inputs[0] {
      check.error(
        "'\(check.inputNames[index])' is \(shape) but '\(check.inputNames[0])' is \(inputs[0]); "
          + "all shapes must be equal to add")
      return nil
    }
    return inputs[0]
  }

  /// ONNX's `Add` takes two inputs; `Sum` any number.
  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator(inputCount == 2 ? "Add" : "Sum", input: .alike)
  }
}

extension Add {
  public var backwardReads: BackwardReads { appliesReLU ? .output : [] }
  public func isView(training: Bool) -> Bool { isFusedIntoConvolution && !training }

  public func loweringNames(
    batch: Int, inputs: [Shape], output: Shape, training: Bool, inputGradient: Bool
  ) -> (forward: String, backward: String)? {
    appliesReLU ? ("+ relu", "+ relu") : nil
  }

  /// One pass for two inputs (a residual block's), the ReLU in it when applied; a pass per
  /// further input.
  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let (inputs, y, count, isa) = (b.inputs, b.output, b.batch * b.outputCount, b.isa)
    let relu = appliesReLU
    return {
      cnnc_add(isa.path, inputs[0], inputs[1], y, count, relu && inputs.count == 2 ? 1 : 0)
      for index in inputs.indices.dropFirst(2) {
        cnnc_add(isa.path, y, inputs[index], y, count, relu && index == inputs.count - 1 ? 1 : 0)
      }
    }
  }

  /// Every input receives the whole output gradient (where the output is positive, with the
  /// ReLU applied).
  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let (gradients, accumulate, count) = (b.inputGradients, b.accumulate, b.batch * b.outputCount)
    let (dy, isa) = (b.requiredOutputGradient, b.isa)
    let mask = appliesReLU ? UnsafePointer(b.output) : nil
    if let mask, gradients.count == 2, let first = gradients[0], let second = gradients[1] {
      // A residual block's add: both gradients in one pass over dy and the mask.
      let (accumulateFirst, accumulateSecond): (Int32, Int32) = (
        accumulate[0] ? 1 : 0, accumulate[1] ? 1 : 0
      )
      return {
        cnnc_relu_backward_two(
          isa.path, mask, dy, first, accumulateFirst, second, accumulateSecond, count)
      }
    }
    return {
      for index in gradients.indices {
        guard let dx = gradients[index] else { continue }
        if let mask {
          reluBackward(isa, mask, dy, dx, count: count, accumulate: accumulate[index])
        } else {
          passGradient(isa, dy, dx, count: count, accumulate: accumulate[index])
        }
      }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Add {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? { .add }
}
