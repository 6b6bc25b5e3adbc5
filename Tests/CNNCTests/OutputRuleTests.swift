import Foundation
import Testing

@testable import CNNC

/// The one rule for every file cnnc writes (`OutputFile`, `FileConflicts`): no link followed at
/// the temporary name, the target's mode and owner kept, read-only files left alone, stale
/// temporaries of dead writers removed, several files all or none, and no output over an input.
@Suite struct OutputRuleTests {
  typealias CLI = CommandLineTests

  static func text(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  /// A symbolic link planted at the temporary name the writer draws first makes it draw another
  /// name (exclusive creation), not write through the link.
  @Test func aLinkPlantedAtTheTemporaryNameIsNotFollowed() throws {
    let folder = try DataFileWriters.folder()
    let (victim, target) = (folder + "/victim", folder + "/out.yaml")
    try Data("victim".utf8).write(to: URL(fileURLWithPath: victim))
    let planted = folder + "/.out.yaml.\(getpid()).1.tmp"
    try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
    var suffixes: [UInt64] = [1, 2]
    let file = try OutputFile(target, suffixes: { suffixes.removeFirst() })
    #expect(file.temporaryPath == folder + "/.out.yaml.\(getpid()).2.tmp")
    try file.write(Array("new".utf8))
    try file.commit()
    #expect(Self.text(victim) == "victim")
    #expect(Self.text(target) == "new")
    #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: planted)) == victim)
  }

  /// An existing file keeps its permission bits; a new one gets 0666 less the umask; a
  /// read-only file is refused and left as it was.
  @Test func modesAreKeptAndReadOnlyFilesRefused() throws {
    let folder = try DataFileWriters.folder()
    let (private_, readOnly, fresh) = (folder + "/private", folder + "/read-only", folder + "/new")
    for path in [private_, readOnly] {
      try Data("old".utf8).write(to: URL(fileURLWithPath: path))
    }
    #expect(chmod(private_, 0o600) == 0)
    #expect(chmod(readOnly, 0o444) == 0)
    try OutputFile.write(Array("new".utf8), to: private_)
    try OutputFile.write(Array("new".utf8), to: fresh)
    func mode(_ path: String) -> mode_t {
      var status = stat()
      return stat(path, &status) == 0 ? status.st_mode & 0o777 : 0
    }
    #expect(mode(private_) == 0o600 && Self.text(private_) == "new")
    let mask = umask(0)
    umask(mask)
    #expect(mode(fresh) == 0o666 & ~mask)
    #expect {
      try OutputFile.write(Array("new".utf8), to: readOnly)
    } throws: { error in
      "\(error)".contains("is read-only (mode 444)")
    }
    #expect(Self.text(readOnly) == "old" && mode(readOnly) == 0o444)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == [
        "new", "private", "read-only",
      ])
  }

  /// A writer killed mid-write leaves its temporary; the next write of that file removes it,
  /// but never a live writer's, nor other files that look alike.
  @Test func staleTemporariesOfDeadWritersAreRemoved() throws {
    let folder = try DataFileWriters.folder()
    let exited = Process()
    exited.executableURL = URL(fileURLWithPath: "/bin/true")
    try exited.run()
    exited.waitUntilExit()
    let dead = exited.processIdentifier
    let names = [
      ".out.npy.\(dead).9f.tmp", ".out.npy.\(dead).tmp", ".out.npy.\(getpid()).ab.tmp",
      ".out.npy.resume.\(dead).tmp", ".out.npy.\(dead).notes",
    ]
    for name in names { try Data().write(to: URL(fileURLWithPath: folder + "/" + name)) }
    try NumPyFile.write(rows: 1, columns: 1, values: [1], to: folder + "/out.npy")
    let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    #expect(left == (Array(names[2...]) + ["out.npy"]).sorted())
  }

  /// Several files: a bad path among them means none is written.
  @Test func severalFilesAreWrittenAllOrNone() throws {
    let folder = try DataFileWriters.folder()
    #expect(throws: CheckpointError.self) {
      try OutputFile.writeAll([
        (Array("a".utf8), folder + "/a"), (Array("b".utf8), folder + "/missing/b"),
      ])
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    try OutputFile.writeAll([(Array("a".utf8), folder + "/a"), (Array("b".utf8), folder + "/b")])
    #expect(Self.text(folder + "/a") == "a" && Self.text(folder + "/b") == "b")
  }

  /// Every way the hostile probe found to write over an input, and two outputs naming one
  /// file (by the same name, a symbolic link or a hard link): refused before any work, exit 1,
  /// both files named, every input byte-identical afterwards.
  @Test func noOutputOverwritesAnInput() throws {
    let (spec, folder) = try RunCommandTests.specFile()
    let weights = folder + "/w.safetensors"
    let model = folder + "/m.onnx"
    let images = folder + "/images.npy"
    #expect(try CLI.run(["run", spec, "--train", "--steps", "1", "--out", weights]).status == 0)
    #expect(try CLI.run(["export", spec, "--weights", weights, "-o", model]).status == 0)
    try DataFileWriters.npy(
      descr: "<f4", shape: [2, 1, 28, 28],
      body: DataFileWriters.float32Bytes([Float](repeating: 0.5, count: 2 * 784)), to: images)
    let linked = folder + "/linked.safetensors"
    #expect(link(weights, linked) == 0)
    let symbolic = folder + "/symbolic.yaml"
    try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: spec)
    let plot = folder + "/curves.svg"
    let cases: [([String], String)] = [
      (["import", model, "-o", model], "-o is the model"),
      (["import", model, "-o", folder + "/x.yaml", "--weights", model], "--weights is the model"),
      (["export", spec, "--weights", weights, "-o", weights], "-o is --weights"),
      (["check", spec, "--svg", spec], "--svg is the spec"),
      (["run", spec, "--train", "--steps", "1", "--out", spec], "--out is the spec"),
      (["run", spec, "--train", "--steps", "1", "--log", spec], "--log is the spec"),
      (["run", spec, "--train", "--steps", "1", "--plot", spec], "--plot is the spec"),
      (["run", symbolic, "--train", "--steps", "1", "--log", spec], "--log is the spec"),
      (
        [
          "run", spec, "--train", "--steps", "1", "--plot", plot, "--out",
          folder + "/../" + (folder as NSString).lastPathComponent + "/curves.svg",
        ], "--plot and --out"
      ),
      (["run", spec, "--weights", weights, "--output", weights], "--output is --weights"),
      (["run", spec, "--weights", weights, "--output", linked], "(the same file)"),
      (
        ["run", spec, "--weights", weights, "--input", images, "--output", images],
        "--output is --input"
      ),
      (
        ["run", spec, "--train", "--steps", "1", "--weights", weights, "--out", weights],
        "--out is --weights"
      ),
    ]
    let inputs = [spec, weights, model, images]
    let before = try inputs.map(RunCommandTests.bytes)
    for (arguments, message) in cases {
      let run = try CLI.run(arguments)
      #expect(run.status == 1, "\(arguments): \(run.stderr)")
      #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
      #expect(!run.stderr.contains("step 1"), "refused only after training: \(run.stderr)")
    }
    #expect(try inputs.map(RunCommandTests.bytes) == before)
    #expect(!FileManager.default.fileExists(atPath: plot))
    #expect(!FileManager.default.fileExists(atPath: folder + "/x.yaml"))
  }

  /// Found by a hostile review of the first version: the lock file followed a planted link; the
  /// lock holder removed live writers' temporaries; outputs could land inside an image folder
  /// the run reads; an unwritable --out or --plot was found only after training; a resumed run
  /// truncated its log, even when there was nothing to train.
  @Test func lockFoldersPermissionsAndTheLogOfAResumedRun() throws {
    let (spec, folder) = try RunCommandTests.specFile()
    let victim = folder + "/victim"
    try Data("victim".utf8).write(to: URL(fileURLWithPath: victim))
    try FileManager.default.createSymbolicLink(
      atPath: folder + "/.locked.lock", withDestinationPath: victim)
    var run = try CLI.run(["run", spec, "--train", "--steps", "1", "--out", folder + "/locked"])
    #expect(run.status == 1 && run.stderr.contains("is a symbolic link"), "\(run.stderr)")
    #expect(Self.text(victim) == "victim")
    // The lock itself, as a library user meets it: no link followed, nothing written.
    #expect(throws: CheckpointError.self) {
      _ = try CheckpointLock(checkpoint: folder + "/locked")
    }
    #expect(Self.text(victim) == "victim")

    // A live writer's temporary beside the checkpoint survives a training run's start.
    let live = folder + "/.ck.\(getpid()).abcd.tmp"
    try Data().write(to: URL(fileURLWithPath: live))
    let checkpoint = folder + "/ck"
    let log = folder + "/ck.csv"
    run = try CLI.run([
      "run", spec, "--train", "--steps", "2", "--out", checkpoint, "--log", log,
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(FileManager.default.fileExists(atPath: live))
    let firstLog = try #require(Self.text(log))
    #expect(firstLog.split(separator: "\n").count == 3, "\(firstLog)")  // header and two steps

    // Resuming with nothing to train leaves the log alone; resuming further appends to it, after
    // cutting the lines of steps the resumed state does not have (here a made-up step 7, as a
    // kill between a log flush and a save would leave).
    run = try CLI.run([
      "run", spec, "--train", "--steps", "2", "--resume", checkpoint, "--out", checkpoint,
      "--log", log,
    ])
    #expect(run.status == 0 && run.stderr.contains("nothing to train"), "\(run.stderr)")
    #expect(Self.text(log) == firstLog)
    try Data((firstLog + "7,1,0.5,0.5,0.01,100.0\n").utf8).write(to: URL(fileURLWithPath: log))
    run = try CLI.run([
      "run", spec, "--train", "--steps", "3", "--resume", checkpoint, "--out", checkpoint,
      "--log", log,
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let lines = try #require(Self.text(log)).split(separator: "\n")
    #expect(lines.count == 4 && lines[3].hasPrefix("3,"), "\(lines)")

    // Read-only --out and --plot: refused before the first step, nothing written.
    for option in ["--out", "--plot"] {
      let readOnly = folder + "/read-only\(option)"
      try Data("old".utf8).write(to: URL(fileURLWithPath: readOnly))
      #expect(chmod(readOnly, 0o444) == 0)
      let out = folder + "/fresh\(option)"
      let arguments =
        option == "--out"
        ? ["run", spec, "--train", "--steps", "1", "--out", readOnly]
        : ["run", spec, "--train", "--steps", "1", "--out", out, "--plot", readOnly]
      run = try CLI.run(arguments)
      #expect(run.status == 1 && run.stderr.contains("is read-only"), "\(run.stderr)")
      #expect(!run.stderr.contains("step 1"))
      #expect(Self.text(readOnly) == "old")
      #expect(!FileManager.default.fileExists(atPath: readOnly + ".resume"))
      #expect(!FileManager.default.fileExists(atPath: out))
    }

    // Nothing is written inside an image folder the run reads.
    let pictures = try DataErrorTests.pictures()
    let folderSpec = try DataFormatTests.writeSpec(
      "{format: folder, train: pictures}", in: pictures)
    let image = pictures + "/pictures/a/1.png"
    let before = try RunCommandTests.bytes(image)
    run = try CLI.run([
      "run", folderSpec, "--train", "--batch", "2", "--steps", "1", "--out", image,
    ])
    #expect(run.status == 1, "\(run.stderr)")
    #expect(run.stderr.contains("lies inside the data "), "\(run.stderr)")
    run = try CLI.run([
      "run", folderSpec, "--train", "--batch", "2", "--steps", "1", "--out",
      pictures + "/pictures/b/new.safetensors",
    ])
    #expect(run.status == 1 && run.stderr.contains("a folder cnnc reads"), "\(run.stderr)")
    #expect(try RunCommandTests.bytes(image) == before)
    #expect(!FileManager.default.fileExists(atPath: pictures + "/pictures/b/new.safetensors"))
  }
}
