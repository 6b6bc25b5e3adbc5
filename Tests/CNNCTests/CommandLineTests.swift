import Foundation
import Testing

/// Runs the built `cnnc` as a process, the way a user does.
@Suite struct CommandLineTests {
  struct Run {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// The `cnnc` binary built beside this test bundle.
  static let executable = URL(fileURLWithPath: CommandLine.arguments[0])
    .deletingLastPathComponent().appendingPathComponent("cnnc")

  static func run(
    _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]
  ) throws -> Run {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty {
      process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    process.currentDirectoryURL = packageRoot
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting, so a large output cannot block the child.
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Run(
      status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
      stderr: String(decoding: errData, as: UTF8.self))
  }

  static func temporaryFile(_ text: String, name: String = "spec.yaml") throws -> String {
    let folder = TestFiles.newURL()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url.path
  }

  /// An argument that is not UTF-8 is refused with its bytes shown, before anything runs:
  /// Swift's decoding made `--out o\xFF.safetensors` write `o\u{FFFD}.safetensors`.
  @Test func anArgumentThatIsNotUTF8IsRefused() throws {
    let folder = try Self.temporaryFile("", name: "unused")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    // The shell passes the bytes as they are; Process would take a String.
    process.arguments = [
      "-c", #"exec "$0" run "$1" --train --steps 1 --out "$(printf 'o\377.safetensors')""#,
      Self.executable.path, packageRoot.path + "/Models/lenet.yaml",
    ]
    process.currentDirectoryURL = URL(fileURLWithPath: folder).deletingLastPathComponent()
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 1)
    #expect(
      stderr
        == #"error: argument 7 is not UTF-8 ("o\xFF.safetensors"); cnnc takes file names and values in UTF-8"#
        + "\n")
    let written = try FileManager.default.contentsOfDirectory(
      atPath: process.currentDirectoryURL!.path)
    #expect(written == ["unused"], "\(written)")
  }

  /// A negative --batch gets one message from every command that takes it (check once said
  /// "Missing value for '--batch <batch>'", taking -1 for an option).
  @Test func aNegativeBatchIsRefusedAlikeByEveryCommand() throws {
    for command in ["check", "run", "bench"] {
      let run = try Self.run([command, "Models/lenet.yaml", "--batch", "-1"])
      #expect(run.status == 64, "\(command)")
      #expect(run.stderr.contains("--batch must be between 1 and"), "\(command): \(run.stderr)")
    }
  }

  @Test func lenetTable() throws {
    let run = try Self.run(["check", "Models/lenet.yaml"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("431,080"))
    #expect(run.stdout.contains("conv2  conv     pool1   50×8×8"))
    #expect(run.stderr.isEmpty)
  }

  @Test(arguments: [
    "allconv.yaml", "inception.yaml", "residual.yaml", "alexnet.yaml", "vgg16.yaml",
  ])
  func everyModelChecks(_ model: String) throws {
    let run = try Self.run(["check", "Models/\(model)"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(!run.stderr.contains("error"))
  }

  @Test func json() throws {
    let run = try Self.run(["check", "Models/lenet.yaml", "--json"])
    #expect(run.status == 0)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(object["params"] as? Int == 431_080)
    #expect(object["input"] as? [Int] == [1, 28, 28])
    let layers = try #require(object["layers"] as? [[String: Any]])
    #expect(layers.count == 8)
    #expect(layers[2]["output"] as? [Int] == [50, 8, 8])
    #expect(layers[2]["inputs"] as? [String] == ["pool1"])
    #expect((object["errors"] as? [Any])?.isEmpty == true)
  }

  @Test func jsonOfAnInvalidSpecKeepsWhatWasInferred() throws {
    let path = try Self.temporaryFile(
      "input: [1, 4, 4]\nlayers:\n  - {type: relu, name: r}\n  - {type: conv, name: c3, filters: 2, kernel: 5}\n"
    )
    let run = try Self.run(["check", path, "--json"])
    #expect(run.status == 1)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let errors = try #require(object["errors"] as? [[String: Any]])
    #expect(errors.first?["line"] as? Int == 4)
    #expect(errors.first?["column"] as? Int == 5)
    let layers = try #require(object["layers"] as? [[String: Any]])
    #expect(layers.first?["output"] as? [Int] == [1, 4, 4])
    #expect(layers.last?["output"] is NSNull)
    #expect(object["name"] as? String == "spec")
  }

  @Test func errorsInCompilerForm() throws {
    let path = try Self.temporaryFile(
      "input: [1, 4, 4]\nlayers:\n  - {type: relu}\n  - {type: conv, name: c3, filters: 2, kernel: 5}\n",
      name: "lenet.yaml")
    let run = try Self.run(["check", path])
    #expect(run.status == 1)
    #expect(run.stdout.isEmpty)
    #expect(
      run.stderr.contains(
        "lenet.yaml:4:5: error: conv 'c3': kernel 5×5 does not fit its 4×4 input (output height floor((4 − 5 + 2·0)/1) + 1 = 0)\n  - {type: conv, name: c3, filters: 2, kernel: 5}\n    ^"
      ))
  }

  @Test func dot() throws {
    let run = try Self.run(["check", "Models/inception.yaml", "--dot"])
    #expect(run.status == 0)
    #expect(run.stdout.hasPrefix("digraph \"inception\" {"))
    #expect(run.stdout.contains("-> n12 [label=\"16×14×14\"]"))  // b1 into mixed
    #expect(run.stdout.hasSuffix("}\n"))
  }

  @Test func usageErrorsExit64() throws {
    #expect(try Self.run(["check"]).status == 64)
    #expect(try Self.run(["check", "Models/lenet.yaml", "--frobnicate"]).status == 64)
  }

  @Test func missingFile() throws {
    let run = try Self.run(["check", "Models/nope.yaml"])
    #expect(run.status == 1)
    #expect(run.stderr.contains("Models/nope.yaml: the file does not exist"))
  }

  @Test func memoryFiguresAtABatch() throws {
    let run = try Self.run(["check", "Models/lenet.yaml", "--batch", "64"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("memory, batch 64"))
    #expect(run.stdout.contains("inference"))
    #expect(run.stdout.contains("training"))

    let json = try Self.run(["check", "Models/lenet.yaml", "--batch", "64", "--json"])
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let memory = try #require(object["memory"] as? [String: Any])
    #expect(memory["batch"] as? Int == 64)
    for mode in ["inference", "training"] {
      let figures = try #require(memory[mode] as? [String: Int])
      let (arena, naive, bound) = (
        try #require(figures["arena_bytes"]), try #require(figures["naive_bytes"]),
        try #require(figures["lower_bound_bytes"])
      )
      #expect(bound <= arena && arena <= naive)
      #expect(Double(arena) <= 1.10 * Double(bound))
    }
  }

  @Test func planListing() throws {
    let run = try Self.run(["check", "Models/lenet.yaml", "--plan", "--batch", "2"])
    #expect(run.status == 0)
    #expect(run.stdout.contains("training plan, batch 2, 15 steps"))
    #expect(run.stdout.contains("conv1: conv forward"))
    #expect(run.stdout.contains("softmax cross-entropy"))
    #expect(run.stdout.contains("buffer lifetimes"))
    let inference = try Self.run(["check", "Models/lenet.yaml", "--plan", "--mode", "inference"])
    #expect(inference.stdout.contains("inference plan, batch 1, 8 steps"))
    #expect(try Self.run(["check", "Models/lenet.yaml", "--batch", "0"]).status == 64)
  }

  @Test func longListsOfErrorsAreCappedButCounted() throws {
    let keys = (0..<150).map { "k\($0): 1" }.joined(separator: ", ")
    let path = try Self.temporaryFile("input: [1, 2, 2]\nlayers: [{type: relu, \(keys)}]\n")
    let run = try Self.run(["check", path])
    #expect(run.status == 1)
    #expect(run.stderr.contains("… and 50 more not shown"))
    #expect(run.stderr.contains("150 errors in"))
    let json = try Self.run(["check", path, "--json"])
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    #expect((object["errors"] as? [Any])?.count == 150)
  }
}
