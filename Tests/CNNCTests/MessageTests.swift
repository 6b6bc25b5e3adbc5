import Foundation
import Testing

@testable import CNNC

/// Bad input of the kinds a hurried user gives gets a message that names the place and the
/// problem.
@Suite struct MessageTests {
  typealias CLI = CommandLineTests

  @Test func aNegativeCountIsOutOfRangeNotMissing() throws {
    let (spec, _) = try RunCommandTests.specFile()
    let run = try CLI.run(["run", spec, "--train", "--batch", "-1"])
    #expect(run.status == 64)
    #expect(run.stderr.contains("--batch must be between 1 and"), "\(run.stderr)")
    let bench = try CLI.run(["bench", spec, "--threads", "-2"])
    #expect(bench.stderr.contains("--threads must be between 1 and 256"), "\(bench.stderr)")
  }

  @Test func aFolderGivenAsTheSpec() throws {
    let folder = (try CLI.temporaryFile("", name: "x") as NSString).deletingLastPathComponent
    let run = try CLI.run(["check", folder])
    #expect(run.status == 1)
    #expect(run.stderr.contains("\(folder): the file is a directory"), "\(run.stderr)")
  }

  @Test func dataThatDoesNotFitTheInputNamesTheSpecLine() throws {
    let spec = try CLI.temporaryFile(
      smallNet.replacingOccurrences(of: "input: [1, 28, 28]", with: "input: [3, 28, 28]"),
      name: "rgb.yaml")
    let run = try CLI.run(["run", spec, "--train", "--steps", "1"])
    #expect(run.status == 1)
    #expect(
      run.stderr.contains(
        "\(spec):2:8: error: the network's input 3×28×28 does not fit the data's 1×28×28 images"),
      "\(run.stderr)")
  }

  @Test func aBatchLargerThanTheDataNamesBoth() throws {
    let (spec, _) = try CrashSafetyTests.smallSpec()
    let run = try CLI.run(["run", spec, "--train", "--batch", "1000"])
    #expect(run.status == 1)
    #expect(
      run.stderr.contains("\(spec): batch 1000 (--batch) is larger than the 640 training images"),
      "\(run.stderr)")
  }

  @Test func resumingARunThatIsDoneSaysSo() throws {
    let (spec, folder) = try CrashSafetyTests.smallSpec()
    let path = folder + "/done.safetensors"
    #expect(try CLI.run(["run", spec, "--train", "--steps", "3", "--out", path]).status == 0)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let run = try CLI.run(["run", spec, "--train", "--steps", "3", "--resume", path, "--out", path])
    #expect(run.status == 0)
    #expect(run.stderr.contains("nothing to train: \(path) is at step 3"), "\(run.stderr)")
    #expect(!run.stdout.contains("nan"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    // Resumed into another --out: the state is written there, and the summary names it.
    let copy = folder + "/copy.safetensors"
    let json = try CLI.run([
      "run", spec, "--train", "--steps", "3", "--resume", path, "--out", copy, "--json",
    ])
    #expect(json.status == 0, "\(json.stderr)")
    #expect(json.stdout.contains("\"checkpoint\":\"\(copy)\""), "\(json.stdout)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
  }

  @Test func aDivergingLossNamesTheLearningRate() throws {
    let network = try InferredNetwork(yaml: smallNet)
    var options = TrainingOptions(try #require(network.train))
    options.optimizer = .sgd(learningRate: 1e30)
    let trainer = try Trainer(network: network, data: try trainingSlice(64), options: options)
    var message = ""
    do {
      for _ in 0..<5 { try trainer.trainStep() }
    } catch {
      message = "\(error)"
    }
    #expect(message.contains("the learning rate is 9.99925e+29; a rate that large"), "\(message)")
  }
}
