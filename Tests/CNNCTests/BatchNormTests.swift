import Foundation
import Testing

@testable import CNNC

/// Batchnorm's two modes, its state and its checkpoint tensors. Its gradients are in
/// GradientCheckTests; PyTorch agreement is `Benchmarks/scripts/pytorch_batchnorm.py`.
@Suite struct BatchNormTests {
  static let net = """
    name: bn
    input: [1, 28, 28]
    layers:
      - {type: conv, name: conv, filters: 3, kernel: 5, stride: 3, bias: false}
      - {type: batchnorm, name: bn, momentum: 0.25}
      - {type: relu}
      - {type: dense, name: fc, units: 10}
      - {type: batchnorm, name: bnfc, eps: 0.001}
      - {type: softmax}
    train:
      data: {format: mnist, path: \(modelPath("data/mnist")), scale: 0.00390625}
      batch: 16
      shuffle: false
      seed: 2
      optimizer: {type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 0.5}
    """

  @Test func itsTensorsHavePyTorchsNamesRolesAndStart() throws {
    let executor = try makeExecutor(Self.net, PlanOptions(mode: .inference, batch: 1))
    let slots = executor.plan.parameters.filter { $0.name.hasPrefix("bn.") }
    #expect(
      slots.map(\.name) == [
        "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
      ])
    #expect(slots.map(\.role) == [.learned, .learned, .state, .state, .state])
    #expect(slots.last?.elementType == .int64 && slots.last?.dimensions == [])
    let fresh = try Executor(plan: executor.plan, seed: 1)
    #expect(Array(try #require(fresh.parameter("bn.weight"))) == [1, 1, 1])
    #expect(Array(try #require(fresh.parameter("bn.running_var"))) == [1, 1, 1])
    #expect(Array(try #require(fresh.parameter("bn.running_mean"))) == [0, 0, 0])
    // Only learned tensors count as parameters: conv 75, bn 6, fc 10×192 + 10, bnfc 20.
    let network = try InferredNetwork(yaml: Self.net)
    #expect(network.parameterCount == 75 + 6 + 1_920 + 10 + 20)
  }

  /// Inference is (x − running mean)/√(running var + ε)·γ + β, channel by channel.
  @Test(arguments: KernelISA.supported)
  func inferenceUsesTheRunningStatistics(isa: KernelISA) throws {
    let yaml = "input: [2, 2, 2]\nlayers: [{type: batchnorm, name: bn, eps: 0.5}]\n"
    let executor = try makeExecutor(yaml, PlanOptions(mode: .inference, batch: 2, isa: isa))
    let (gamma, beta) = ([Float(2), -1], [Float(0.5), 3])
    let (mean, variance) = ([Float(1), -2], [Float(3.5), 1.5])
    _ = try #require(executor.parameter("bn.weight")).update(fromContentsOf: gamma)
    _ = try #require(executor.parameter("bn.bias")).update(fromContentsOf: beta)
    _ = try #require(executor.parameter("bn.running_mean")).update(fromContentsOf: mean)
    _ = try #require(executor.parameter("bn.running_var")).update(fromContentsOf: variance)
    let input = (0..<16).map { Float($0) - 5 }
    _ = executor.input.update(fromContentsOf: input)
    executor.forward()
    for (index, x) in input.enumerated() {
      let c = (index / 4) % 2
      let expected = (x - mean[c]) / (variance[c] + 0.5).squareRoot() * gamma[c] + beta[c]
      #expect(abs(executor.output[index] - expected) <= 1e-5 * max(1, abs(expected)))
    }
  }

  /// Training normalises by the batch and moves the running statistics by `momentum`, with the
  /// unbiased variance; the optimizer (here with a weight decay of 0.5) never touches them.
  @Test func trainingUpdatesTheStateAndTheOptimizerLeavesItAlone() throws {
    let network = try InferredNetwork(yaml: Self.net)
    let options = TrainingOptions(try #require(network.train))
    let trainer = try Trainer(network: network, data: try trainingSlice(64), options: options)
    // The conv output that bn sees in the first step, from the starting weights.
    let probe = try makeExecutor(
      "input: [1, 28, 28]\nlayers: [{type: conv, name: conv, filters: 3, kernel: 5, stride: 3, "
        + "bias: false}]\n", PlanOptions(mode: .inference, batch: 16))
    let convWeights = try #require(trainer.parameters.first { $0.name == "conv.weight" })
    _ = try #require(probe.parameter("conv.weight")).update(
      fromContentsOf: trainer.weights[convWeights.range])
    let data = try trainingSlice(16)
    for n in 0..<16 {
      data.writePixels(
        of: n, scale: options.scale, to: probe.input.baseAddress! + n * data.pixelsPerImage)
    }
    probe.forward()
    try trainer.trainStep()
    let conv = Array(probe.output)
    func slot(_ name: String) throws -> ArraySlice<Float> {
      trainer.weights[try #require(trainer.parameters.first { $0.name == name }).range]
    }
    let plane = 8 * 8
    for c in 0..<3 {
      var values: [Double] = []
      for n in 0..<16 {
        let start = (n * 3 + c) * plane
        values += conv[start..<(start + plane)].map(Double.init)
      }
      let mean = values.reduce(0, +) / Double(values.count)
      let squares = values.map { ($0 - mean) * ($0 - mean) }
      let unbiased = squares.reduce(0, +) / Double(values.count - 1)
      let runningMean = try slot("bn.running_mean")
      let runningVariance = try slot("bn.running_var")
      #expect(abs(Double(runningMean[runningMean.startIndex + c]) - 0.25 * mean) <= 1e-5)
      #expect(
        abs(Double(runningVariance[runningVariance.startIndex + c]) - (0.75 + 0.25 * unbiased))
          <= 1e-5 * max(1, unbiased))
    }
    try trainer.trainStep()
    let tracked = try #require(
      SafeTensors.Tensor(
        name: "", shape: [], dtype: .i64, values: Array(try slot("bnfc.num_batches_tracked"))
      ).integers)
    #expect(tracked == [2])
  }

  @Test func aCheckpointCarriesTheCountAsI64AndRoundTrips() throws {
    let folder = TestFiles.newURL()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let network = try InferredNetwork(yaml: Self.net)
    var options = TrainingOptions(try #require(network.train))
    options.maximumSteps = 3
    let path = folder.appendingPathComponent("bn.safetensors").path
    let session = try TrainingSession(
      network: network, train: try trainingSlice(64), options: options, checkpoint: path)
    try session.run()
    let file = try SafeTensors.read(path)
    #expect(file["bn.num_batches_tracked"]?.dtype == .i64)
    #expect(file["bn.num_batches_tracked"]?.integers == [3])
    #expect(file["bn.running_var"]?.dtype == .f32)
    let executor = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: 1)))
    try executor.loadWeights(from: path)
    #expect(Array(executor.weights) == session.trainer.weights)

    // An F32 count, or a negative one, is refused, naming the tensor.
    for (tensor, problem) in [
      (
        SafeTensors.Tensor(name: "bn.num_batches_tracked", shape: [], values: [3]),
        "dtype F32 is not the layer's I64"
      ),
      (
        SafeTensors.Tensor(name: "bn.num_batches_tracked", shape: [], integers: [-1]),
        "holds a negative count"
      ),
    ] {
      var edited = file
      edited.tensors = file.tensors.map { $0.name == tensor.name ? tensor : $0 }
      let bad = folder.appendingPathComponent("bad.safetensors").path
      try edited.write(to: bad)
      #expect {
        try executor.loadWeights(from: bad)
      } throws: { error in
        let error = error as? CheckpointError
        return error?.tensor == "bn.num_batches_tracked" && error?.problem == problem
      }
    }
  }

  @Test func oneValuePerChannelCannotTrain() throws {
    let yaml = "input: [4, 1, 1]\nlayers: [{type: dense, units: 3}, {type: batchnorm, name: b}]\n"
    let network = try InferredNetwork(yaml: yaml)
    #expect {
      try Planner.plan(network, PlanOptions(mode: .training, batch: 1, loss: .outputGradient))
    } throws: { error in
      "\(error)".contains("batchnorm 'b'") && "\(error)".contains("more than one value")
    }
    // Inference at batch 1 and training at batch 2 are fine.
    _ = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    _ = try Planner.plan(network, PlanOptions(mode: .training, batch: 2, loss: .outputGradient))
  }
}
