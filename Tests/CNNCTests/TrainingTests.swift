import Foundation
import Testing

@testable import CNNC

/// MNIST is read once for all training tests.
let shippedMNIST: MNIST? = try? MNIST(folder: modelPath("data/mnist"))

/// A small, fast net with every kind of state a resume must carry: momentum and dropout.
let smallNet = """
  name: small
  input: [1, 28, 28]
  layers:
    - {type: conv, name: conv, filters: 4, kernel: 4, stride: 2}
    - {type: relu}
    - {type: maxpool, kernel: 2}
    - {type: dropout, rate: 0.2}
    - {type: dense, name: fc, units: 10}
    - {type: softmax}
  train:
    data: {format: mnist, path: \(modelPath("data/mnist")), scale: 0.00390625}
    batch: 32
    shuffle: true
    seed: 5
    optimizer: {type: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0005}
    lr_policy: {type: inv, gamma: 0.0001, power: 0.75}
  """

/// The first `count` training images.
func trainingSlice(_ count: Int) throws -> LabelledImages {
  var slice = try #require(shippedMNIST).train
  slice.images = Array(slice.images.prefix(count * slice.pixelsPerImage))
  slice.labels = Array(slice.labels.prefix(count))
  return slice
}

func makeTrainer(threads: Int = 1, images: Int = 640, isa: KernelISA? = nil) throws -> Trainer {
  let network = try InferredNetwork(yaml: smallNet)
  var options = TrainingOptions(try #require(network.train))
  options.threads = threads
  options.isa = isa
  return try Trainer(network: network, data: try trainingSlice(images), options: options)
}

@Suite struct TrainingTests {
  @Test func aFewStepsLowerTheLoss() throws {
    let trainer = try makeTrainer()
    let losses = try (0..<40).map { _ in try trainer.trainStep().loss }
    let first = losses.prefix(5).reduce(0, +) / 5
    let last = losses.suffix(5).reduce(0, +) / 5
    #expect(last < 0.7 * first, "loss went from \(first) to \(last)")
  }

  @Test(arguments: [1, 2], KernelISA.supported)
  func sameSeedSameThreadsSameWeights(threads: Int, isa: KernelISA) throws {
    let a = try makeTrainer(threads: threads, isa: isa)
    let b = try makeTrainer(threads: threads, isa: isa)
    for _ in 0..<12 {
      try a.trainStep()
      try b.trainStep()
    }
    #expect(a.weights == b.weights)
    #expect(a.velocity == b.velocity)
  }

  @Test func resumedRunEndsWithTheSameWeights() throws {
    let straight = try makeTrainer(threads: 2)
    for _ in 0..<30 { try straight.trainStep() }

    let first = try makeTrainer(threads: 2)
    for _ in 0..<17 { try first.trainStep() }
    // Save through the real file formats and restore into a fresh trainer.
    let weights = try SafeTensors.decode(
      Checkpoints.tensors(first.weights, first.parameters, metadata: [:]).encoded(), file: "w")
    let state = ResumeState(
      step: first.step, epoch: first.epoch, batchInEpoch: first.batchInEpoch,
      randomStates: first.randomStates, weights: first.weights, velocity: first.velocity)
    let statePath = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
      .path
    try state.encoded(first.parameters, seed: 5, batch: 32).write(to: statePath)

    let second = try makeTrainer(threads: 2)
    second.setWeights(
      try Checkpoints.values(
        of: weights, path: "w", second.parameters, floats: second.weights.count))
    let restored = try ResumeState.read(
      statePath, second.parameters, floats: second.weights.count, seed: 5, batch: 32)
    #expect(restored == state)
    try second.restore(
      step: restored.step, epoch: restored.epoch, batchInEpoch: restored.batchInEpoch,
      velocity: restored.velocity, randomStates: restored.randomStates)
    // 640 images / 32 = 20 batches an epoch: the resumed part crosses into epoch 2.
    for _ in 0..<13 { try second.trainStep() }
    #expect(second.step == 30)
    #expect(second.weights == straight.weights)
  }

  @Test func checkpointRoundTripGivesIdenticalOutputs() throws {
    let trainer = try makeTrainer()
    for _ in 0..<5 { try trainer.trainStep() }
    let file = try SafeTensors.decode(
      Checkpoints.tensors(trainer.weights, trainer.parameters, metadata: [:]).encoded(), file: "c")
    let loaded = try Checkpoints.values(
      of: file, path: "c", trainer.parameters, floats: trainer.weights.count)
    #expect(loaded == trainer.weights)
    let evaluator = try Evaluator(network: trainer.network, batch: 50)
    let test = try #require(shippedMNIST).test
    let before = try evaluator.run(
      weights: trainer.weights, data: test, scale: 1 / 256, keepOutputs: true)
    let after = try evaluator.run(weights: loaded, data: test, scale: 1 / 256, keepOutputs: true)
    #expect(before.outputs == after.outputs)
    #expect(before.outputs.count == 10_000 * 10)
  }

  @Test func nonFiniteLossStopsWithTheStep() throws {
    let network = try InferredNetwork(yaml: smallNet)
    var options = TrainingOptions(try #require(network.train))
    options.optimizer = SGD(learningRate: 1e30)
    let trainer = try Trainer(network: network, data: try trainingSlice(320), options: options)
    var failure: TrainingError?
    for _ in 0..<10 where failure == nil {
      do { try trainer.trainStep() } catch { failure = error as? TrainingError }
    }
    let message = try #require(failure?.message)
    #expect(message.contains("at step \(trainer.step + 1)"))
    #expect(trainer.weights.allSatisfy { $0.isFinite })
  }

  @Test(arguments: WeightInit.allCases)
  func weightsStartUniformWithinTheSchemesLimit(scheme: WeightInit) throws {
    let network = try InferredNetwork(yaml: smallNet)
    var options = TrainingOptions(try #require(network.train))
    options.weightInit = scheme
    let trainer = try Trainer(network: network, data: try trainingSlice(64), options: options)
    let weights = trainer.weights
    for slot in trainer.parameters {
      let values = weights[slot.offset..<slot.offset + slot.count]
      guard slot.dimensions.count > 1 else {
        #expect(values.allSatisfy { $0 == 0 }, "\(slot.name) should start at zero")
        continue
      }
      // conv [4, 1, 4, 4]: fan-in 16, fan-out 64; fc [10, 196]: fan-in 196, fan-out 10.
      let (fanIn, fanOut) = slot.name == "conv.weight" ? (16, 64) : (196, 10)
      let limit = scheme.limit(fanIn: fanIn, fanOut: fanOut)
      let largest = values.map(abs).max() ?? 0
      // Uniform in ±limit: nothing beyond it, and with 64+ draws something in its top tenth.
      #expect(largest <= limit && largest > 0.9 * limit, "\(slot.name): \(largest) vs \(limit)")
    }
  }

  @Test func initLimitsFollowTheirFormulas() {
    #expect(WeightInit.glorotUniform.limit(fanIn: 25, fanOut: 500) == (6 / Float(525)).squareRoot())
    #expect(WeightInit.lecunUniform.limit(fanIn: 25, fanOut: 500) == (3 / Float(25)).squareRoot())
    #expect(WeightInit.heUniform.limit(fanIn: 25, fanOut: 500) == (6 / Float(25)).squareRoot())
  }

  @Test func learningRatePolicies() {
    #expect(LearningRatePolicy.fixed.rate(base: 0.1, step: 500) == 0.1)
    #expect(LearningRatePolicy.step(every: 100, gamma: 0.5).rate(base: 0.1, step: 250) == 0.025)
    // Caffe's inv: 0.01 · (1 + 0.0001 · 10000)^(−0.75) = 0.01 · 2^(−0.75)
    let rate = LearningRatePolicy.inverse(gamma: 0.0001, power: 0.75).rate(base: 0.01, step: 10_000)
    #expect(abs(rate - 0.01 * pow(2, -0.75)) < 1e-15)
  }

  @Test func sgdMatchesCaffesUpdate() {
    var weights: [Float] = [1, -2]
    var velocity: [Float] = [0.5, 0]
    let gradients: [Float] = [0.1, 0.2]
    weights.withUnsafeMutableBufferPointer { w in
      velocity.withUnsafeMutableBufferPointer { v in
        gradients.withUnsafeBufferPointer { g in
          SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01).update(
            weights: w, gradients: g, velocity: v, rate: 0.1)
        }
      }
    }
    // v = 0.9·0.5 + 0.1·(0.1 + 0.01·1) = 0.461; w = 1 − 0.461
    // v = 0 + 0.1·(0.2 + 0.01·(−2)) = 0.018; w = −2 − 0.018
    #expect(abs(velocity[0] - 0.461) < 1e-6 && abs(weights[0] - 0.539) < 1e-6)
    #expect(abs(velocity[1] - 0.018) < 1e-6 && abs(weights[1] + 2.018) < 1e-6)
  }
}
