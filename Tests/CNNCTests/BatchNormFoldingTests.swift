import Testing

@testable import CNNC

/// Inference plans fold a batchnorm into the convolution before it (`BatchNormFolding`): the
/// same outputs as the unfolded plan to 1e-5 on every shipped model with batchnorm, with
/// running statistics far from their starting values, on every kernel path; and folds only
/// where the convolution's output has no other reader.
@Suite struct BatchNormFoldingTests {
  /// Both plans of `yaml` with the same weights, running statistics and input; neither fuses a
  /// ReLU (a folded batchnorm's ReLU does not fuse, an unfolded one's would).
  static func pair(_ yaml: String, isa: KernelISA, batch: Int = 3) throws -> (Executor, Executor) {
    let folded = try makeExecutor(
      yaml, PlanOptions(mode: .inference, batch: batch, isa: isa, fusesReLU: false))
    let plain = try makeExecutor(
      yaml,
      PlanOptions(
        mode: .inference, batch: batch, isa: isa, foldsBatchNorm: false, fusesReLU: false))
    for (index, slot) in folded.plan.parameters.enumerated() where slot.elementType == .float32 {
      let values = try #require(folded.parameter(slot.name))
      if slot.name.hasSuffix(".running_mean") {
        _ = values.update(fromContentsOf: randomValues(slot.count, seed: UInt64(index), scale: 0.5))
      } else if slot.name.hasSuffix(".running_var") {
        _ = values.update(
          fromContentsOf: randomValues(slot.count, seed: UInt64(index)).map { 1 + 0.8 * $0 })
      }
      _ = try #require(plain.parameter(slot.name)).update(fromContentsOf: Array(values))
    }
    let input = randomValues(folded.input.count, seed: 41)
    _ = folded.input.update(fromContentsOf: input)
    _ = plain.input.update(fromContentsOf: input)
    folded.forward()
    plain.forward()
    return (folded, plain)
  }

  /// The CIFAR nets only in optimised builds (the README's and the sanitizers'): their forward
  /// passes take minutes in debug builds, where the two MNIST nets exercise the same folding.
  @Test(
    arguments: ["allconv-bn.yaml", "mobilenet-mnist.yaml"]
      + (isOptimizedBuild ? ["resnet20.yaml", "mobilenet-cifar.yaml"] : []),
    KernelISA.supported)
  func shippedModelsGiveTheUnfoldedOutputs(_ model: String, _ isa: KernelISA) throws {
    let yaml = try AllocationTests.specText(model)
    let (folded, plain) = try Self.pair(yaml, isa: isa)
    let network = folded.plan.network
    let batchNorms = network.layers.filter { $0.typeName == "batchnorm" }.count
    #expect(folded.plan.foldedBatchNorms.count == batchNorms, "\(model)")
    #expect(plain.plan.foldedBatchNorms.isEmpty)
    #expect(folded.plan.steps.count == plain.plan.steps.count - batchNorms)
    for (a, b) in zip(folded.output, plain.output) {
      #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(model): \(a) against \(b)")
    }
  }

  /// Not folded: a convolution whose output is also read by an add, a batchnorm after a dense
  /// layer, and anything in a training plan. Folded: a batchnorm after a grouped convolution
  /// without bias, which then gets one.
  @Test func foldsOnlyABatchNormThatAloneReadsAConvolution() throws {
    let yaml = """
      input: [4, 9, 9]
      layers:
        - {type: conv, name: shared, filters: 4, kernel: 3, pad: 1}
        - {type: batchnorm, name: bn_shared}
        - {type: add, name: sum, input: [shared, bn_shared]}
        - {type: conv, name: grouped, filters: 6, kernel: 3, groups: 2, bias: false}
        - {type: batchnorm, name: bn_grouped}
        - {type: dense, name: fc, units: 5}
        - {type: batchnorm, name: bn_fc}
      """
    let (folded, plain) = try Self.pair(yaml, isa: KernelISA.supported.last!, batch: 2)
    let layers = folded.plan.network.layers
    #expect(folded.plan.foldedBatchNorms.map { layers[$0.key].name } == ["bn_grouped"])
    for (a, b) in zip(folded.output, plain.output) {
      #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(a) against \(b)")
    }
    let training = try Planner.plan(
      try InferredNetwork(yaml: yaml), PlanOptions(mode: .training, batch: 2, loss: .outputGradient)
    )
    #expect(training.foldedBatchNorms.isEmpty)
  }
}
