import Foundation
import Testing

@testable import CNNC

@Suite struct ModelTests {
  static func load(_ name: String) throws -> CheckResult {
    let data = try #require(FileManager.default.contents(atPath: modelPath(name)))
    return SpecChecker.check(Array(data), name: name)
  }

  @Test(arguments: [
    "lenet.yaml", "allconv.yaml", "inception.yaml", "residual.yaml", "alexnet.yaml", "vgg16.yaml",
    "resnet20.yaml", "mobilenet-cifar.yaml",
  ])
  func everyModelIsValid(_ name: String) throws {
    let result = try Self.load(name)
    #expect(result.isValid, "\(result.diagnostics.errors)")
  }

  @Test func lenetMatchesCaffe() throws {
    let network = try #require(try Self.load("lenet.yaml").network)
    #expect(network.parameterCount == 431_080)
    #expect(
      network.layers.map { $0.output?.description } == [
        "20×24×24", "20×12×12", "50×8×8", "50×4×4", "500×1×1", "500×1×1", "10×1×1", "10×1×1",
      ])
    // 2·(25·20·576 + 500·50·64 + 800·500 + 500·10)
    #expect(network.flops == 4_586_000)
  }

  @Test func publishedParameterCounts() throws {
    #expect(try Self.load("alexnet.yaml").network?.parameterCount == 61_100_840)
    #expect(try Self.load("vgg16.yaml").network?.parameterCount == 138_357_544)
  }

  @Test func inceptionAndResidualBlocks() throws {
    let inception = try #require(try Self.load("inception.yaml").network)
    #expect(inception.layer(named: "mixed")?.output == Shape(channels: 48, height: 14, width: 14))
    let residual = try #require(try Self.load("residual.yaml").network)
    #expect(residual.layer(named: "res_sum")?.inputs == [.layer(2), .layer(5)])
  }

  /// He et al.'s ResNet-20 for CIFAR: 0.27M parameters (272,474 with the 1×1 projections and
  /// batchnorm's affine weights), 8×8×64 before the pooling; ~41M multiply-adds per image.
  @Test func resnet20HasThePapersShape() throws {
    let network = try #require(try Self.load("resnet20.yaml").network)
    #expect(network.parameterCount == 272_474)
    #expect(network.layer(named: "s3b3_relu")?.output == Shape(channels: 64, height: 8, width: 8))
    #expect(network.layers.filter { $0.typeName == "conv" }.count == 21)  // 19 3×3 and 2 1×1
    #expect(network.flops == 82_027_776)
  }

  /// The CIFAR models train: a few SGD steps on 16 synthetic images whose brightness gives the
  /// label lower the loss (at the learning rate 0.01: the specs' 0.1 is for batches of 64).
  @Test(
    .enabled(
      if: isOptimizedBuild,
      "16 GFLOP of training: minutes in unoptimised (debug) builds, seconds in release"),
    arguments: ["resnet20.yaml", "mobilenet-cifar.yaml"])
  func cifarModelsTrainAFewSteps(_ name: String) throws {
    let network = try #require(try Self.load(name).network)
    var options = TrainingOptions(try #require(network.train))
    options.batch = 8
    options.optimizer = .sgd(learningRate: 0.01, momentum: 0.9)
    let labels = (0..<16).map { UInt8($0 % 4) }
    var generator = SplitMix64(seed: 3)
    let images = labels.flatMap { label in
      (0..<(3 * 32 * 32)).map { _ in
        UInt8(Int(label) * 60 + Int.random(in: 0..<40, using: &generator))
      }
    }
    let data = LabelledImages(images: images, labels: labels, channels: 3, rows: 32, columns: 32)
    let trainer = try Trainer(network: network, data: data, options: options)
    var losses: [Float] = []
    for _ in 0..<8 { losses.append(try trainer.trainStep().loss) }
    #expect(losses.allSatisfy { $0.isFinite }, "\(losses)")
    #expect(losses.suffix(2).reduce(0, +) < losses.prefix(2).reduce(0, +), "\(name): \(losses)")
  }
}
