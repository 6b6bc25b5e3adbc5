import Testing

@testable import CNNC

/// Training plans' own lowerings (`ConvolutionLowering.auto`): Winograd for the forward pass and
/// the input gradient of stride-1 3×3 and 5×5 layers, dW directly from the images for rows of 24
/// outputs or more; against the Double definition on odd shapes, pads from "same" to the most
/// the window allows, groups, and an input gradient another layer wrote first. The same
/// checkpoint from the same seed; `lowering: gemm` keeping every layer on the GEMM.
@Suite struct WinogradTrainingTests {
  /// (channels, height, width, filters, kernel, pad, groups, residual): with `residual` the
  /// layer's input is also added to its output, so its input gradient accumulates onto the add's.
  static let shapes:
    [(c: Int, h: Int, w: Int, f: Int, k: Int, pad: Int, groups: Int, residual: Bool)] =
      [
        (16, 9, 7, 16, 3, 1, 1, true),  // odd plane, the add's gradient written first
        (17, 6, 11, 23, 3, 1, 1, false),  // odd counts: partial panels and tiles
        (19, 8, 8, 16, 3, 2, 1, false),  // pad 2: the turned convolution pads 0
        (32, 7, 9, 32, 3, 1, 2, true),  // groups of 16, accumulating
        (16, 7, 5, 17, 5, 2, 1, false),  // 5×5, pad 2, odd plane
        (18, 6, 6, 18, 5, 4, 1, false),  // pad 4, the most a 5×5 window allows
        (16, 10, 10, 16, 5, 2, 1, true),  // 5×5, accumulating
        (16, 5, 30, 16, 3, 1, 1, true),  // rows of 30: dW direct (three vectors and a tail)
        (16, 3, 26, 18, 5, 2, 1, false),  // 5×5 taps in tiles of three and two, dW direct
        (16, 16, 32, 16, 3, 1, 1, true),  // dW in passes of 2 images: 3 whole, 1 partial
        (17, 7, 33, 17, 3, 1, 1, true),  // F(4×4) both ways: 9 tiles a row, the last clipped
      ]

  @Test(arguments: KernelISA.supported)
  func gradientsMatchTheReference(_ isa: KernelISA) throws {
    for (index, s) in Self.shapes.enumerated() {
      let convolution =
        "{type: conv, name: conv, filters: \(s.f), kernel: \(s.k), pad: \(s.pad), groups: \(s.groups)}"
      let yaml = """
        input: [\(s.c), \(s.h), \(s.w)]
        layers:
          - \(convolution)
        """ + (s.residual ? "\n  - {type: add, name: sum, input: [conv, input]}" : "")
      let (oh, ow) = (s.h + 2 * s.pad - s.k + 1, s.w + 2 * s.pad - s.k + 1)
      // Enough images for the 1,024 outputs (256 2×2 tiles) each Winograd convolution needs,
      // forward (tiles of the output) and input gradient (tiles of the input).
      let tiles = min(((oh + 1) / 2) * ((ow + 1) / 2), ((s.h + 1) / 2) * ((s.w + 1) / 2))
      // At least 7: more than one pass of images for every direct dW here.
      let batch = max(7, (256 + tiles - 1) / tiles)
      let executor = try makeExecutor(
        yaml,
        PlanOptions(
          mode: .training, batch: batch, loss: .outputGradient, inputGradient: true, isa: isa),
        seed: UInt64(index))
      let kernels = executor.plan.steps.map(\.kernel)
      #expect(kernels.contains("conv forward by Winograd"), "shape \(index): \(kernels)")
      let direct = s.w + 2 * s.pad - s.k + 1 >= 24
      #expect(
        kernels.contains("conv backward dW \(direct ? "direct" : "batch GEMM"), dX Winograd"),
        "shape \(index): \(kernels)")
      let x = randomValues(executor.input.count, seed: UInt64(index) + 40)
      let r = randomValues(executor.output.count, seed: UInt64(index) + 80)
      _ = executor.input.update(fromContentsOf: x)
      executor.forward()
      _ = try #require(executor.lossGradient).update(fromContentsOf: r)
      executor.backward()

      let weight = Array(try #require(executor.parameter("conv.weight"))).map(Double.init)
      let bias = Array(try #require(executor.parameter("conv.bias"))).map(Double.init)
      let (imageSize, outputSize) = (s.c * s.h * s.w, s.f * oh * ow)
      var dw = [Double](repeating: 0, count: weight.count)
      var db = [Double](repeating: 0, count: s.f)
      func close(_ actual: some Collection<Float>, _ expected: [Double], _ what: String) {
        #expect(actual.count == expected.count, "\(what), shape \(index)")
        let worst = zip(actual, expected).map { abs(Double($0) - $1) / max(1, abs($1)) }.max()
        #expect((worst ?? 0) <= 1e-4, "\(what), shape \(index): off by \(worst ?? 0)")
      }
      let dx = try #require(executor.inputGradient)
      for n in 0..<batch {
        let image = x[(n * imageSize)..<((n + 1) * imageSize)].map(Double.init)
        let share = r[(n * outputSize)..<((n + 1) * outputSize)].map(Double.init)
        var y = Reference.convolution(
          image, c: s.c, h: s.h, w: s.w, weight: weight, bias: bias, filters: s.f,
          kernel: (s.k, s.k), stride: (1, 1), pad: (s.pad, s.pad), groups: s.groups
        ).values
        let gradients = Reference.convolutionGradients(
          image, c: s.c, h: s.h, w: s.w, weight: weight, filters: s.f, r: share,
          kernel: (s.k, s.k), stride: (1, 1), pad: (s.pad, s.pad), groups: s.groups)
        var expectedDX = gradients.input
        if s.residual {
          for i in y.indices { y[i] += image[i] }
          for i in expectedDX.indices { expectedDX[i] += share[i] }
        }
        close(executor.output[(n * outputSize)..<((n + 1) * outputSize)], y, "forward")
        close(dx[(n * imageSize)..<((n + 1) * imageSize)], expectedDX, "input gradient")
        for i in dw.indices { dw[i] += gradients.weight[i] }
        for i in db.indices { db[i] += gradients.bias[i] }
      }
      close(try #require(executor.parameterGradient("conv.weight")), dw, "weight gradient")
      close(try #require(executor.parameterGradient("conv.bias")), db, "bias gradient")
    }
  }

  /// Which layers take Winograd for dX in training (stride 1, at least "same" padding), and
  /// `lowering: gemm` taking none.
  @Test func loweringDecidesPerLayer() throws {
    for (stride, pad, lowering, expected) in [
      (1, 1, ConvolutionLowering.auto, true), (2, 1, .auto, false), (1, 1, .gemm, false),
      (1, 0, .auto, false),
    ] {
      let yaml = """
        input: [16, 32, 32]
        layers:
          - {type: conv, name: conv, filters: 16, kernel: 3, stride: \(stride), pad: \(pad)}
        """
      let executor = try makeExecutor(
        yaml,
        PlanOptions(
          mode: .training, batch: 2, loss: .outputGradient, inputGradient: true,
          lowering: lowering))
      let kernels = executor.plan.steps.map(\.kernel)
      let byWinograd = kernels.contains { $0.contains("dX Winograd") }
      #expect(byWinograd == expected, "stride \(stride), pad \(pad), \(lowering): \(kernels)")
      #expect(
        executor.plan.buffers.contains { $0.name == "conv winograd input-gradient weights" }
          == expected)
    }
  }

  static func residualNet(lowering: String) -> String {
    """
    name: residual
    input: [1, 28, 28]
    layers:
      - {type: conv, name: stem, filters: 16, kernel: 3, pad: 1}
      - {type: relu, name: stem_relu}
      - {type: conv, name: conv, filters: 16, kernel: 3, pad: 1}
      - {type: add, name: sum, input: [conv, stem_relu]}
      - {type: maxpool, kernel: 4}
      - {type: dense, name: fc, units: 10}
      - {type: softmax}
    train:
      data: {format: mnist, path: \(modelPath("data/mnist")), scale: 0.00390625}
      batch: 16
      lowering: \(lowering)
      optimizer: {type: sgd, lr: 0.05, momentum: 0.9}
    """
  }

  /// The same spec, seed, threads and path give the same weights bit for bit; `lowering: gemm`
  /// trains the same net by other arithmetic (so the switch takes effect), as deterministically.
  @Test(arguments: KernelISA.supported)
  func sameSeedSameWeights(_ isa: KernelISA) throws {
    func train(_ lowering: String) throws -> [Float] {
      let network = try InferredNetwork(yaml: Self.residualNet(lowering: lowering))
      var options = TrainingOptions(try #require(network.train))
      options.isa = isa
      #expect(options.lowering.rawValue == lowering)
      let trainer = try Trainer(network: network, data: try trainingSlice(64), options: options)
      for _ in 0..<3 { try trainer.trainStep() }
      return trainer.weights
    }
    let auto = try train("auto")
    #expect(try train("auto").map(\.bitPattern) == auto.map(\.bitPattern))
    let gemm = try train("gemm")
    #expect(try train("gemm").map(\.bitPattern) == gemm.map(\.bitPattern))
    #expect(gemm != auto)
  }
}
