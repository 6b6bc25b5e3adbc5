import Testing

@testable import CNNC

/// Grouped and depthwise convolution forward against the definition in Double, at batch 2 and
/// split across two threads at batch 1; their gradients are in GradientCheckTests.
@Suite struct GroupedConvolutionTests {
  static let shapes:
    [(c: Int, h: Int, w: Int, filters: Int, groups: Int, kernel: Int, stride: Int, pad: Int)] = [
      (4, 7, 6, 6, 2, 3, 2, 1),  // two groups of 2 channels → 3 filters
      (8, 9, 9, 8, 8, 3, 1, 1),  // depthwise
      (3, 6, 5, 6, 3, 2, 1, 0),  // depthwise, two filters per channel
      (6, 5, 5, 9, 3, 1, 1, 0),  // pointwise in groups: the image is its own column matrix
      (4, 3, 40, 16, 4, 3, 1, 1),  // rows of 40 at stride 1: the direct path where there is one
    ]

  @Test(arguments: KernelISA.supported)
  func matchesTheDefinition(_ isa: KernelISA) throws {
    for (index, s) in Self.shapes.enumerated() {
      let yaml = """
        input: [\(s.c), \(s.h), \(s.w)]
        layers:
          - {type: conv, name: conv, filters: \(s.filters), kernel: \(s.kernel), stride: \(s.stride), pad: \(s.pad), groups: \(s.groups)}
        """
      let batched = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 2, isa: isa), seed: UInt64(index))
      let split = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 1, isa: isa, imageThreads: 2),
        seed: UInt64(index))
      let input = randomValues(batched.input.count, seed: UInt64(index) + 80)
      _ = batched.input.update(fromContentsOf: input)
      _ = split.input.update(fromContentsOf: input[0..<split.input.count])
      batched.forward()
      split.forward()
      let weight = Array(try #require(batched.parameter("conv.weight"))).map(Double.init)
      let bias = Array(try #require(batched.parameter("conv.bias"))).map(Double.init)
      #expect(weight.count == s.filters * (s.c / s.groups) * s.kernel * s.kernel)
      let imageSize = s.c * s.h * s.w
      var expected: [Double] = []
      for n in 0..<2 {
        expected +=
          Reference.convolution(
            input[(n * imageSize)..<((n + 1) * imageSize)].map(Double.init), c: s.c, h: s.h,
            w: s.w, weight: weight, bias: bias, filters: s.filters, kernel: (s.kernel, s.kernel),
            stride: (s.stride, s.stride), pad: (s.pad, s.pad), groups: s.groups
          ).values
      }
      #expect(expected.count == batched.output.count, "shape \(index)")
      for (a, e) in zip(batched.output, expected) {
        #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e)), "shape \(index)")
      }
      for (a, e) in zip(split.output, expected) {
        #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e)), "shape \(index), split")
      }
    }
  }

  @Test func groupsThatDoNotDivideAreExplained() throws {
    let yaml = """
      input: [6, 8, 8]
      layers:
        - {type: conv, name: c, filters: 8, kernel: 3, groups: 4}
      """
    #expect {
      try InferredNetwork(yaml: yaml)
    } throws: { error in
      "\(error)".contains(
        "conv 'c': groups: 4 must divide the input channels and the filters, but its 6 input "
          + "channels do not split into 4 equal groups (6 mod 4 = 2)")
    }
  }
}
