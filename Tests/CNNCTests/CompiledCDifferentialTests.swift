import Foundation
import Testing

@testable import CNNC

/// Random networks through `cnnc compile`'s C and a real C compiler: each network's self-test
/// (`SelfTest`: the C's outputs against the executor's for the same inputs) built with the
/// system's `cc` under the strict flags the generated code promises to pass, and run. The
/// networks draw convolutions (kernels 1–5, strides 1–3, pads, groups, depthwise), poolings
/// (max and average, strides past the kernel, pads, ceil and floor), batchnorms, every
/// activation, adds, concats, dense layers, global averages and softmax, so that the fusions and
/// in-place steps meet shapes nobody picked.
@Suite struct CompiledCDifferentialTests {
  static let flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]

  /// A random valid network, or nil when the draw made an invalid one.
  static func randomSpec(_ generator: inout SplitMix64) -> String? {
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var channels = draw(1...4)
    var (height, width) = (draw(4...13), draw(4...13))
    var lines = ["input: [\(channels), \(height), \(width)]", "layers:"]
    var names: [String] = []
    let activations = ["relu", "sigmoid", "tanh", "{type: leaky_relu, slope: 0.2}"]
    for index in 0..<draw(2...6) {
      let name = "l\(index)"
      switch draw(0...9) {
      case 0...3:
        let kernel = draw(1...min(5, height, width))
        let stride = draw(1...3)
        let pad = draw(0...(kernel / 2))
        var groups = 1
        var filters = draw(1...6)
        if draw(0...2) == 0 {
          groups = channels
          filters = channels * draw(1...2)
        }
        lines.append(
          "  - {type: conv, name: \(name), filters: \(filters), kernel: \(kernel), "
            + "stride: \(stride), pad: \(pad), groups: \(groups), bias: \(draw(0...1) == 1)}")
        channels = filters
        height = (height + 2 * pad - kernel) / stride + 1
        width = (width + 2 * pad - kernel) / stride + 1
      case 4...5:
        let kernel = draw(1...min(3, height, width))
        let stride = draw(1...3)
        let pad = draw(0...(kernel / 2))
        let ceil = draw(0...1) == 1
        lines.append(
          "  - {type: \(draw(0...1) == 0 ? "maxpool" : "avgpool"), name: \(name), "
            + "kernel: \(kernel), stride: \(stride), pad: \(pad), round: \(ceil ? "ceil" : "floor")}"
        )
        let span = { (size: Int) -> Int in
          let room = size + 2 * pad - kernel
          var out = (ceil ? (room + stride - 1) / stride : room / stride) + 1
          if ceil, (out - 1) * stride >= size + pad { out -= 1 }
          return out
        }
        (height, width) = (span(height), span(width))
      case 6:
        lines.append("  - {type: batchnorm, name: \(name)}")
      case 7:
        let activation = activations[draw(0...3)]
        lines.append(
          activation.hasPrefix("{")
            ? "  - {type: leaky_relu, name: \(name), slope: 0.2}"
            : "  - {type: \(activation), name: \(name)}")
      case 8 where !names.isEmpty:
        // A branch beside the last layer, joined to it by an add or a concat.
        let branch = "\(name)_branch"
        lines.append(
          "  - {type: conv, name: \(branch), filters: \(channels), kernel: 1, input: \(names.last ?? "")}"
        )
        lines.append("  - {type: relu, name: \(branch)_relu}")
        if draw(0...1) == 0 {
          lines.append(
            "  - {type: add, name: \(name), input: [\(names.last ?? ""), \(branch)_relu]}")
        } else {
          lines.append(
            "  - {type: concat, name: \(name), input: [\(names.last ?? ""), \(branch)_relu]}")
          channels *= 2
        }
      default:
        lines.append("  - {type: relu, name: \(name)}")
      }
      names.append(name)
      guard height >= 1, width >= 1 else { return nil }
    }
    switch draw(0...2) {
    case 0: lines.append("  - {type: global_avgpool, name: gap}")
    case 1: lines.append("  - {type: dense, name: fc, units: \(draw(1...5))}")
    default: lines.append("  - {type: flatten, name: flat}")
    }
    if draw(0...1) == 0 { lines.append("  - {type: softmax, name: prob}") }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Compiles and runs one network's self-test; returns what failed, nil when it passed.
  static func compileAndRun(_ network: InferredNetwork, name: String) throws -> String? {
    try compileAndRun(
      try CompiledNetwork(
        network, parameters: try DevicePlanTests.parameters(network), name: name,
        specPath: "test"),
      name: name)
  }

  static func compileAndRun(_ compiled: CompiledNetwork, name: String) throws -> String? {
    let folder = TestFiles.newURL()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for file in try compiled.files(in: folder.path, selfTest: true) {
      try Data(file.bytes).write(to: URL(fileURLWithPath: file.path))
    }
    let binary = folder.appendingPathComponent("test").path
    let build = try run(
      "/usr/bin/env",
      ["cc"] + flags + [
        "\(folder.path)/\(name).c", "\(folder.path)/\(name)_test.c", "-lm", "-o", binary,
      ])
    guard build.status == 0 else { return "cc failed:\n\(build.output)" }
    let test = try run(binary, [])
    return test.status == 0 ? nil : test.output
  }

  static func run(_ executable: String, _ arguments: [String]) throws -> (
    status: Int32, output: String
  ) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
  }

  @Test func randomNetworksMatchTheExecutor() throws {
    var generator = SplitMix64(seed: 2026)
    var tested = 0
    var attempts = 0
    while tested < 24 && attempts < 500 {
      attempts += 1
      guard let yaml = Self.randomSpec(&generator), let network = try? InferredNetwork(yaml: yaml)
      else { continue }
      tested += 1
      let failure = try Self.compileAndRun(network, name: "random\(tested)")
      #expect(failure == nil, "\(yaml)\n\(failure ?? "")")
    }
    #expect(tested == 24)
  }

  /// An add of three inputs, one of them twice: the buffer it may overwrite must not be one it
  /// reads again after the first two (found by review: `[a, b, a]` summed 2a + 2b).
  @Test func anAddReadingAnInputAgainIsNotInPlaceOverIt() throws {
    for inputs in ["[a, b, a]", "[b, a, a]", "[a, a, b]", "[a, b, b]"] {
      let network = try InferredNetwork(
        yaml: """
          input: [1, 4, 4]
          layers:
            - {type: conv, name: a, filters: 2, kernel: 1}
            - {type: conv, name: b, filters: 2, kernel: 1, input: a}
            - {type: add, name: s, input: \(inputs)}
          """)
      let failure = try Self.compileAndRun(network, name: "sum")
      #expect(failure == nil, "\(inputs): \(failure ?? "")")
    }
  }

  /// Int8 networks: the C against the integer reference, which it follows operation for
  /// operation (random networks whose steps all have int8 C: every one but a last softmax in
  /// int8).
  @Test func randomInt8NetworksMatchTheIntegerReference() throws {
    var generator = SplitMix64(seed: 88)
    var tested = 0
    var attempts = 0
    while tested < 16 && attempts < 2_000 {
      attempts += 1
      guard let yaml = Self.randomSpec(&generator), let network = try? InferredNetwork(yaml: yaml)
      else { continue }
      let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
      let images = Int8CheckpointTests.randomImages(8, floats: plan.inputFloats, seed: 4)
      let quantized = try QuantizedNetwork(plan, calibration: images)
      guard let compiled = try? CompiledNetwork(quantized, name: "q\(tested)", specPath: "test")
      else { continue }  // a step kept in float that int8 C does not run yet
      tested += 1
      let failure = try Self.compileAndRun(compiled, name: "q\(tested - 1)")
      #expect(failure == nil, "\(yaml)\n\(failure ?? "")")
    }
    #expect(tested == 16)
  }

  @Test func everyShippedMNISTModelMatchesTheExecutor() throws {
    for model in ["lenet", "allconv", "allconv-bn", "inception", "residual", "mobilenet-mnist"] {
      let yaml = try String(contentsOfFile: modelPath("\(model).yaml"), encoding: .utf8)
      let failure = try Self.compileAndRun(
        try InferredNetwork(yaml: yaml), name: model.replacingOccurrences(of: "-", with: "_"))
      #expect(failure == nil, "\(model): \(failure ?? "")")
    }
  }
}
