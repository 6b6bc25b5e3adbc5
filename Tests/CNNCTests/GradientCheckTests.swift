import Testing

@testable import CNNC

/// Finite-difference checks of every layer's backward pass, for all its parameters and its
/// input. Every layer type joins `cases`; `everyLayerTypeIsChecked` enforces that.
@Suite struct GradientCheckTests {
  struct Case: CustomTestStringConvertible, Sendable {
    var name: String
    var types: [String]
    var yaml: String
    var testDescription: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "conv, stride 2 with padding", types: ["conv"],
      yaml: """
        input: [2, 5, 5]
        layers: [{type: conv, filters: 3, kernel: 3, stride: 2, pad: 1}]
        """),
    Case(
      name: "conv 1×1", types: ["conv"],
      yaml: """
        input: [3, 4, 4]
        layers: [{type: conv, filters: 2, kernel: 1}]
        """),
    Case(
      name: "conv, rectangular, no bias", types: ["conv"],
      yaml: """
        input: [2, 5, 6]
        layers: [{type: conv, filters: 2, kernel: [2, 3], stride: [1, 2], pad: [1, 0], bias: false}]
        """),
    Case(
      name: "conv, groups 2, stride 2 with padding", types: ["conv"],
      yaml: """
        input: [4, 5, 5]
        layers: [{type: conv, filters: 6, kernel: 3, stride: 2, pad: 1, groups: 2}]
        """),
    Case(
      name: "conv, depthwise", types: ["conv"],
      yaml: """
        input: [3, 5, 4]
        layers: [{type: conv, filters: 3, kernel: 3, pad: 1, groups: 3}]
        """),
    Case(
      name: "conv, depthwise × 2 filters per channel, no bias", types: ["conv"],
      yaml: """
        input: [2, 4, 4]
        layers: [{type: conv, filters: 4, kernel: 2, groups: 2, bias: false}]
        """),
    Case(
      name: "grouped convs on a fan-out (input gradients accumulate)", types: ["conv"],
      yaml: """
        input: [3, 4, 4]
        layers:
          - {type: conv, name: a, filters: 6, kernel: 1}
          - {type: conv, name: b, filters: 6, kernel: 1, groups: 3}
          - {type: conv, name: c, filters: 6, kernel: 3, pad: 1, groups: 2, input: a}
          - {type: add, input: [a, b, c]}
        """),
    Case(
      name: "maxpool, ceil mode, clipped windows", types: ["maxpool"],
      yaml: """
        input: [2, 6, 6]
        layers: [{type: maxpool, kernel: 3, stride: 2}]
        """),
    Case(
      name: "maxpool, stride 2 with padding", types: ["maxpool"],
      yaml: """
        input: [2, 5, 5]
        layers: [{type: maxpool, kernel: 3, stride: 2, pad: 1}]
        """),
    Case(
      name: "avgpool, ceil mode with padding, clipped", types: ["avgpool"],
      yaml: """
        input: [2, 6, 6]
        layers: [{type: avgpool, kernel: 3, stride: 2, pad: 1}]
        """),
    Case(
      name: "avgpool, floor mode", types: ["avgpool"],
      yaml: """
        input: [1, 5, 5]
        layers: [{type: avgpool, kernel: 2, round: floor}]
        """),
    Case(
      name: "global_avgpool", types: ["global_avgpool"],
      yaml: """
        input: [3, 3, 4]
        layers: [{type: global_avgpool}]
        """),
    Case(
      name: "dense over c×h×w", types: ["dense"],
      yaml: """
        input: [2, 3, 3]
        layers: [{type: dense, units: 4}]
        """),
    Case(
      name: "flatten then dense", types: ["flatten", "dense"],
      yaml: """
        input: [2, 2, 3]
        layers: [{type: flatten}, {type: dense, units: 3, bias: false}]
        """),
    Case(
      name: "batchnorm over channels and positions", types: ["batchnorm"],
      yaml: """
        input: [3, 2, 3]
        layers: [{type: conv, filters: 2, kernel: 1}, {type: batchnorm}]
        """),
    Case(
      name: "batchnorm over dense features", types: ["batchnorm"],
      yaml: """
        input: [4, 1, 1]
        layers: [{type: dense, units: 3}, {type: batchnorm, eps: 0.01}]
        """),
    Case(name: "relu", types: ["relu"], yaml: "input: [2, 3, 3]\nlayers: [{type: relu}]\n"),
    Case(
      name: "sigmoid", types: ["sigmoid"], yaml: "input: [2, 3, 3]\nlayers: [{type: sigmoid}]\n"),
    Case(name: "tanh", types: ["tanh"], yaml: "input: [2, 3, 3]\nlayers: [{type: tanh}]\n"),
    Case(
      name: "leaky_relu", types: ["leaky_relu"],
      yaml: "input: [2, 3, 3]\nlayers: [{type: leaky_relu, slope: 0.1}]\n"),
    Case(
      name: "leaky_relu, negative slope", types: ["leaky_relu"],
      yaml: "input: [1, 4, 4]\nlayers: [{type: leaky_relu, slope: -0.5}]\n"),
    Case(
      name: "dropout", types: ["dropout"],
      yaml: "input: [2, 4, 4]\nlayers: [{type: dropout, rate: 0.3}]\n"),
    Case(
      name: "softmax", types: ["softmax"],
      yaml: "input: [5, 1, 1]\nlayers: [{type: dense, units: 4}, {type: softmax}]\n"),
    Case(
      name: "softmax over channels at each position", types: ["softmax"],
      yaml: "input: [3, 2, 2]\nlayers: [{type: softmax}]\n"),
    Case(
      name: "concat with fan-out", types: ["concat", "conv"],
      yaml: """
        input: [2, 4, 4]
        layers:
          - {type: conv, name: a, filters: 2, kernel: 3, pad: 1}
          - {type: conv, name: b, filters: 3, kernel: 1, input: input}
          - {type: concat, input: [a, b, a]}
        """),
    Case(
      name: "add with fan-out", types: ["add", "relu"],
      yaml: """
        input: [2, 3, 3]
        layers:
          - {type: conv, name: a, filters: 2, kernel: 1}
          - {type: relu, name: r}
          - {type: add, input: [a, r, a]}
        """),
    Case(
      name: "batchnorm with its ReLU fused", types: ["batchnorm", "relu"],
      yaml: """
        input: [3, 2, 3]
        layers:
          - {type: conv, filters: 2, kernel: 1}
          - {type: batchnorm}
          - {type: relu}
          - {type: conv, filters: 2, kernel: 1}
        """),
    Case(
      name: "add with its ReLU fused, three inputs", types: ["add", "relu"],
      yaml: """
        input: [2, 3, 3]
        layers:
          - {type: conv, name: a, filters: 2, kernel: 1}
          - {type: conv, name: b, filters: 2, kernel: 3, pad: 1, input: input}
          - {type: add, input: [a, b, a]}
          - {type: relu}
          - {type: conv, filters: 2, kernel: 1}
        """),
    // Planes of 35 floats: the vector passes' 16-lane body and their scalar tail (normalise.c),
    // and gradients that accumulate (c feeds batchnorm and both adds).
    Case(
      name: "batchnorm, ReLU and add on planes wider than a vector", types: ["batchnorm", "add"],
      yaml: """
        input: [2, 5, 7]
        layers:
          - {type: conv, name: c, filters: 2, kernel: 1}
          - {type: batchnorm, name: bn}
          - {type: relu, name: r}
          - {type: add, name: sum, input: [r, c]}
          - {type: relu, name: out}
          - {type: add, input: [out, c, r]}
        """),
    // Both of an add's gradients in one pass, into one buffer when it adds a value to itself.
    Case(
      name: "add of a value to itself, ReLU fused", types: ["add", "relu"],
      yaml: """
        input: [2, 5, 7]
        layers:
          - {type: conv, name: a, filters: 2, kernel: 1}
          - {type: add, input: [a, a]}
          - {type: relu}
          - {type: conv, filters: 2, kernel: 1}
        """),
    Case(
      name: "in-place chain", types: ["relu", "sigmoid", "dropout"],
      yaml: """
        input: [2, 3, 3]
        layers:
          - {type: conv, filters: 2, kernel: 2}
          - {type: relu}
          - {type: dropout, rate: 0.25}
          - {type: sigmoid}
        """),
  ]

  @Test func everyLayerTypeIsChecked() {
    let checked = Set(Self.cases.flatMap(\.types))
    for type in LayerRegistry.types {
      #expect(checked.contains(type.name), "no gradient check for '\(type.name)'")
    }
  }

  @Test(arguments: cases, KernelISA.supported)
  func gradientsMatchFiniteDifferences(_ testCase: Case, _ isa: KernelISA) throws {
    let batch = 2
    let executor = try makeExecutor(
      testCase.yaml,
      PlanOptions(
        mode: .training, batch: batch, loss: .outputGradient, inputGradient: true, isa: isa))
    let input = executor.input
    _ = input.update(fromContentsOf: distinctValues(input.count, seed: 3))
    // The loss is Σ r·y for a fixed random r, so dLoss/dy = r.
    let weights = randomValues(executor.output.count, seed: 11)
    func loss() -> Double {
      executor.reseed(99)  // the same dropout mask every time
      executor.forward()
      return zip(executor.output, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    _ = loss()
    _ = try #require(executor.lossGradient).update(fromContentsOf: weights)
    executor.backward()

    var tensors: [(String, UnsafeMutableBufferPointer<Float>, [Float])] = [
      ("input", input, Array(try #require(executor.inputGradient)))
    ]
    // State tensors (running statistics) have no gradient and no effect on a training pass.
    for slot in executor.plan.parameters where slot.role == .learned {
      tensors.append(
        (
          slot.name, try #require(executor.parameter(slot.name)),
          Array(try #require(executor.parameterGradient(slot.name)))
        ))
    }
    let step: Float = 1e-3
    for (name, values, analytic) in tensors {
      // Every element of small tensors; an even spread of 40 in larger ones.
      let stride = max(1, values.count / 40)
      for index in Swift.stride(from: 0, to: values.count, by: stride) {
        let saved = values[index]
        values[index] = saved + step
        let up = loss()
        values[index] = saved - step
        let down = loss()
        values[index] = saved
        let numeric = (up - down) / Double(2 * step)
        let expected = Double(analytic[index])
        let tolerance = 1e-2 * max(1, abs(numeric), abs(expected))
        #expect(
          abs(numeric - expected) <= tolerance,
          "\(name)[\(index)]: analytic \(expected), numeric \(numeric)")
      }
    }
  }

  /// The fused softmax cross-entropy: its gradient (p − y)/N against finite differences of the
  /// mean loss, through a dense layer so the input gradient shows it.
  @Test func softmaxCrossEntropyLoss() throws {
    let executor = try makeExecutor(
      "input: [6, 1, 1]\nlayers: [{type: dense, units: 4}, {type: softmax}]\n",
      PlanOptions(mode: .training, batch: 3, inputGradient: true))
    _ = executor.input.update(fromContentsOf: distinctValues(executor.input.count, seed: 5))
    _ = try #require(executor.labels).update(fromContentsOf: [2, 0, 3] as [Int32])
    executor.trainStep()
    let analytic = Array(try #require(executor.inputGradient))
    let step: Float = 1e-3
    for index in executor.input.indices {
      let saved = executor.input[index]
      executor.input[index] = saved + step
      executor.forward()
      let up = Double(executor.loss().loss)
      executor.input[index] = saved - step
      executor.forward()
      let down = Double(executor.loss().loss)
      executor.input[index] = saved
      let numeric = (up - down) / Double(2 * step)
      #expect(
        abs(numeric - Double(analytic[index])) <= 1e-2 * max(1, abs(numeric)), "input[\(index)]")
    }
    // The probabilities of each sample sum to one.
    for sample in 0..<3 {
      let sum = executor.output[(sample * 4)..<(sample * 4 + 4)].reduce(0, +)
      #expect(abs(sum - 1) < 1e-5)
    }
  }
}
