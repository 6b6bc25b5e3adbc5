import CNNC
import Foundation
import Testing

/// The library as an embedding program uses it: a spec string in, shapes out, no CLI.
@Suite struct EmbeddingTests {
  @Test func inferFromAString() throws {
    let network = try InferredNetwork(
      yaml: """
        name: tiny
        input: {channels: 3, height: 32, width: 32}
        layers:
          - {type: conv, name: c1, filters: 8, kernel: 3, pad: 1}
          - {type: maxpool, name: p1, kernel: 2}
          - {type: conv, name: c2, filters: 16, kernel: [3, 1], stride: [2, 1]}
          - {type: flatten}
          - {type: dense, name: out, units: 10, bias: false}
        """)
    #expect(network.name == "tiny")
    #expect(network.layer(named: "c1")?.output == Shape(channels: 8, height: 32, width: 32))
    #expect(network.layer(named: "p1")?.output == Shape(channels: 8, height: 16, width: 16))
    // floor((16 − 3)/2) + 1 = 7 rows, 16 columns
    #expect(network.layer(named: "c2")?.output == Shape(channels: 16, height: 7, width: 16))
    #expect(network.layer(named: "flatten1")?.output == Shape(channels: 1792, height: 1, width: 1))
    #expect(network.layer(named: "out")?.parameterCount == 17_920)
    #expect(network.layer(named: "c1")?.parameters.map(\.dimensions) == [[8, 3, 3, 3], [8]])
    // c1: 8·3·3·3 + 8; c2: 16·8·3·1 + 16; out: 1792·10
    #expect(network.parameterCount == 224 + 400 + 17_920)
  }

  @Test func errorsAreThrown() {
    #expect(throws: SpecError.self) {
      try InferredNetwork(yaml: "input: [1, 2, 2]\nlayers: [{type: conv, filters: 1, kernel: 3}]\n")
    }
  }

  /// Parse, plan, run a forward pass on a batch, read the outputs: public API only.
  @Test func planAndRunForward() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [1, 6, 6]
        layers:
          - {type: conv, name: c, filters: 2, kernel: 3}
          - {type: global_avgpool}
          - {type: softmax}
        """)
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 4))
    let executor = try Executor(plan: plan)
    let weight = try #require(executor.parameter("c.weight"))
    // Filter 0 sums its window; filter 1 is zero. Bias 0 for both.
    for index in weight.indices { weight[index] = index < 9 ? 1 : 0 }
    for sample in 0..<4 {
      for pixel in 0..<36 { executor.input[sample * 36 + pixel] = Float(sample) / 18 }
    }
    executor.forward()
    #expect(executor.output.count == 8)
    for sample in 0..<4 {
      // Every window sums 9 · sample/18 = sample/2; the softmax of [sample/2, 0].
      let first = executor.output[sample * 2]
      let expected = 1 / (1 + exp(-Float(sample) / 2))
      #expect(abs(first - expected) < 1e-5)
      #expect(abs(first + executor.output[sample * 2 + 1] - 1) < 1e-6)
    }
  }
}

/// Training, resuming and benchmarking from an embedding program: public API only.
@Suite struct SessionEmbeddingTests {
  static func lenet() throws -> (InferredNetwork, MNIST, TrainingOptions) {
    let spec = modelPath("lenet.yaml")
    let network = try InferredNetwork(yaml: try String(contentsOfFile: spec, encoding: .utf8))
    let data = try MNIST(for: network, specPath: spec)
    return (network, data, TrainingOptions(try #require(network.train)))
  }

  static func folder() throws -> String {
    let path = TestFiles.newURL().path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// 50 steps; then 10 more resumed from its checkpoint end bit-identical to 60 straight steps,
  /// and the checkpoint loads into an inference executor. (Evaluated on the first 1,000 test
  /// images: under ThreadSanitizer's debug build this is the suite's longest test.)
  @Test func trainFiftyStepsResumeAndLoad() throws {
    let (network, loaded, base) = try Self.lenet()
    var data = loaded
    data.test.images = Array(data.test.images.prefix(1_000 * data.test.pixelsPerImage))
    data.test.labels = Array(data.test.labels.prefix(1_000))
    let folder = try Self.folder()
    var options = base
    options.maximumSteps = 50
    // Batch 8, not the spec's 64: the same code path, at an eighth of the time under the
    // sanitizers' debug builds (where 120 LeNet steps at 64 took four minutes).
    options.batch = 8
    let first = try TrainingSession(
      network: network, train: data.train, test: data.test, options: options,
      checkpoint: folder + "/first.safetensors")
    let summary = try first.run()
    #expect(summary.steps == 50 && summary.stepsThisRun == 50 && !summary.stopped)
    #expect((summary.testAccuracy ?? 0) > 0.5, "\(String(describing: summary.testAccuracy))")
    #expect(summary.trainLoss.isFinite)

    options.maximumSteps = 60
    let resumed = try TrainingSession(
      network: network, train: data.train, options: options,
      checkpoint: folder + "/resumed.safetensors", resume: folder + "/first.safetensors")
    #expect(resumed.trainer.step == 50)
    let more = try resumed.run()
    #expect(more.steps == 60 && more.stepsThisRun == 10 && more.testAccuracy == nil)
    let straight = try TrainingSession(
      network: network, train: data.train, options: options,
      checkpoint: folder + "/straight.safetensors")
    try straight.run()
    #expect(resumed.trainer.weights.map(\.bitPattern) == straight.trainer.weights.map(\.bitPattern))

    let executor = try Executor(
      plan: try Planner.plan(network, PlanOptions(mode: .inference, batch: 1)))
    try executor.loadWeights(from: folder + "/straight.safetensors")
    #expect(Array(executor.weights) == straight.trainer.weights)
  }

  /// The caller's flag stops the session after the current step; the state is saved there.
  @Test func aStopFlagEndsTheRunAndSaves() throws {
    let (network, data, base) = try Self.lenet()
    let folder = try Self.folder()
    var options = base
    options.maximumSteps = 50
    let stop = StopFlag()
    var steps = 0
    let session = try TrainingSession(
      network: network, train: data.train, options: options,
      checkpoint: folder + "/stopped.safetensors")
    let summary = try session.run(stop: stop) { event in
      if case .step = event {
        steps += 1
        if steps == 7 { stop.set() }
      }
    }
    #expect(summary.stopped && summary.steps == 7)
    let saved = try SafeTensors.read(folder + "/stopped.safetensors")
    #expect(saved.metadata["step"] == "7")
    // The metadata names how each convolution was lowered (LeNet's batch of 64).
    #expect(saved.metadata["lowering"] == "auto")
    #expect(
      saved.metadata["lowerings"]
        == "conv1: forward by GEMM, backward dW direct; "
        + "conv2: forward by Winograd, backward dW batch GEMM, dX GEMM")
    #expect(FileManager.default.fileExists(atPath: folder + "/stopped.safetensors.resume"))
  }

  /// A second session on the same checkpoint is refused while the first is alive.
  @Test func oneSessionPerCheckpoint() throws {
    let (network, data, options) = try Self.lenet()
    let path = try Self.folder() + "/locked.safetensors"
    let first = try TrainingSession(
      network: network, train: data.train, options: options, checkpoint: path)
    #expect(throws: SessionError.self) {
      try TrainingSession(network: network, train: data.train, options: options, checkpoint: path)
    }
    withExtendedLifetime(first) {}
  }

  /// What `cnnc bench` measures, from the library: every figure measured, one row per layer, and
  /// the rows adding up to the reported sum.
  @Test func benchmarkLeNet() throws {
    let (network, _, _) = try Self.lenet()
    let report = try Benchmark(network: network, batch: 8, repeats: 1).run()
    for figure in [
      report.trainImagesPerSecond, report.inferImagesPerSecond, report.batch1LatencyMicroseconds,
      report.stepMilliseconds,
    ] {
      #expect(figure.isFinite && figure > 0)
    }
    #expect(report.layers.map(\.name) == network.layers.map(\.name))
    let sum = report.layers.reduce(report.lossMilliseconds) {
      $0 + $1.forwardMilliseconds + $1.backwardMilliseconds
    }
    #expect(abs(report.layersSumMilliseconds - sum) <= 1e-9 * sum)
    let inferenceOnly = try Benchmark(network: network, batch: 8, repeats: 1, inferenceOnly: true)
      .run()
    #expect(inferenceOnly.trainImagesPerSecond.isNaN && inferenceOnly.layers.isEmpty)
    #expect(inferenceOnly.inferImagesPerSecond > 0)
  }
}
