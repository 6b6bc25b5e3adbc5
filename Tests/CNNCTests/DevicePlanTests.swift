import Foundation
import Testing

@testable import CNNC

/// `cnnc compile`'s plan: which layers fuse, which run in place, and the arena it proves
/// necessary.
@Suite struct DevicePlanTests {
  /// Parameters for `network`: small random values, running variances positive.
  static func parameters(_ network: InferredNetwork, seed: UInt64 = 7) throws -> [Float] {
    let layout = try network.parameterLayout()
    var generator = SplitMix64(seed: seed)
    var values = [Float](repeating: 0, count: layout.floats)
    for slot in layout.slots where slot.elementType == .float32 {
      for i in slot.range {
        let unit = Float(generator.next() >> 40) / Float(1 << 24)
        values[i] = slot.name.hasSuffix("running_var") ? 0.5 + unit : unit - 0.5
      }
    }
    return values
  }

  static func plan(_ yaml: String) throws -> DevicePlan {
    let network = try InferredNetwork(yaml: yaml)
    return try DevicePlan(network, parameters: try parameters(network))
  }

  static func plan(model: String) throws -> DevicePlan {
    let yaml = try String(contentsOfFile: modelPath(model), encoding: .utf8)
    return try plan(yaml)
  }

  func stepNames(_ plan: DevicePlan) -> [String] {
    plan.steps.map { $0.layers.map { plan.network.layers[$0].name }.joined(separator: "+") }
  }

  @Test func lenetFusesEachConvolutionWithItsPoolingAndFitsHalfOfGlowsArena() throws {
    let plan = try Self.plan(model: "lenet.yaml")
    #expect(stepNames(plan) == ["conv1+pool1", "conv2+pool2", "fc1+relu1", "fc2", "prob"])
    // pool1 (20×12×12 floats) and pool2 (50×4×4) with conv2's two-row ring (2×8 floats).
    #expect(plan.lowerBound == 4 * (2_880 + 800 + 16))
    #expect(plan.arenaBytes == plan.lowerBound)
    #expect(plan.arenaBytes <= 28_800)
    // The last dense layer writes the caller's output, and the softmax runs there in place.
    #expect(plan.buffers[plan.steps[3].output].place == .output)
    #expect(plan.steps[4].inputs == [plan.steps[4].output])
  }

  @Test func aPoolingReadAgainLaterIsNotHiddenInTheConvolution() throws {
    // stem_pool is read by four branches, b4_pool among them: only stem_pool joins stem's step.
    let plan = try Self.plan(model: "inception.yaml")
    #expect(stepNames(plan).first == "stem+stem_relu+stem_pool")
    #expect(stepNames(plan).contains("b4_pool"))
  }

  @Test func batchnormFoldsIntoTheConvolutionBeforeIt() throws {
    let plan = try Self.plan(model: "allconv-bn.yaml")
    let first = try #require(plan.steps.first)
    #expect(first.layers.map { plan.network.layers[$0].name }.prefix(2) == ["conv1", "bn1"])
    #expect(first.constants.map(\.role) == ["weight", "bias"])
    #expect(!plan.steps.contains { if case .affine = $0.operation { true } else { false } })
  }

  @Test func aBatchnormAfterAnAddIsAnAffineStepInPlace() throws {
    let plan = try Self.plan(
      """
      input: [2, 5, 5]
      layers:
        - {type: conv, name: a, filters: 2, kernel: 3, pad: 1}
        - {type: conv, name: b, filters: 2, kernel: 1, input: a}
        - {type: add, name: sum, input: [a, b]}
        - {type: batchnorm, name: bn}
        - {type: dense, units: 3}
      """)
    let affine = try #require(
      plan.steps.first { if case .affine = $0.operation { true } else { false } })
    #expect(affine.inputs == [affine.output])
    #expect(affine.constants.map(\.role) == ["scale", "shift"])
  }

  /// The in-place rule for pooling against doing it: wherever `poolsInPlace` allows it, pooling
  /// over one buffer gives what pooling into another gives, on random windows.
  @Test func poolingInPlaceWhereTheRuleAllowsIt() {
    var generator = SplitMix64(seed: 11)
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var allowed = 0
    for _ in 0..<400 {
      let (kernel, stride) = (draw(1...3), draw(1...3))
      let pad = draw(0...(kernel / 2))
      let (height, width) = (draw(kernel...7), draw(kernel...7))
      let (oh, ow) = (
        (height + 2 * pad - kernel) / stride + 1, (width + 2 * pad - kernel) / stride + 1
      )
      let g = WindowGeometry(
        channels: draw(1...3), inputHeight: height, inputWidth: width, kernelHeight: kernel,
        kernelWidth: kernel, strideHeight: stride, strideWidth: stride, padHeight: pad,
        padWidth: pad, outputHeight: oh, outputWidth: ow)
      guard DevicePlan.poolsInPlace(g) else { continue }
      allowed += 1
      let input = (0..<(g.channels * g.inputPlane)).map { _ in Float(draw(0...1000)) }
      func window(_ x: [Float], _ j: Int) -> Float {
        let plane = j / g.outputPlane
        let (oy, ox) = ((j % g.outputPlane) / ow, j % ow)
        var best = -Float.infinity
        for iy in max(0, oy * stride - pad)..<min(height, oy * stride - pad + kernel) {
          for ix in max(0, ox * stride - pad)..<min(width, ox * stride - pad + kernel) {
            best = max(best, x[plane * g.inputPlane + iy * width + ix])
          }
        }
        return best
      }
      let expected = (0..<(g.channels * g.outputPlane)).map { window(input, $0) }
      var buffer = input
      for j in 0..<expected.count { buffer[j] = window(buffer, j) }
      #expect(Array(buffer.prefix(expected.count)) == expected, "\(g)")
    }
    #expect(allowed > 50)
    // Overlapping windows read back what earlier outputs overwrote; disjoint ones do not.
    let overlapping = WindowGeometry(
      channels: 1, inputHeight: 6, inputWidth: 6, kernelHeight: 3, kernelWidth: 3, strideHeight: 1,
      strideWidth: 1, padHeight: 1, padWidth: 1, outputHeight: 6, outputWidth: 6)
    #expect(!DevicePlan.poolsInPlace(overlapping))
  }

  @Test func theFilesAreNamedByACIdentifier() throws {
    let network = try InferredNetwork(
      yaml: "input: [1, 4, 4]\nlayers:\n  - {type: dense, units: 2}\n")
    let plan = try DevicePlan(network, parameters: try Self.parameters(network))
    #expect(throws: CompileError.self) { try CSource(plan, name: "lenet-adam", specPath: "x") }
    do {
      _ = try CSource(plan, name: "lenet-adam", specPath: "x")
    } catch {
      #expect(error.message.contains("--name lenet_adam"))
    }
    #expect(throws: CompileError.self) { try CSource(plan, name: "2net", specPath: "x") }
    #expect(throws: CompileError.self) { try CSource(plan, name: "_net", specPath: "x") }
    #expect(try CSource(plan, name: "net_2", specPath: "x").header.contains("NET_2_ARENA_BYTES"))
  }

  @Test func weightsThatCHasNoLiteralForAreRefused() throws {
    let network = try InferredNetwork(
      yaml: "input: [1, 4, 4]\nlayers:\n  - {type: dense, name: fc, units: 2}\n")
    var values = try Self.parameters(network)
    values[3] = .nan
    do {
      _ = try DevicePlan(network, parameters: values)
      Issue.record("a NaN weight was compiled")
    } catch {
      #expect(error.message.contains("dense 'fc'"))
      #expect(error.message.contains("weight[3] is nan"))
    }
    #expect(throws: CompileError.self) { try DevicePlan(network, parameters: [1, 2]) }
  }

  @Test func layerNamesBecomeDistinctCIdentifiers() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [1, 4, 4]
        layers:
          - {type: dense, name: fc-1, units: 3}
          - {type: dense, name: fc_1, units: 3}
          - {type: dense, name: FC_1, units: 2}
        """)
    let source = try CSource(
      DevicePlan(network, parameters: try Self.parameters(network)), name: "n", specPath: "x")
    #expect((0..<3).map(source.layerName) == ["fc_1", "fc_1_2", "FC_1_3"])
  }
}
