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
    weights: [Float], data: any ImageDataset, scale: Float, keepOutputs: Bool = false,
    samples: Range<Int>? = nil
  ) throws(TrainingError) -> (correct: Int, outputs: [Float]) {
    try run(
      weights: weights, data: data, preprocessing: Preprocessing(scale: scale),
      keepOutputs: keepOutputs, samples: samples)
  }

  /// As above, each image prepared by `preprocessing` (its augmentation left out). Unlabelled
  /// images (label -1) are never counted correct.
  public func run(
    weights: [Float], data: any ImageDataset, preprocessing: Preprocessing,
    keepOutputs: Bool = false, samples: Range<Int>? = nil
  ) throws(TrainingError) -> (correct: Int, outputs: [Float]) {
    guard data.imageShape == executor.plan.network.input else {
      throw TrainingError(
        message: "the network's input \(executor.plan.network.input) does not fit "
          + "\(data.imageShape) images")
    }
    guard weights.count == executor.weights.count else {
      throw TrainingError(
        message: "\(weights.count) parameter values given; the network has "
          + "\(executor.weights.count)")
    }
    _ = executor.weights.update(fromContentsOf: weights)
    let reader = SampleReader(
      preprocessing.withoutAugmentation, shape: executor.plan.network.input)
    let pixels = data.valuesPerImage
    let classes = executor.output.count / batch
    var outputs: [Float] = []
    let samples = (samples ?? 0..<data.count).clamped(to: 0..<data.count)
    if keepOutputs { outputs.reserveCapacity(samples.count * classes) }
    var correct = 0
    for start in stride(from: samples.lowerBound, to: samples.upperBound, by: batch) {
      let count = min(batch, samples.upperBound - start)
      guard let input = executor.input.baseAddress else { break }
      do {
        for row in 0..<count {
          try reader.read(data, start + row, draw: nil, into: input + row * pixels)
        }
      } catch {
        throw TrainingError(message: "\(error)")
      }
      // A short last batch: the rows past it are zeros, and their outputs are not read.
      (input + count * pixels).update(repeating: 0, count: (batch - count) * pixels)
      executor.forward()
      let output = executor.output
      for row in 0..<count {
        let scores = output[(row * classes)..<((row + 1) * classes)]
        if let best = scores.indices.max(by: { scores[$0] < scores[$1] }),
          best - row * classes == data.label(of: start + row)
        {
          correct += 1
        }
      }
      if keepOutputs { outputs.append(contentsOf: output[0..<(count * classes)]) }
    }
    return (correct, outputs)
  }
}
