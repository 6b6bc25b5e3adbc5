import Foundation
import Testing

@testable import CNNC

/// Hostile files end in an error, never a crash, a hang or a huge allocation.
@Suite struct HostileInputTests {
  @Test func deepFlowNesting() {
    let text =
      "input: [1, 2, 2]\nlayers: " + String(repeating: "[", count: 100_000)
      + String(repeating: "]", count: 100_000)
    let result = check(text)
    #expect(result.diagnostics.errors.first?.message.contains("nested deeper than") == true)
  }

  @Test func aliasBomb() {
    var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in 1...9 {
      let previous = level == 1 ? "a" : "a\(level - 1)"
      text +=
        "a\(level): &a\(level) ["
        + Array(repeating: "*\(previous)", count: 10).joined(separator: ",") + "]\n"
    }
    let result = check(text)
    #expect(result.diagnostics.errors.first?.message.contains("aliases") == true)
  }

  /// Past 64 MiB a spec is refused before parsing, in the library and (without reading the
  /// file) in the command line.
  @Test func oversizedSpec() throws {
    let bytes = [UInt8](repeating: UInt8(ascii: " "), count: SpecParser.maximumFileBytes + 1)
    let result = check(bytes: bytes)
    #expect(result.diagnostics.errors.first?.message.contains("more than the 64 MiB") == true)
    let path = try CommandLineTests.temporaryFile("", name: "huge.yaml")
    #expect(truncate(path, 1 << 30) == 0)
    let run = try CommandLineTests.run(["check", path])
    #expect(run.status == 1)
    #expect(run.stderr.contains("the file is 1073741824 bytes, more than the 64 MiB"))
  }

  /// A diagnostic on a very long line shows a window around its column, with the caret under it.
  @Test func caretOnALongLine() throws {
    let source = SourceText(Array(("é" + String(repeating: "x", count: 500) + "!yz\nnext").utf8))
    let excerpt = try #require(source.excerpt(line: 1, column: 502))
    #expect(excerpt.line.hasPrefix("…") && excerpt.line.hasSuffix("!yz"))
    #expect(excerpt.caret.count == 101)
    #expect(Array(excerpt.line)[excerpt.caret.count] == "!")
    #expect(source.excerpt(line: 2, column: 1)?.line == "next")
    #expect(source.excerpt(line: 3, column: 1) == nil)
  }

  /// Output stays linear in the spec: one 100,000-character name among 10,000 layers, and 9,997
  /// branches into one concat, print tables of about a megabyte (the names are shortened with
  /// an ellipsis in the table), and a 2,000-step plan's lifetime bars are scaled to 120 columns.
  @Test func outputIsLinearInTheSpec() throws {
    var long =
      "input: [1, 8, 8]\nlayers:\n  - {type: relu, name: \(String(repeating: "n", count: 100_000))}\n"
    long += String(repeating: "  - {type: relu}\n", count: 9_999)
    let run = try CommandLineTests.run(["check", try CommandLineTests.temporaryFile(long)])
    #expect(run.status == 0)
    #expect(run.stdout.utf8.count < 2_000_000, "\(run.stdout.utf8.count) bytes")
    #expect(run.stdout.contains("nnnn…"))
    // Relu runs in place at inference, so every step's operands carry the long name.
    let inPlace = try CommandLineTests.run([
      "check",
      try CommandLineTests.temporaryFile(
        String(long.dropLast("  - {type: relu}\n".count)) + "  - {type: dense, units: 2}\n"),
      "--plan", "--mode", "inference",
    ])
    #expect(inPlace.status == 0, "\(inPlace.stderr)")
    #expect(inPlace.stdout.utf8.count < 3_000_000, "\(inPlace.stdout.utf8.count) bytes")

    var branches = "input: [1, 8, 8]\nlayers:\n"
    for index in 0..<9_997 { branches += "  - {type: relu, name: b\(index), input: input}\n" }
    branches +=
      "  - {type: concat, input: [\((0..<9_997).map { "b\($0)" }.joined(separator: ","))]}\n"
    let wide = try CommandLineTests.run(["check", try CommandLineTests.temporaryFile(branches)])
    #expect(wide.status == 0)
    #expect(wide.stdout.utf8.count < 2_000_000, "\(wide.stdout.utf8.count) bytes")

    let chain =
      "input: [1, 8, 8]\nlayers:\n" + String(repeating: "  - {type: relu}\n", count: 999)
      + "  - {type: dense, units: 10}\n  - {type: softmax}\n"
    let plan = try CommandLineTests.run([
      "check", try CommandLineTests.temporaryFile(chain), "--plan", "--batch", "8",
    ])
    #expect(plan.status == 0, "\(plan.stderr)")
    #expect(plan.stdout.contains("one column per"))
    let longest = plan.stdout.split(separator: "\n").map(\.count).max() ?? 0
    #expect(longest < 400, "longest line \(longest)")
  }

  /// A raw IDX file or a checkpoint far larger than its header says is refused from the header
  /// and the file's size, before the body is read (1.2 GB sparse files here).
  @Test func oversizedFilesAreRefusedFromTheirHeaders() throws {
    let folder = (try CommandLineTests.temporaryFile("", name: "x") as NSString)
      .deletingLastPathComponent
    let idx = folder + "/big-idx3-ubyte"
    try Data([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]).write(
      to: URL(fileURLWithPath: idx))
    #expect(truncate(idx, 1_200_000_000) == 0)
    #expect {
      try IDXReader.read(idx, dimensionCount: 3)
    } throws: { error in
      "\(error)".contains("longer than its header says: dimensions 10×28×28 need 7856 bytes")
    }
    let checkpoint = folder + "/big.safetensors"
    try SafeTensors(tensors: [.init(name: "w", shape: [2], values: [1, 2])]).write(to: checkpoint)
    #expect(truncate(checkpoint, 1_200_000_000) == 0)
    #expect {
      try SafeTensors.read(checkpoint)
    } throws: { error in
      "\(error)".contains("bytes at the end belong to no tensor")
    }
    let tiny = folder + "/tiny-idx1-ubyte"
    try Data([0, 0]).write(to: URL(fileURLWithPath: tiny))
    #expect(throws: DataError.self) { try IDXReader.read(tiny, dimensionCount: 1) }
  }

  @Test func binaryGarbage() {
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }
    #expect(!check(bytes: bytes).isValid)
  }

  @Test func emptyFile() {
    let result = check(bytes: [])
    #expect(result.diagnostics.errors.first?.message.contains("empty") == true)
  }

  @Test func nulInsideAString() {
    let raw = check(
      bytes: Array("name: \"a\u{0}b\"\ninput: [1, 2, 2]\nlayers: [{type: relu}]\n".utf8))
    #expect(raw.diagnostics.errors.first?.message.contains("control characters") == true)
    let escaped = check("name: \"a\\0b\"\ninput: [1, 2, 2]\nlayers: [{type: relu}]\n")
    #expect(escaped.diagnostics.errors.first?.message.contains("control characters") == true)
  }

  @Test func sizesNear2To31() {
    let result = check(
      "input: [2147483647, 2147483647, 2147483647]\nlayers:\n  - {type: conv, filters: 2147483647, kernel: 1}\n"
    )
    #expect(!result.isValid)
    #expect(result.diagnostics.errors.first?.message.contains("64-bit") == true)
  }

  @Test func flopsOverflow() {
    let result = check(
      "input: [3000, 2000, 2000]\nlayers:\n  - {type: conv, filters: 2147483647, kernel: 1}\n")
    #expect(result.diagnostics.errors.first?.message.contains("FLOP count overflows") == true)
  }

  @Test func layerCountOverTheCap() {
    let text =
      "input: [1, 2, 2]\nlayers:\n"
      + String(repeating: "  - {type: relu}\n", count: Limits.maximumLayerCount + 1)
    let result = check(text)
    #expect(result.diagnostics.errors.first?.message.contains("more than cnnc accepts") == true)
  }

  @Test func longStackUnderTheCap() {
    let text =
      "input: [1, 2, 2]\nlayers:\n"
      + String(repeating: "  - {type: relu}\n", count: Limits.maximumLayerCount)
    let result = check(text)
    #expect(result.isValid)
    #expect(result.network?.layers.last?.name == "relu\(Limits.maximumLayerCount)")
  }

  @Test func wideMappingIsLinear() {
    // 200,000 distinct keys: duplicate-key detection and key checks must not be quadratic.
    var text = "input: [1, 2, 2]\nlayers: [{type: relu}]\ntrain: {data: {format: mnist, path: d}, "
    text += (0..<200_000).map { "k\($0): 1" }.joined(separator: ", ") + "}\n"
    let result = check(text)
    #expect(result.diagnostics.errors.count == 200_000)
    #expect(
      result.diagnostics.errors.last?.message.hasPrefix("train: unknown key 'k199999'") == true)
  }
}
