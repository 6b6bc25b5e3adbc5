/// Runs a network's inference plan over a whole set of labelled images.
public final class Evaluator {
  private let executor: Executor
  public let batch: Int

  public init(network: InferredNetwork, batch: Int = 100) throws {
    self.batch = batch
    executor = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: batch)))
  }

  public var parameters: [ParameterSlot] { executor.plan.parameters }
  public var parameterFloats: Int { executor.plan.parameterFloats }

  /// Correct predictions (the largest output against the label) and, when asked, the final
  /// layer's outputs for every image, (count, K), over `samples` (default: all). A last short
  /// batch is padded with zeros.
  public func run(
    weights: [Float], data: LabelledImages, scale: Float, keepOutputs: Bool = false,
    samples: Range<Int>? = nil
  ) throws(TrainingError) -> (correct: Int, outputs: [Float]) {
    let imageShape = Shape(channels: data.channels, height: data.rows, width: data.columns)
    guard imageShape == executor.plan.network.input, weights.count == executor.weights.count else {
      throw TrainingError(
        message:
          "the network's input \(executor.plan.network.input) does not fit \(imageShape) images")
    }
    _ = executor.weights.update(fromContentsOf: weights)
    let pixels = data.pixelsPerImage
    let classes = executor.output.count / batch
    var outputs: [Float] = []
    let samples = (samples ?? 0..<data.count).clamped(to: 0..<data.count)
    if keepOutputs { outputs.reserveCapacity(samples.count * classes) }
    var correct = 0
    for start in stride(from: samples.lowerBound, to: samples.upperBound, by: batch) {
      let count = min(batch, samples.upperBound - start)
      guard let input = executor.input.baseAddress else { break }
      for row in 0..<count {
        data.writePixels(of: start + row, scale: scale, to: input + row * pixels)
      }
      // A short last batch: the rows past it are zeros, and their outputs are not read.
      (input + count * pixels).update(repeating: 0, count: (batch - count) * pixels)
      executor.forward()
      let output = executor.output
      for row in 0..<count {
        let scores = output[(row * classes)..<((row + 1) * classes)]
        if let best = scores.indices.max(by: { scores[$0] < scores[$1] }),
          best - row * classes == Int(data.labels[start + row])
        {
          correct += 1
        }
      }
      if keepOutputs { outputs.append(contentsOf: output[0..<(count * classes)]) }
    }
    return (correct, outputs)
  }
}
