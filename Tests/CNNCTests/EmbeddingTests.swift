import CNNC
import Foundation
import Testing

/// The library as an embedding program uses it: a spec string in, shapes out, no CLI.
@Suite struct EmbeddingTests {
  @Test func inferFromAString() throws {
    let network = try InferredNetwork(
      yaml: """
        name: tiny
        input: {channels: 3, height: 32, width: 32}
        layers:
          - {type: conv, name: c1, filters: 8, kernel: 3, pad: 1}
          - {type: maxpool, name: p1, kernel: 2}
          - {type: conv, name: c2, filters: 16, kernel: [3, 1], stride: [2, 1]}
          - {type: flatten}
          - {type: dense, name: out, units: 10, bias: false}
        """)
    #expect(network.name == "tiny")
    #expect(network.layer(named: "c1")?.output == Shape(channels: 8, height: 32, width: 32))
    #expect(network.layer(named: "p1")?.output == Shape(channels: 8, height: 16, width: 16))
    // floor((16 − 3)/2) + 1 = 7 rows, 16 columns
    #expect(network.layer(named: "c2")?.output == Shape(channels: 16, height: 7, width: 16))
    #expect(network.layer(named: "flatten1")?.output == Shape(channels: 1792, height: 1, width: 1))
    #expect(network.layer(named: "out")?.parameterCount == 17_920)
    #expect(network.layer(named: "c1")?.parameters.map(\.dimensions) == [[8, 3, 3, 3], [8]])
    // c1: 8·3·3·3 + 8; c2: 16·8·3·1 + 16; out: 1792·10
    #expect(network.parameterCount == 224 + 400 + 17_920)
  }

  @Test func errorsAreThrown() {
    #expect(throws: SpecError.self) {
      try InferredNetwork(yaml: "input: [1, 2, 2]\nlayers: [{type: conv, filters: 1, kernel: 3}]\n")
    }
  }

  /// Parse, plan, run a forward pass on a batch, read the outputs: public API only.
  @Test func planAndRunForward() throws {
    let network = try InferredNetwork(
      yaml: """
        input: [1, 6, 6]
        layers:
          - {type: conv, name: c, filters: 2, kernel: 3}
          - {type: global_avgpool}
          - {type: softmax}
        """)
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 4))
    let executor = try Executor(plan: plan)
    let weight = try #require(executor.parameter("c.weight"))
    // Filter 0 sums its window; filter 1 is zero. Bias 0 for both.
    for index in weight.indices { weight[index] = index < 9 ? 1 : 0 }
    for sample in 0..<4 {
      for pixel in 0..<36 { executor.input[sample * 36 + pixel] = Float(sample) / 18 }
    }
    executor.forward()
    #expect(executor.output.count == 8)
    for sample in 0..<4 {
      // Every window sums 9 · sample/18 = sample/2; the softmax of [sample/2, 0].
      let first = executor.output[sample * 2]
      let expected = 1 / (1 + exp(-Float(sample) / 2))
      #expect(abs(first - expected) < 1e-5)
      #expect(abs(first + executor.output[sample * 2 + 1] - 1) < 1e-6)
    }
  }
}
