import Foundation
import Testing

@testable import CNNC

/// A run killed at any instant, even in the middle of writing its checkpoint pair, can be
/// resumed, and then ends with the checkpoint an uninterrupted run writes, byte for byte.
@Suite(.serialized) struct CrashSafetyTests {
  typealias CLI = CommandLineTests

  /// A small MNIST-format data set (the first 640 training and 100 test images as raw IDX
  /// files) and a spec that trains on it: processes start in milliseconds, and with batch 32
  /// every 20th step ends an epoch and saves.
  static func smallSpec() throws -> (spec: String, folder: String) {
    let mnist = try #require(shippedMNIST)
    let spec = try CLI.temporaryFile("", name: "small.yaml")
    let folder = (spec as NSString).deletingLastPathComponent
    let data = folder + "/data"
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
    func write(_ name: String, magic: UInt32, dimensions: [Int], bytes: ArraySlice<UInt8>) throws {
      var file = withUnsafeBytes(of: magic.bigEndian) { Array($0) }
      for dimension in dimensions {
        file += withUnsafeBytes(of: UInt32(dimension).bigEndian) { Array($0) }
      }
      file += bytes
      try Data(file).write(to: URL(fileURLWithPath: data + "/" + name))
    }
    for (prefix, split, count) in [("train", mnist.train, 640), ("t10k", mnist.test, 100)] {
      try write(
        "\(prefix)-images-idx3-ubyte", magic: 0x803, dimensions: [count, 28, 28],
        bytes: split.images[0..<(count * 784)])
      try write(
        "\(prefix)-labels-idx1-ubyte", magic: 0x801, dimensions: [count],
        bytes: split.labels[0..<count])
    }
    let text = smallNet.replacingOccurrences(
      of: "path: \(modelPath("data/mnist"))", with: "path: data")
    try Data(text.utf8).write(to: URL(fileURLWithPath: spec))
    return (spec, folder)
  }

  static func bytes(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
  }

  static func temporaries(in folder: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".tmp") }
  }

  static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
    let process = Process()
    process.executableURL = CLI.executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
  }

  /// The fault-injection hook aborts the process at each point of a save; the next run resumes
  /// from whatever the abort left, removes its temporary files, and ends where an uninterrupted
  /// run ends.
  @Test(arguments: ["resume-written", "resume-renamed", "checkpoint-written", "checkpoint-renamed"])
  func anAbortAtEachPointOfASaveResumes(point: String) throws {
    let (spec, folder) = try Self.smallSpec()
    let straight = folder + "/straight.safetensors"
    #expect(
      try CLI.run(["run", spec, "--train", "--epochs", "1000", "--steps", "50", "--out", straight])
        .status == 0)

    let path = folder + "/crashed.safetensors"
    #expect(
      try CLI.run(["run", spec, "--train", "--epochs", "1000", "--steps", "30", "--out", path])
        .status == 0)
    // Resumes at step 30 and aborts inside the save of step 40 (an epoch's end).
    let crashing = try Self.start(
      [
        "run", spec, "--train", "--epochs", "1000", "--steps", "50", "--resume", path, "--out",
        path,
      ],
      environment: ["CNNC_FAULT_AT": point])
    crashing.waitUntilExit()
    #expect(crashing.terminationReason == .uncaughtSignal, "\(point): the hook did not fire")
    if point.hasSuffix("-written") {
      #expect(try !Self.temporaries(in: folder).isEmpty, "\(point): no temporary file was left")
    }
    let resumed = try CLI.run([
      "run", spec, "--train", "--epochs", "1000", "--steps", "50", "--resume", path, "--out", path,
    ])
    #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
    #expect(try Self.bytes(path) == Self.bytes(straight), "\(point)")
    #expect(try Self.temporaries(in: folder).isEmpty, "\(point): stale temporary files remain")
  }

  /// An abort between the two writes of the last save (the resume state at the final step, the
  /// checkpoint still the epoch's before): the next `--resume` has nothing to train, and must
  /// still leave the checkpoint the final step's, as an uninterrupted run writes it.
  @Test func anAbortInTheLastSaveIsRepairedByTheNextResume() throws {
    let (spec, folder) = try Self.smallSpec()
    let straight = folder + "/straight.safetensors"
    let path = folder + "/crashed.safetensors"
    func run(_ steps: String, _ extra: [String] = []) throws -> CLI.Run {
      try CLI.run(["run", spec, "--train", "--epochs", "1000", "--steps", steps] + extra)
    }
    #expect(try run("40", ["--out", straight]).status == 0)
    #expect(try run("20", ["--out", path]).status == 0)
    let crashing = try Self.start(
      [
        "run", spec, "--train", "--epochs", "1000", "--steps", "40", "--resume", path, "--out",
        path,
      ],
      environment: ["CNNC_FAULT_AT": "resume-renamed"])
    crashing.waitUntilExit()
    #expect(crashing.terminationReason == .uncaughtSignal, "the hook did not fire")
    #expect(try Self.bytes(path) != Self.bytes(straight), "the abort left the final checkpoint")
    let resumed = try run("40", ["--resume", path, "--out", path])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.stderr.contains("nothing to train"))
    #expect(try Self.bytes(path) == Self.bytes(straight))
    #expect(
      try Self.bytes(Checkpoints.resumePath(for: path))
        == Self.bytes(Checkpoints.resumePath(for: straight)))
  }

  /// How many kills: under the sanitizers a killed run is there to find memory and thread
  /// errors, which 20 do as well as 100 (the plain suite's 100 find the rare moments).
  #if SANITIZED
    static let randomKills = 20
  #else
    static let randomKills = 100
  #endif

  /// SIGKILL at 100 (sanitized: 20) random moments of a chain of runs with `--log` and `--plot`, each resuming
  /// the last; then one run to the end, which must write what an uninterrupted run writes, a log
  /// with every step once and whole lines, a whole picture, and no temporary file.
  @Test func killedAHundredTimesAtRandomStillEndsTheSame() throws {
    let (spec, folder) = try Self.smallSpec()
    let steps = "3000"
    let straight = folder + "/straight.safetensors"
    #expect(
      try CLI.run(["run", spec, "--train", "--epochs", "1000", "--steps", steps, "--out", straight])
        .status == 0)

    let path = folder + "/killed.safetensors"
    let records = ["--log", folder + "/killed.csv", "--plot", folder + "/killed.svg"]
    var generator = SplitMix64(seed: 42)
    var kills = 0
    var runs = 0
    let deadline = Date().addingTimeInterval(90)
    while kills < Self.randomKills, Date() < deadline {
      let resume = FileManager.default.fileExists(atPath: Checkpoints.resumePath(for: path))
      let process = try Self.start(
        ["run", spec, "--train", "--epochs", "1000", "--steps", steps, "--out", path] + records
          + (resume ? ["--resume", path] : []))
      usleep(UInt32(Int.random(in: 0..<150_000, using: &generator)))
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      runs += 1
      if process.terminationReason == .uncaughtSignal {
        kills += 1
      } else {
        // Finished before the kill, or failed: a failure is a resume that did not work.
        #expect(process.terminationStatus == 0, "run \(runs) exited \(process.terminationStatus)")
        if process.terminationStatus != 0 { return }
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: Checkpoints.resumePath(for: path))
      }
    }
    #expect(kills >= Self.randomKills, "only \(kills) kills in the time allowed")
    print("killed \(kills) of \(runs) runs")
    let resume = FileManager.default.fileExists(atPath: Checkpoints.resumePath(for: path))
    let last = try CLI.run(
      ["run", spec, "--train", "--epochs", "1000", "--steps", steps, "--out", path] + records
        + (resume ? ["--resume", path] : []))
    #expect(last.status == 0, "\(last.stderr)")
    #expect(try Self.bytes(path) == Self.bytes(straight))
    #expect(try Self.temporaries(in: folder).isEmpty)
    let log = try String(contentsOfFile: folder + "/killed.csv", encoding: .utf8)
    let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.first == "step,epoch,loss,running_accuracy,lr,images_per_second")
    #expect(lines.last == "", "the log's last line is cut")
    let rows = lines.dropFirst().dropLast()
    #expect(rows.allSatisfy { $0.split(separator: ",").count == 6 })
    #expect(rows.map { Int($0.prefix { $0 != "," }) } == (1...Int(steps)!).map { $0 })
    let plot = try String(contentsOfFile: folder + "/killed.svg", encoding: .utf8)
    #expect(plot.hasPrefix("<svg") && plot.hasSuffix("</svg>\n"), "the plot is not whole")
  }

  /// A second run on the same checkpoint is refused while the first holds it.
  @Test func aSecondRunOnTheSameCheckpointIsRefused() throws {
    let (spec, folder) = try Self.smallSpec()
    let path = folder + "/shared.safetensors"
    do {
      let lock = try CheckpointLock(checkpoint: path)
      let run = try CLI.run([
        "run", spec, "--train", "--epochs", "1000", "--steps", "2", "--out", path,
      ])
      #expect(run.status == 1)
      #expect(
        run.stderr.contains("another training run (pid \(getpid())) is writing"), "\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: path))
      withExtendedLifetime(lock) {}
    }
    // Released with its owner: the next run may write.
    let after = try CLI.run([
      "run", spec, "--train", "--epochs", "1000", "--steps", "2", "--out", path,
    ])
    #expect(after.status == 0, "\(after.stderr)")
  }
}
