import Foundation
import Testing

@testable import CNNC

/// Hardening: outputs never replace what is not a regular file, and a plan too large for memory
/// is an error, not an abort.
@Suite struct OutputSafetyTests {
  typealias CLI = CommandLineTests

  /// A FIFO, a symbolic link and a directory at --out are refused before training, and are
  /// left as they were.
  @Test func outRefusesWhatIsNotARegularFile() throws {
    let (spec, folder) = try RunCommandTests.specFile()
    let fifo = folder + "/fifo"
    #expect(mkfifo(fifo, 0o644) == 0)
    let target = folder + "/target"
    try Data("keep".utf8).write(to: URL(fileURLWithPath: target))
    let link = folder + "/link"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    let directory = folder + "/directory"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    for (path, kind) in [(fifo, "a FIFO"), (link, "a symbolic link"), (directory, "a directory")] {
      let run = try CLI.run(["run", spec, "--train", "--steps", "2", "--out", path])
      #expect(run.status == 1, "\(path): \(run.stderr)")
      #expect(run.stderr.contains("\(path): is \(kind)"), "\(run.stderr)")
      #expect(!run.stderr.contains("step 1"), "refused only after training: \(run.stderr)")
    }
    var status = stat()
    #expect(lstat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
    #expect(lstat(link, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK)
    #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep")
    // The resume file beside the checkpoint is checked as well.
    let checkpoint = folder + "/run.safetensors"
    try FileManager.default.createDirectory(
      atPath: checkpoint + ".resume", withIntermediateDirectories: false)
    let run = try CLI.run(["run", spec, "--train", "--steps", "2", "--out", checkpoint])
    #expect(run.status == 1)
    #expect(run.stderr.contains("\(checkpoint).resume: is a directory"), "\(run.stderr)")
  }

  /// --output (inference outputs) is checked before the evaluation runs.
  @Test func outputRefusesAFIFO() throws {
    let (spec, folder) = try RunCommandTests.specFile()
    let weights = folder + "/w.safetensors"
    let train = try CLI.run(["run", spec, "--train", "--steps", "1", "--out", weights])
    #expect(train.status == 0, "\(train.stderr)")
    let fifo = folder + "/outputs.npy"
    #expect(mkfifo(fifo, 0o644) == 0)
    let run = try CLI.run(["run", spec, "--weights", weights, "--output", fifo])
    #expect(run.status == 1)
    #expect(run.stderr.contains("is a FIFO"), "\(run.stderr)")
    #expect(!run.stdout.contains("test accuracy"))
  }

  @Test func libraryWritesRefuseADirectory() throws {
    let folder = (try CLI.temporaryFile("", name: "x")) + ".d"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    #expect(throws: CheckpointError.self) {
      try NumPyFile.write(rows: 1, columns: 1, values: [1], to: folder)
    }
    #expect(throws: CheckpointError.self) {
      try OutputPath.check(folder + "/missing/file.npy")
    }
    try OutputPath.check(folder + "/new.npy")
  }

  /// A spec that `check` accepts but whose plan cannot fit in memory: an error naming the bytes
  /// and the machine's memory, exit 1, no abort.
  @Test func planTooLargeForMemoryIsAnError() throws {
    let spec = try CLI.temporaryFile(
      smallNet.replacingOccurrences(of: "filters: 4", with: "filters: 2000000"), name: "huge.yaml")
    let run = try CLI.run(["run", spec, "--train", "--steps", "1"])
    #expect(run.status == 1, "\(run.stderr)")
    #expect(run.stderr.contains("bytes"), "\(run.stderr)")
    #expect(run.stderr.contains("memory"), "\(run.stderr)")
    let bench = try CLI.run(["bench", "Models/vgg16.yaml", "--batch", "65536"])
    #expect(bench.status == 1, "\(bench.stderr)")
    #expect(bench.stderr.contains("more than this machine's"), "\(bench.stderr)")
  }

  @Test func executorRefusesAPlanLargerThanMemory() throws {
    let network = try InferredNetwork(
      yaml: "input: [3, 224, 224]\nlayers: [{type: conv, filters: 4096, kernel: 3}]\n")
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 4096))
    #expect(plan.arenaBytes > Memory.physicalBytes)
    #expect(throws: PlanError.self) { try Executor(plan: plan) }
  }
}
