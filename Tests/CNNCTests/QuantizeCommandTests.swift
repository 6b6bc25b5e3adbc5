import Foundation
import Testing

@testable import CNNC

/// `cnnc quantize` as a user runs it.
@Suite struct QuantizeCommandTests {
  typealias CLI = CommandLineTests

  @Test func reportsEachStepAndBothAccuracies() throws {
    let (weights, _) = try CompileCommandTests().checkpoint(of: "lenet.yaml")
    let run = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", weights, "--calibration", "20",
      "--test-images", "30",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    for line in ["conv1+pool1", "conv2+pool2", "fc1+relu1", "prob (float)", "test accuracy: float"]
    {
      #expect(run.stdout.contains(line), "\(line) in \(run.stdout)")
    }
    #expect(run.stdout.contains("measured on 30 test images"))
    let json = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", weights, "--calibration", "20",
      "--test-images", "10", "--json",
    ])
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect(object["images"] as? Int == 10)
    #expect((object["steps"] as? [Any])?.count == 5)
  }

  @Test func refusesAnInt8CheckpointToQuantizeAgain() throws {
    let (weights, folder) = try CompileCommandTests().checkpoint(of: "lenet.yaml")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let int8 = folder + "/int8.safetensors"
    let first = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", weights, "--calibration", "5",
      "--test-images", "5", "-o", int8,
    ])
    #expect(first.status == 0, "\(first.stderr)")
    let again = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", int8, "--calibration", "5",
      "--test-images", "5",
    ])
    #expect(again.status == 1)
    #expect(
      again.stderr.contains("an int8 checkpoint (cnnc quantize); cnnc quantize takes the float"))
  }

  @Test func refusesAnUnknownLayerToKeepInFloat() throws {
    let (weights, _) = try CompileCommandTests().checkpoint(of: "lenet.yaml")
    let run = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", weights, "--calibration", "5",
      "--test-images", "5", "--keep-float", "conv9",
    ])
    #expect(run.status == 1)
    #expect(run.stderr.contains("--keep-float: the network has no layer 'conv9'"))
  }
}
