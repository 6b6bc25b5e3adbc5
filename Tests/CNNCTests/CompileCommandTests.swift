import Foundation
import Testing

@testable import CNNC

/// `cnnc compile` as a user runs it: the files it writes, and its refusals, which leave nothing
/// behind.
@Suite struct CompileCommandTests {
  typealias CLI = CommandLineTests

  /// A checkpoint of `model` with small random weights, and a fresh output folder's path.
  func checkpoint(of model: String) throws -> (weights: String, folder: String) {
    let network = try InferredNetwork(
      yaml: try String(contentsOfFile: modelPath(model), encoding: .utf8))
    let layout = try network.parameterLayout()
    let values = try DevicePlanTests.parameters(network)
    let weights = TestFiles.newURL(suffix: ".safetensors").path
    try Data(Checkpoints.tensors(values, layout.slots, metadata: [:]).encoded())
      .write(to: URL(fileURLWithPath: weights))
    return (weights, TestFiles.newURL().path)
  }

  func contents(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
  }

  @Test func writesTheHeaderTheSourceAndTheSelfTest() throws {
    let (weights, folder) = try checkpoint(of: "lenet.yaml")
    let run = try CLI.run([
      "compile", "Models/lenet.yaml", "--weights", weights, "-o", folder, "--test",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(contents(folder) == ["lenet.c", "lenet.h", "lenet_test.c"])
    #expect(run.stdout.contains("arena 14,784 bytes (the plan's lower bound: 14,784)"))
    let header = try String(contentsOfFile: folder + "/lenet.h", encoding: .utf8)
    #expect(header.contains("#define LENET_ARENA_BYTES   14784"))
    #expect(header.contains("#define LENET_INPUT_FLOATS  784"))
    #expect(header.contains("void lenet_run(const float *input, float *output, void *arena);"))
  }

  @Test func refusalsLeaveNothingBehind() throws {
    let (weights, folder) = try checkpoint(of: "lenet.yaml")
    // The spec's name is not a C identifier.
    var run = try CLI.run(["compile", "Models/lenet-adam.yaml", "--weights", weights, "-o", folder])
    #expect(run.status == 1)
    #expect(run.stderr.contains("'lenet-adam' is not a C identifier"))
    #expect(run.stderr.contains("--name lenet_adam"))
    // A checkpoint of another network.
    run = try CLI.run(["compile", "Models/allconv.yaml", "--weights", weights, "-o", folder])
    #expect(run.status == 1)
    #expect(run.stderr.contains("the network has no such parameter"))
    #expect(!FileManager.default.fileExists(atPath: folder))
    // An output that is a file.
    let file = TestFiles.newURL().path
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    run = try CLI.run(["compile", "Models/lenet.yaml", "--weights", weights, "-o", file])
    #expect(run.status == 1)
    #expect(run.stderr.contains("is a file, not a folder"))
    // A folder that cannot be written: nothing of either file appears.
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      atPath: folder + "/lenet.c", withIntermediateDirectories: true)
    run = try CLI.run(["compile", "Models/lenet.yaml", "--weights", weights, "-o", folder])
    #expect(run.status == 1)
    #expect(contents(folder) == ["lenet.c"])
  }
}
