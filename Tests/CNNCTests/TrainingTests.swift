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

func makeTrainer(
  threads: Int = 1, images: Int = 640, isa: KernelISA? = nil, optimizer: Optimizer? = nil
) throws -> Trainer {
  let network = try InferredNetwork(yaml: smallNet)
  var options = TrainingOptions(try #require(network.train))
  options.threads = threads
  options.isa = isa
  options.optimizer = optimizer ?? options.optimizer
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
    #expect(a.optimizerState == b.optimizerState)
  }

  /// The spec's SGD, Adam and AdamW: their state goes through the resume file.
  @Test(arguments: [
    nil, Optimizer.adam(learningRate: 0.001, weightDecay: 0.01),
    .adam(learningRate: 0.002, decoupled: true),
  ])
  func resumedRunEndsWithTheSameWeights(_ optimizer: Optimizer?) throws {
    let straight = try makeTrainer(threads: 2, optimizer: optimizer)
    for _ in 0..<30 { try straight.trainStep() }

    let first = try makeTrainer(threads: 2, optimizer: optimizer)
    for _ in 0..<17 { try first.trainStep() }
    // Save through the real file formats and restore into a fresh trainer.
    let weights = try SafeTensors.decode(
      Checkpoints.tensors(first.weights, first.parameters, metadata: [:]).encoded(), file: "w")
    let state = ResumeState(
      step: first.step, epoch: first.epoch, batchInEpoch: first.batchInEpoch,
      randomStates: try first.randomStates(), weights: first.weights,
      optimizerState: first.optimizerState)
    let statePath = TestFiles.newURL()
      .path
    let used = first.options.optimizer
    try state.encoded(first.parameters, optimizer: used, seed: 5, batch: 32).write(to: statePath)

    let second = try makeTrainer(threads: 2, optimizer: optimizer)
    second.setWeights(
      try Checkpoints.values(
        of: weights, path: "w", second.parameters, floats: second.weights.count))
    let restored = try ResumeState.read(
      statePath, second.parameters, floats: second.weights.count, optimizer: used, seed: 5,
      batch: 32)
    #expect(restored == state)
    try second.restore(
      step: restored.step, epoch: restored.epoch, batchInEpoch: restored.batchInEpoch,
      optimizerState: restored.optimizerState, randomStates: restored.randomStates)
    // 640 images / 32 = 20 batches an epoch: the resumed part crosses into epoch 2.
    for _ in 0..<13 { try second.trainStep() }
    #expect(second.step == 30)
    #expect(second.weights == straight.weights)
    // Resuming with another optimizer is refused, naming both.
    let other: Optimizer =
      used.name == "sgd" ? .adam(learningRate: 0.001) : .sgd(learningRate: 0.01)
    #expect {
      try ResumeState.read(
        statePath, second.parameters, floats: second.weights.count, optimizer: other, seed: 5,
        batch: 32)
    } throws: { error in
      "\(error)".contains("optimizer '\(used.name)', not '\(other.name)'")
    }
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
    options.optimizer = .sgd(learningRate: 1e30)
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
          Optimizer.sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01).update(
            weights: w, gradients: g, state: v, step: 1, rate: 0.1)
        }
      }
    }
    // v = 0.9·0.5 + 0.1·(0.1 + 0.01·1) = 0.461; w = 1 − 0.461
    // v = 0 + 0.1·(0.2 + 0.01·(−2)) = 0.018; w = −2 − 0.018
    #expect(abs(velocity[0] - 0.461) < 1e-6 && abs(weights[0] - 0.539) < 1e-6)
    #expect(abs(velocity[1] - 0.018) < 1e-6 && abs(weights[1] + 2.018) < 1e-6)
  }

  /// `optimizer:` in the spec, with PyTorch's defaults where keys are left out.
  @Test func optimizersFromTheSpec() throws {
    func optimizer(_ text: String) throws -> Optimizer {
      let yaml = smallNet.replacingOccurrences(
        of: "optimizer: {type: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.0005}",
        with: "optimizer: \(text)")
      return try #require(try InferredNetwork(yaml: yaml).train).optimizer
    }
    #expect(
      try optimizer("{type: adamw, lr: 0.001}")
        == .adam(learningRate: 0.001, weightDecay: 0.01, decoupled: true))
    #expect(
      try optimizer("{type: adam, lr: 0.002, betas: [0.8, 0.99], eps: 1e-6}")
        == .adam(learningRate: 0.002, beta1: 0.8, beta2: 0.99, epsilon: 1e-6))
    #expect(try optimizer("{type: adam, lr: 0.002}").weightDecay == 0)
    #expect(try optimizer("{lr: 0.1, momentum: 0.5}") == .sgd(learningRate: 0.1, momentum: 0.5))
  }

  /// Two Adam steps and one AdamW step worked by hand (in Double) from PyTorch's rules.
  @Test func adamMatchesPyTorchsRules() {
    func run(_ optimizer: Optimizer, steps: [[Float]], weight: Float) -> (Float, [Float]) {
      var weights = [weight]
      var state: [Float] = [0, 0]
      for (index, gradient) in steps.enumerated() {
        weights.withUnsafeMutableBufferPointer { w in
          state.withUnsafeMutableBufferPointer { s in
            gradient.withUnsafeBufferPointer { g in
              optimizer.update(weights: w, gradients: g, state: s, step: index + 1, rate: 0.1)
            }
          }
        }
      }
      return (weights[0], state)
    }
    // Adam, lr 0.1, wd 0.5, w = 1: step 1, g = 0.2 + 0.5·1 = 0.7: m = 0.07, v = 0.00049,
    // m̂ = 0.7, v̂ = 0.49, w = 1 − 0.1·0.7/(0.7 + 1e-8) = 0.9 (to 1e-8).
    // Step 2, g = −0.4 + 0.5·0.9 = 0.05: m = 0.063 + 0.005 = 0.068, v = 0.00048951 + 0.0000025
    // = 0.00049201; m̂ = 0.068/0.19, v̂ = 0.00049201/0.001999, w = 0.9 − 0.1·m̂/(√v̂ + 1e-8).
    let adam = Optimizer.adam(learningRate: 0.1, weightDecay: 0.5)
    let (w, state) = run(adam, steps: [[0.2], [-0.4]], weight: 1)
    let m = 0.068
    let v = 0.00049201
    let expected = 0.9 - 0.1 * (m / 0.19) / ((v / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)
    #expect(abs(Double(state[0]) - m) < 1e-7 && abs(Double(state[1]) - v) < 1e-9)
    #expect(abs(Double(w) - expected) < 1e-6, "\(w) vs \(expected)")
    // AdamW, lr 0.1, wd 0.5: w = 1·(1 − 0.05) = 0.95 first, then g = 0.2 alone: m̂ = 0.2,
    // v̂ = 0.04, w = 0.95 − 0.1·0.2/(0.2 + 1e-8).
    let adamW = Optimizer.adam(learningRate: 0.1, weightDecay: 0.5, decoupled: true)
    let (decoupled, _) = run(adamW, steps: [[0.2]], weight: 1)
    #expect(abs(Double(decoupled) - (0.95 - 0.1 * 0.2 / (0.2 + 1e-8))) < 1e-6)
  }
}
