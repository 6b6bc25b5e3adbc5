import Foundation
import Testing

@testable import CNNC
@testable import cnnc

/// The commands called as functions, in this process: they throw what `main` would print
/// (`CommandFailure`, or ArgumentParser's validation errors) instead of exiting, so a test can
/// look at the error itself. `CommandLineTests` runs the built tool for what the user sees.
@Suite struct CommandInProcessTests {
  @Test func aMissingCheckpointIsAFailureNamingIt() throws {
    let command = try RunCommand.parse([modelPath("lenet.yaml"), "--weights", "/nonexistent.st"])
    let failure = #expect(throws: CommandFailure.self) { try command.run() }
    #expect(failure?.description == "error: /nonexistent.st: the file does not exist")
  }

  /// `--step-timeout`'s watchdog ends the process when no step finishes in time, so once a run
  /// is over it must stop: if it did not, this test process would exit 1 within the sleep.
  @Test func aStoppedWatchdogLeavesTheProcessAlone() {
    let watchdog = Watchdog(seconds: 0.2)
    watchdog.touch()
    watchdog.stop()
    Thread.sleep(forTimeInterval: 0.8)
  }

  /// `--batch` and `--threads` are declared once (SharedOptions) and refused alike by every
  /// command that takes them.
  @Test func sharedOptionsHaveOneRule() {
    let commands: [(String, ([String]) throws -> Void)] = [
      ("check", { _ = try CheckCommand.parse($0) }), ("run", { _ = try RunCommand.parse($0) }),
      ("bench", { _ = try BenchCommand.parse($0) }),
    ]
    for (name, parse) in commands {
      for (option, value, message) in [
        ("--batch", "0", "--batch must be between 1 and \(Limits.maximumSize)"),
        ("--threads", "257", "--threads must be between 1 and 256"),
      ] where !(name == "check" && option == "--threads") {
        // run is given --train so that nothing but the option is wrong.
        let arguments =
          ["Models/lenet.yaml"] + (name == "run" ? ["--train"] : []) + [option, value]
        do {
          try parse(arguments)
          Issue.record("\(name) \(option) \(value) was accepted")
        } catch {
          #expect(CNNCCommand.message(for: error) == message, "\(name) \(option)")
          #expect(CNNCCommand.exitCode(for: error) == .validationFailure, "\(name) \(option)")
        }
      }
    }
  }

  /// An import fails before writing anything: a file that is not a model, and a model whose
  /// spec does not pass `cnnc check` (a 9×9 pooling window on 4×4 planes), weights asked for.
  @Test func anImportThatFailsWritesNothing() throws {
    let folder = try DataFileWriters.folder()
    let garbage = folder + "/garbage.onnx"
    try Data([1, 2, 3, 255]).write(to: URL(fileURLWithPath: garbage))
    let unchecked = folder + "/window.onnx"
    try ONNXImportTests.chain(
      [1, 3, 4, 4], [("MaxPool", ["kernel_shape": [9, 9]])], opset: 13
    ).write(to: URL(fileURLWithPath: unchecked))
    for (model, problem) in [
      (garbage, "not an ONNX model"), (unchecked, "the imported spec does not pass cnnc check"),
    ] {
      let command = try ImportCommand.parse([
        model, "-o", folder + "/out.yaml", "--weights", folder + "/out.safetensors",
      ])
      let failure = #expect(throws: CommandFailure.self) { try command.run() }
      #expect(failure?.description.hasPrefix("error: \(model): \(problem)") == true)
    }
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == [
        "garbage.onnx", "window.onnx",
      ])
  }
}
