import Foundation
import Testing

@testable import CNNC

/// `cnnc run` as a process: training, interrupting, resuming, evaluating.
@Suite struct RunCommandTests {
  typealias CLI = CommandLineTests

  static func specFile() throws -> (spec: String, folder: String) {
    let spec = try CLI.temporaryFile(smallNet, name: "small.yaml")
    return (spec, (spec as NSString).deletingLastPathComponent)
  }

  static func bytes(_ path: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: path))
  }

  @Test func interruptedAndResumedRunMatchesAnUninterruptedOne() throws {
    let (spec, folder) = try Self.specFile()
    let straight = folder + "/straight.safetensors"
    let run = try CLI.run([
      "run", spec, "--train", "--epochs", "2", "--steps", "2500", "--out", straight, "--json",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    #expect(report["steps"] as? Int == 2500)
    #expect(report["checkpoint"] as? String == straight)
    for key in ["epochs", "train_loss", "test_accuracy", "images_per_second", "seconds"] {
      #expect(report[key] is NSNumber, "\(key)")
    }

    // Interrupt a second run once it is under way, then resume it to the same step count.
    let interrupted = folder + "/interrupted.safetensors"
    let process = Process()
    process.executableURL = CLI.executable
    process.arguments = [
      "run", spec, "--train", "--epochs", "2", "--steps", "2500", "--out", interrupted,
    ]
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = Pipe()
    try process.run()
    // Wait for the first progress line: training has begun and the handler is installed.
    var seen = Data()
    while !String(decoding: seen, as: UTF8.self).contains(" step ") {
      let chunk = errors.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      seen += chunk
    }
    process.interrupt()
    let rest = seen + errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 130, "\(String(decoding: rest, as: UTF8.self))")
    let message = String(decoding: rest, as: UTF8.self)
    #expect(message.contains("interrupted at step"))
    let saved = try SafeTensors.read(interrupted)
    let stoppedAt = try #require(saved.metadata["step"].flatMap { Int($0) })
    #expect(stoppedAt < 2500)

    let resumed = try CLI.run([
      "run", spec, "--train", "--epochs", "2", "--steps", "2500", "--resume", interrupted, "--out",
      interrupted,
    ])
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(try Self.bytes(interrupted) == Self.bytes(straight))
    #expect(
      try Self.bytes(Checkpoints.resumePath(for: interrupted))
        == Self.bytes(Checkpoints.resumePath(for: straight)))
  }

  @Test func outputsMatchTheLibrarysForwardPass() throws {
    let (spec, folder) = try Self.specFile()
    let checkpoint = folder + "/c.safetensors"
    #expect(
      try CLI.run(["run", spec, "--train", "--steps", "20", "--out", checkpoint]).status == 0)
    let npy = folder + "/out.npy"
    let run = try CLI.run(["run", spec, "--weights", checkpoint, "--output", npy, "--json"])
    #expect(run.status == 0, "\(run.stderr)")
    let bytes = [UInt8](try Self.bytes(npy))
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
    #expect(header.contains("'shape': (10000, 10)"))
    let values = stride(from: 10 + headerLength, to: bytes.count, by: 4).map { at in
      Float(
        bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16
          | UInt32(bytes[at + 3]) << 24)
    }
    #expect(values.count == 100_000)

    let network = try InferredNetwork(yaml: smallNet)
    let evaluator = try Evaluator(network: network, batch: 64)
    let weights = try Checkpoints.values(
      of: try SafeTensors.read(checkpoint), path: checkpoint, evaluator.parameters,
      floats: evaluator.parameterFloats)
    let test = try #require(shippedMNIST).test
    let expected = try evaluator.run(
      weights: weights, data: test, scale: 0.00390625, keepOutputs: true)
    #expect(values.count == expected.outputs.count)
    let largest = zip(values, expected.outputs).map { abs($0 - $1) }.max() ?? 1
    #expect(largest < 1e-5, "largest difference \(largest)")
    // Probabilities: each row sums to one.
    #expect(abs(values[0..<10].reduce(0, +) - 1) < 1e-5)
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let accuracy = try #require(report["test_accuracy"] as? Double)
    #expect(abs(accuracy - Double(expected.correct) / 10_000) < 1e-12)
  }

  @Test func corruptCheckpointIsAnErrorNamingTheTensor() throws {
    let (spec, folder) = try Self.specFile()
    let path = folder + "/bad.safetensors"
    try SafeTensors(tensors: [
      .init(name: "conv.weight", shape: [4, 1, 4, 4], values: [Float](repeating: 0, count: 64))
    ])
    .write(to: path)
    let run = try CLI.run(["run", spec, "--weights", path])
    #expect(run.status == 1)
    #expect(run.stderr.contains("tensor 'conv.bias': missing from the file"))
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
    let short = try CLI.run(["run", spec, "--weights", path])
    #expect(short.status == 1)
    #expect(short.stderr.contains("too short"))
  }

  @Test func missingDataAndMissingTrainSection() throws {
    let noTrain = try CLI.temporaryFile("input: [1, 28, 28]\nlayers: [{type: dense, units: 10}]\n")
    let run = try CLI.run(["run", noTrain, "--train"])
    #expect(run.status == 1)
    #expect(run.stderr.contains("no train: section"))
    let badPath = try CLI.temporaryFile(
      "input: [1, 28, 28]\nlayers: [{type: dense, units: 10}]\ntrain: {data: {format: mnist, path: nowhere}}\n"
    )
    let missing = try CLI.run(["run", badPath, "--train"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("MNIST file not found"))
    #expect(try CLI.run(["run", noTrain]).status == 64)
  }
}
