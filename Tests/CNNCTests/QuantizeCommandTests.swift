import Foundation
import Testing

@testable import CNNC

/// `cnnc quantize` as a user runs it.
@Suite struct QuantizeCommandTests {
  typealias CLI = CommandLineTests

  /// LeNet's test checkpoint quantized on 5 images into its folder: (int8 path, float path).
  static func int8Checkpoint(named name: String) throws -> (int8: String, float: String) {
    let (weights, folder) = try CompileCommandTests().checkpoint(of: "lenet.yaml")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let int8 = folder + "/\(name).safetensors"
    let run = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", weights, "--calibration", "5",
      "--test-images", "5", "-o", int8,
    ])
    #expect(run.status == 0, "\(run.stderr)")
    return (int8, weights)
  }

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
    let (int8, _) = try Self.int8Checkpoint(named: "int8")
    let again = try CLI.run([
      "quantize", "Models/lenet.yaml", "--weights", int8, "--calibration", "5",
      "--test-images", "5",
    ])
    #expect(again.status == 1)
    #expect(
      again.stderr.contains("an int8 checkpoint (cnnc quantize); cnnc quantize takes the float"))
  }

  /// An int8 checkpoint through `cnnc bench --weights` (timed beside the float network) and
  /// `cnnc export` (a QDQ model); a float checkpoint is not something bench times.
  @Test func benchesAndExportsAnInt8Checkpoint() throws {
    let (int8, weights) = try Self.int8Checkpoint(named: "bench-int8")
    let bench = try CLI.run([
      "bench", "Models/lenet.yaml", "--weights", int8, "--batch", "8", "--repeats", "1", "--json",
    ])
    #expect(bench.status == 0, "\(bench.stderr)")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
    #expect((object["int8_images_per_second"] as? Double ?? 0) > 0)
    #expect((object["float_images_per_second"] as? Double ?? 0) > 0)
    #expect(object["batch"] as? Int == 8)
    let float = try CLI.run(["bench", "Models/lenet.yaml", "--weights", weights])
    #expect(float.status == 1)
    #expect(float.stderr.contains("not an int8 checkpoint"), "\(float.stderr)")
    let model = int8.replacingOccurrences(of: ".safetensors", with: ".onnx")
    let export = try CLI.run(["export", "Models/lenet.yaml", "--weights", int8, "-o", model])
    #expect(export.status == 0, "\(export.stderr)")
    #expect(export.stdout.contains("4 int8 steps of 5 (QDQ)"), "\(export.stdout)")
    #expect(FileManager.default.fileExists(atPath: model))
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
