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
}
