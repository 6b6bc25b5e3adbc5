import Foundation
import Testing

@testable import CNNC

/// Post-training int8 quantization over the device plan: calibration, the integer steps, and the
/// report's measures.
@Suite struct QuantizationTests {
  /// MNIST image `index` of `split`, scaled as the shipped specs scale it.
  static func image(_ split: LabelledImages, _ index: Int) -> [Float] {
    split.images[(index * 784)..<((index + 1) * 784)].map { Float($0) * 0.00390625 }
  }

  @Test func lenetInInt8AgreesWithFloat() throws {
    let folder = TestFiles.newURL().path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let weights = folder + "/lenet.safetensors"
    let training = try CommandLineTests.run([
      "run", "Models/lenet.yaml", "--train", "--steps", "300", "--out", weights,
    ])
    #expect(training.status == 0, "\(training.stderr)")
    let network = try InferredNetwork(
      yaml: try String(contentsOfFile: modelPath("lenet.yaml"), encoding: .utf8))
    let layout = try network.parameterLayout()
    let values = try Checkpoints.values(at: weights, layout.slots, floats: layout.floats)
    let plan = try DevicePlan(network, parameters: values)
    let mnist = try MNIST(folder: modelPath("data/mnist"))
    let quantized = try QuantizedNetwork(
      plan, calibration: (0..<200).map { Self.image(mnist.train, $0) })
    // Only the softmax runs in float; every other step in int8.
    #expect(quantized.floatSteps == [plan.steps.count - 1])
    let report = QuantizationReport.measure(
      quantized, images: (0..<500).map { Self.image(mnist.test, $0) },
      labels: (0..<500).map { Int(mnist.test.labels[$0]) })
    #expect(report.agreement >= 0.99, "\(report)")
    #expect(abs(report.floatAccuracy - report.int8Accuracy) <= 0.01, "\(report)")
    #expect(report.floatAccuracy > 0.9)
    for step in report.steps {
      #expect(step.sqnr > 25, "\(step)")
    }
  }

  /// A dense layer worked by hand: inputs on the int8 grid, weights exactly ±127 steps, so the
  /// integer result is the float one to the output's rounding.
  @Test func aDenseLayerByHand() throws {
    let network = try InferredNetwork(
      yaml: "input: [2, 1, 1]\nlayers:\n  - {type: dense, name: fc, units: 1}\n")
    // weight [1, 2] = (0.5, -0.25), bias 0.1
    let plan = try DevicePlan(
      network,
      parameters: [0.5, -0.25] + [Float](repeating: 0, count: 14) + [0.1]
        + [Float](repeating: 0, count: 15))
    // Calibration spans inputs in [-1, 1] and outputs in [-1, 1].
    let quantized = try QuantizedNetwork(plan, calibration: [[1, -1], [-1, 1]])
    let input = quantized.input
    #expect(input.zeroPoint == 0 || input.zeroPoint == -1 || input.zeroPoint == 1)
    for x in [[Float(0.5), 0.25], [-0.75, 1], [0, 0]] {
      let exact = 0.5 * x[0] - 0.25 * x[1] + 0.1
      let result = quantized.run(x).output[0]
      // Input rounding (half a step each, times |w|) plus the output's half step.
      let bound = input.scale / 2 * 0.75 + quantized.outputs[0].scale / 2 + 1e-6
      #expect(abs(result - exact) <= bound, "\(x): \(result) against \(exact)")
    }
  }

  @Test func layersKeptInFloatByName() throws {
    let network = try InferredNetwork(
      yaml: try String(contentsOfFile: modelPath("lenet.yaml"), encoding: .utf8))
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let images = (0..<4).map { seed in
      var generator = SplitMix64(seed: UInt64(seed))
      return (0..<784).map { _ in Float(generator.next() >> 40) / Float(1 << 24) }
    }
    let kept = try QuantizedNetwork(plan, calibration: images, keepFloat: ["conv2"])
    #expect(kept.floatSteps == [1, plan.steps.count - 1])
    #expect(throws: QuantizationError.self) {
      try QuantizedNetwork(plan, calibration: images, keepFloat: ["conv9"])
    }
  }

  /// Random networks (every layer type, odd shapes): the int8 network follows the float one.
  @Test func randomNetworksFollowTheFloatNetwork() throws {
    var generator = SplitMix64(seed: 77)
    var tested = 0
    while tested < 24 {
      guard let yaml = CompiledCDifferentialTests.randomSpec(&generator),
        let network = try? InferredNetwork(yaml: yaml)
      else { continue }
      tested += 1
      let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
      let count = plan.inputFloats
      let images = (0..<24).map { _ in
        (0..<count).map { _ in Float(generator.next() >> 40) / Float(1 << 24) }
      }
      let quantized = try QuantizedNetwork(plan, calibration: Array(images.prefix(16)))
      let report = QuantizationReport.measure(
        quantized, images: Array(images.suffix(8)), labels: [Int](repeating: 0, count: 8))
      let last = try #require(report.steps.last)
      #expect(last.sqnr > 15, "\(yaml)\n\(report.steps)")
    }
  }
}

/// Int8 checkpoints: what `cnnc quantize -o` writes reads back as the same network, and a file
/// that does not fit is refused by name.
@Suite struct Int8CheckpointTests {
  static func randomImages(_ count: Int, floats: Int, seed: UInt64) -> [[Float]] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in
      (0..<floats).map { _ in Float(generator.next() >> 40) / Float(1 << 24) }
    }
  }

  static func quantized(_ model: String) throws -> (InferredNetwork, QuantizedNetwork) {
    let network = try InferredNetwork(
      yaml: try String(contentsOfFile: modelPath(model), encoding: .utf8))
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let images = randomImages(8, floats: plan.inputFloats, seed: 3)
    return (network, try QuantizedNetwork(plan, calibration: images, keepFloat: []))
  }

  @Test(arguments: ["lenet.yaml", "inception.yaml", "mobilenet-mnist.yaml", "allconv-bn.yaml"])
  func readsBackBitForBit(_ model: String) throws {
    let (network, quantized) = try Self.quantized(model)
    let file = try SafeTensors.decode(quantized.checkpoint.encoded(), file: "int8")
    let read = try QuantizedNetwork(network, checkpoint: file, path: "int8")
    #expect(read.floatSteps == quantized.floatSteps)
    for image in Self.randomImages(2, floats: quantized.plan.inputFloats, seed: 11) {
      #expect(read.run(image).output == quantized.run(image).output)
    }
  }

  @Test func aKeptFloatStepCarriesItsFloatConstants() throws {
    let network = try InferredNetwork(
      yaml: try String(contentsOfFile: modelPath("lenet.yaml"), encoding: .utf8))
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let quantized = try QuantizedNetwork(
      plan, calibration: Self.randomImages(4, floats: 784, seed: 5), keepFloat: ["fc1"])
    let checkpoint = quantized.checkpoint
    #expect(checkpoint["fc1.weight"]?.dtype == .f32)
    #expect(checkpoint["conv1.weight"]?.dtype == .i8)
    #expect(checkpoint.metadata["float_steps"] == "fc1,prob")
    let read = try QuantizedNetwork(
      network, checkpoint: try SafeTensors.decode(checkpoint.encoded(), file: "x"), path: "x")
    let image = Self.randomImages(1, floats: 784, seed: 8)[0]
    #expect(read.run(image).output == quantized.run(image).output)
  }

  @Test func filesThatDoNotFitAreRefusedByName() throws {
    let (network, quantized) = try Self.quantized("lenet.yaml")
    func refusal(_ change: (inout SafeTensors) -> Void) -> String {
      var file = quantized.checkpoint
      change(&file)
      do {
        _ = try QuantizedNetwork(
          network, checkpoint: try SafeTensors.decode(file.encoded(), file: "q"), path: "q")
        return "accepted"
      } catch {
        return "\(error)"
      }
    }
    #expect(
      refusal { $0.tensors.removeAll { $0.name == "conv2.bias" } }.contains(
        "'conv2.bias' is missing"))
    #expect(
      refusal { $0.metadata["format"] = "cnnc-int8-2" }.contains("'cnnc-int8-2' is not cnnc-int8-1")
    )
    #expect(
      refusal { $0.metadata["float_steps"] = "prob,garbage" }.contains("'garbage' in float_steps"))
    // Values each in range but not what the scales make: a shift off by one, a transposed shape.
    #expect(
      refusal { file in
        let index = file.tensors.firstIndex { $0.name == "conv1.shift" } ?? 0
        let shifts = (file.tensors[index].int32s ?? []).map { $0 + 1 }
        file.tensors[index] = .init(name: "conv1.shift", shape: [shifts.count], int32s: shifts)
      }.contains("are not its input scale × weight scale / output scale"))
    #expect(
      refusal { file in
        let index = file.tensors.firstIndex { $0.name == "fc1.weight" } ?? 0
        file.tensors[index].shape = [800, 500]
      }.contains("the network needs I8 [500, 800]"))
    #expect(refusal { $0.metadata["float_steps"] = "" }.contains("step 'prob' has no int8 form"))
    #expect(
      refusal { file in
        let index = file.tensors.firstIndex { $0.name == "fc1.multiplier" } ?? 0
        file.tensors[index] = .init(
          name: "fc1.multiplier", shape: [500], int32s: [Int32](repeating: 5, count: 500))
      }.contains("is not a requantization"))
    #expect(
      refusal { file in
        let index = file.tensors.firstIndex { $0.name == "conv1.weight" } ?? 0
        file.tensors[index] = .init(name: "conv1.weight", shape: [3], int8s: [1, 2, 3])
      }.contains("'conv1.weight' is I8 [3]"))
  }

  /// A step that keeps its input's mapping (a pooling, a ReLU, a copy) must have it in the file:
  /// the kernels never read it, ONNX export does.
  @Test func aKeptMappingThatDiffersIsRefused() throws {
    let (network, quantized) = try Self.quantized("inception.yaml")
    let kept = try #require(
      quantized.plan.steps.indices.first { index in
        switch quantized.plan.steps[index].operation {
        case .pooling, .activation, .copy: !quantized.floatSteps.contains(index)
        default: false
        }
      })
    let name = network.layers[quantized.plan.steps[kept].layers[0]].name
    var file = quantized.checkpoint
    let index = try #require(file.tensors.firstIndex { $0.name == "\(name).output_scale" })
    file.tensors[index] = .init(
      name: "\(name).output_scale", shape: [1], values: [quantized.outputs[kept].scale * 2])
    #expect(throws: QuantizationError.self) {
      try QuantizedNetwork(
        network, checkpoint: try SafeTensors.decode(file.encoded(), file: "q"), path: "q")
    }
  }

  @Test func runEvaluatesAnInt8Checkpoint() throws {
    // A dense network over MNIST, so that evaluating the whole test set in the reference is quick.
    let spec = try CommandLineTests.temporaryFile(
      """
      name: tiny
      input: [1, 28, 28]
      layers:
        - {type: dense, name: fc, units: 10}
        - {type: softmax, name: prob}
      train:
        data: {format: mnist, path: \(modelPath("data/mnist")), scale: 0.00390625}
        batch: 64
        seed: 1
      """)
    let folder = TestFiles.newURL().path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let (float, int8) = (folder + "/tiny.safetensors", folder + "/tiny-int8.safetensors")
    let training = try CommandLineTests.run([
      "run", spec, "--train", "--steps", "50", "--out", float,
    ])
    #expect(training.status == 0, "\(training.stderr)")
    let quantize = try CommandLineTests.run([
      "quantize", spec, "--weights", float, "--calibration", "100", "-o", int8,
    ])
    #expect(quantize.status == 0, "\(quantize.stderr)")
    let run = try CommandLineTests.run(["run", spec, "--weights", int8])
    #expect(run.status == 0, "\(run.stderr)")
    // The report's int8 accuracy over the whole test set is what run measures.
    func figure(after marker: String, in text: String) -> String? {
      guard let range = text.range(of: marker) else { return nil }
      return String(text[range.upperBound...].prefix { $0 != "%" })
    }
    let reported = figure(after: "int8 ", in: quantize.stdout)
    let measured = figure(after: "test accuracy ", in: run.stdout)
    #expect(reported != nil && reported == measured, "\(quantize.stdout)\n\(run.stdout)")
  }
}
