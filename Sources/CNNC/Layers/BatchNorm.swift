import CNNCKernels
import Foundation

/// Batch normalisation as PyTorch's `BatchNorm1d`/`BatchNorm2d` define it: each channel (each
/// feature of a dense output) is normalised over the batch and the positions, N×H×W values,
/// then scaled by `weight` and shifted by `bias`.
///
/// Training normalises with the batch's mean and biased variance and moves the running
/// statistics towards them, `running = (1 − momentum)·running + momentum·batch`, with the
/// unbiased variance for `running_var`; inference and test-set evaluation use the running
/// statistics. With data-parallel workers (`--threads`), each normalises by its own slice of
/// the batch, and the running statistics follow worker 0's slice, as PyTorch DDP's default
/// (per-replica statistics, rank 0's buffers broadcast) behaves.
public struct BatchNorm: Layer {
  public var epsilon: Float
  public var momentum: Float
  /// Folded into the convolution before it by an inference plan (`BatchNormFolding`): no step
  /// of its own, its output the convolution's.
  public var isFolded = false
  /// Applies the ReLU that follows it (`ReLUFusion`): y = max(γ·x̂ + β, 0), and backward masks
  /// the gradient where y is 0, so the ReLU has no pass of its own.
  public var appliesReLU = false

  public init(epsilon: Float = 1e-5, momentum: Float = 0.1) {
    self.epsilon = epsilon
    self.momentum = momentum
  }

  public static let type = LayerType(
    name: "batchnorm", keys: ["eps", "momentum"],
    onnx: ONNXReading(["BatchNormalization"], read: readBatchNormalization)
  ) { keys in
    let epsilon = keys.number("eps", default: 1e-5, requirement: "positive") { $0 > 0 }
    let momentum = keys.number("momentum", default: 0.1, requirement: "in [0, 1]") {
      (0...1).contains($0)
    }
    return BatchNorm(epsilon: Float(epsilon), momentum: Float(momentum))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? { inputs[0] }

  /// PyTorch's five, in its order: the learned scale and shift, then the state.
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] {
    let channels = [inputs[0].channels]
    return [
      ParameterTensor(name: "weight", dimensions: channels, initializer: .ones),
      ParameterTensor(name: "bias", dimensions: channels, initializer: .zeros),
      ParameterTensor(
        name: "running_mean", dimensions: channels, initializer: .zeros, role: .state),
      ParameterTensor(name: "running_var", dimensions: channels, initializer: .ones, role: .state),
      ParameterTensor(
        name: "num_batches_tracked", dimensions: [], initializer: .zeros, role: .state,
        elementType: .int64),
    ]
  }

  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? { output.elementCount }

  /// The inference form: with the running statistics.
  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator(
      "BatchNormalization", [("epsilon", .float(epsilon))],
      tensors: ["weight", "bias", "running_mean", "running_var"])
  }

  static func readBatchNormalization(_ node: inout ONNXNodeReader) throws(ONNXError) {
    try node.onlyAttributes(["epsilon", "momentum", "training_mode"])
    let epsilon = node.float("epsilon", default: 1e-5)
    if epsilon != 1e-5 { node.keys.append(("eps", "\(epsilon)")) }
    // ONNX's momentum weighs the old statistics; PyTorch's and cnnc's the new.
    let momentum = 1 - node.float("momentum", default: 0.9)
    if abs(momentum - 0.1) > 1e-7 { node.keys.append(("momentum", "\(momentum)")) }
    for (index, tensor) in ["weight", "bias", "running_mean", "running_var"].enumerated() {
      guard let values = try node.weight(index + 1) else {
        throw node.problem("its \(tensor) must be an initializer")
      }
      node.tensors["\(node.layerName).\(tensor)"] = values.values
    }
  }
}

// Per channel c over its M = N·H·W values x: μ = Σx/M, σ² = Σ(x − μ)²/M, r = 1/√(σ² + ε),
// x̂ = (x − μ)·r, y = γ·x̂ + β.
// Backward: dβ = Σdy, dγ = Σ dy·x̂, dx = γ·r/M · (M·dy − dβ − x̂·dγ).
extension BatchNorm {
  public var backwardReads: BackwardReads { appliesReLU ? [.input, .output] : .input }
  /// In inference it is element-wise (training's backward reads its input, which keeps it apart).
  public var mayRunInPlace: Bool { true }
  public func isView(training: Bool) -> Bool { isFolded && !training }

  public func trainingProblem(batch: Int, inputs: [Shape]) -> String? {
    let values = batch * inputs[0].height * inputs[0].width
    guard values < 2 else { return nil }
    return "batchnorm in training needs more than one value per channel, and a worker's "
      + "\(batch)-sample slice of \(inputs[0]) gives \(values); use a larger batch or fewer threads"
  }

  public func loweringNames(
    batch: Int, inputs: [Shape], output: Shape, training: Bool, inputGradient: Bool
  ) -> (forward: String, backward: String)? {
    appliesReLU ? ("+ relu", "+ relu") : nil
  }

  /// Each channel's batch mean and 1/√(σ² + ε), from forward to backward.
  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    [
      ScratchRequest(
        name: ScratchKey.statistics, elements: 2 * inputs[0].channels, lifetime: .forwardToBackward)
    ]
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let shape = b.outputShape
    let (channels, plane, batch, isa) = (shape.channels, shape.height * shape.width, b.batch, b.isa)
    let (x, y) = (b.inputs[0], b.output)
    let (gamma, beta, runningMean, runningVariance) = (
      b.parameters[0], b.parameters[1], b.parameters[2], b.parameters[3]
    )
    let batchesTracked = UnsafeMutableRawPointer(b.parameters[4])
    let (epsilon, momentum) = (epsilon, momentum)
    let values = batch * plane
    let relu: Int32 = appliesReLU ? 1 : 0
    let stride = channels * plane
    guard training else {
      return {
        for c in 0..<channels {
          let scale = gamma[c] / (runningVariance[c] + epsilon).squareRoot()
          let shift = beta[c] - runningMean[c] * scale
          let at = c * plane
          cnnc_planes_affine(isa.path, x + at, y + at, batch, stride, plane, 0, scale, shift, relu)
        }
      }
    }
    let statistics = b.requiredScratch(ScratchKey.statistics, as: Float.self)
    let updatesState = b.updatesState
    return {
      for c in 0..<channels {
        // Channel c's planes, one per image: summed, then their squared deviations (two passes
        // for the variance's accuracy; the second reads the channel from cache), then normalised
        // with the ReLU in the same pass.
        let at = c * plane
        let mean = cnnc_planes_sum(isa.path, x + at, batch, stride, plane) / Double(values)
        let m = Float(mean)
        let squares = cnnc_planes_squared_deviation(isa.path, x + at, batch, stride, plane, m)
        let variance = squares / Double(values)
        let inverse = 1 / (Float(variance) + epsilon).squareRoot()
        cnnc_planes_affine(
          isa.path, x + at, y + at, batch, stride, plane, m, inverse * gamma[c], beta[c], relu)
        statistics[c] = m
        statistics[channels + c] = inverse
        if updatesState {
          let unbiased = Float(squares / Double(values - 1))
          runningMean[c] = (1 - momentum) * runningMean[c] + momentum * m
          runningVariance[c] = (1 - momentum) * runningVariance[c] + momentum * unbiased
        }
      }
      if updatesState {
        batchesTracked.storeBytes(of: batchesTracked.load(as: Int64.self) + 1, as: Int64.self)
      }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let shape = b.outputShape
    let (channels, plane, batch, isa) = (shape.channels, shape.height * shape.width, b.batch, b.isa)
    let (x, dy, dx) = (b.inputs[0], b.requiredOutputGradient, b.inputGradients[0])
    let accumulate: Int32 = b.accumulate[0] ? 1 : 0
    let (gamma, gammaGradient, betaGradient) = (
      b.parameters[0], b.parameterGradients[0], b.parameterGradients[1]
    )
    let statistics = b.requiredScratch(ScratchKey.statistics, as: Float.self)
    let values = Float(batch * plane)
    let stride = channels * plane
    // With the ReLU applied, the gradient that reaches the normalisation is dy where y > 0.
    let mask = appliesReLU ? UnsafePointer(b.output) : nil
    return {
      for c in 0..<channels {
        let (mean, inverse) = (statistics[c], statistics[channels + c])
        let at = c * plane
        var (sumGradient, sumProduct) = (0.0, 0.0)
        cnnc_batchnorm_gradient_sums(
          isa.path, dy + at, x + at, mask.map { $0 + at }, batch, stride, plane, mean,
          &sumGradient, &sumProduct)
        sumProduct *= Double(inverse)
        betaGradient[c] = Float(sumGradient)
        gammaGradient[c] = Float(sumProduct)
        guard let dx else { continue }
        // γ·r/M · (M·dy − dβ − (x − μ)·r·dγ), as a·dy + b·x + c.
        let scale = gamma[c] * inverse / values
        let (dBeta, dGamma) = (Float(sumGradient), Float(sumProduct))
        let a = scale * values
        let slope = -scale * dGamma * inverse
        let constant = -scale * dBeta - slope * mean
        cnnc_batchnorm_input_gradient(
          isa.path, dy + at, x + at, mask.map { $0 + at }, dx + at, batch, stride, plane, a,
          slope, constant, accumulate)
      }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension BatchNorm {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    .batchNorm(epsilon: epsilon)
  }
}
