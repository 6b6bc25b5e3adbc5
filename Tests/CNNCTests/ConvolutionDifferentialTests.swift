import Testing

@testable import CNNC

extension Reference {
  /// The gradients of Σ r·y for y = convolution(x): with respect to x, the weights and the bias,
  /// by the definition (each product's contribution added where it came from).
  static func convolutionGradients(
    _ x: [Double], c: Int, h: Int, w: Int, weight: [Double], filters: Int, r: [Double],
    kernel: (Int, Int), stride: (Int, Int), pad: (Int, Int), groups: Int
  ) -> (input: [Double], weight: [Double], bias: [Double]) {
    let (groupChannels, groupFilters) = (c / groups, filters / groups)
    let oh = (h + 2 * pad.0 - kernel.0) / stride.0 + 1
    let ow = (w + 2 * pad.1 - kernel.1) / stride.1 + 1
    var dx = [Double](repeating: 0, count: x.count)
    var dw = [Double](repeating: 0, count: weight.count)
    var db = [Double](repeating: 0, count: filters)
    for f in 0..<filters {
      for oy in 0..<oh {
        for ox in 0..<ow {
          let share = r[(f * oh + oy) * ow + ox]
          db[f] += share
          for local in 0..<groupChannels {
            let ch = (f / groupFilters) * groupChannels + local
            for i in 0..<kernel.0 {
              for j in 0..<kernel.1 {
                let (iy, ix) = (oy * stride.0 - pad.0 + i, ox * stride.1 - pad.1 + j)
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                let at = ((f * groupChannels + local) * kernel.0 + i) * kernel.1 + j
                dw[at] += x[(ch * h + iy) * w + ix] * share
                dx[(ch * h + iy) * w + ix] += weight[at] * share
              }
            }
          }
        }
      }
    }
    return (dx, dw, db)
  }
}

/// Random convolutions (kernel, stride and pad per dimension, groups, sizes 1 to 33) through
/// training and inference plans on every kernel path, against the Double definition: output,
/// input gradient, weight and bias gradients.
@Suite struct ConvolutionDifferentialTests {
  @Test(arguments: KernelISA.supported)
  func randomLayersMatchTheReference(isa: KernelISA) throws {
    var generator = SplitMix64(seed: 2027)
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var tried = 0
    while tried < 40 {
      let groups = [1, 1, 2, 3][pick(0...3)]
      let (c, filters) = (groups * pick(1...3), groups * pick(1...3))
      // Some rows of 24 or more, where stride-1 layers compute dW directly from the image.
      let (h, w) = (pick(1...12), pick(0...3) == 0 ? pick(24...33) : pick(1...12))
      let kernel = (pick(1...4), pick(1...4))
      let stride = (pick(1...3), pick(1...3))
      let pad = (pick(0...2), pick(0...2))
      guard h + 2 * pad.0 >= kernel.0, w + 2 * pad.1 >= kernel.1 else { continue }
      tried += 1
      try Self.check(
        isa, c: c, h: h, w: w, filters: filters, kernel: kernel, stride: stride, pad: pad,
        groups: groups, batch: 2, seed: UInt64(tried))
    }
  }

  /// Stride-1 layers at batches of 1 to 9 on planes up to 20×20: an `auto` plan computes dW as
  /// one GEMM over the batch, whose slices of 256 positions start and end inside images and span
  /// several small ones.
  @Test(arguments: KernelISA.supported)
  func strideOneBatchesMatchTheReference(isa: KernelISA) throws {
    var generator = SplitMix64(seed: 2028)
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var tried = 0
    while tried < 30 {
      let groups = [1, 1, 2][pick(0...2)]
      let (c, filters) = (groups * pick(1...7), groups * pick(1...19))
      let (h, w) = (pick(1...20), pick(1...20))
      let kernel = (pick(1...5), pick(1...5))
      let pad = (pick(0...2), pick(0...2))
      guard h + 2 * pad.0 >= kernel.0, w + 2 * pad.1 >= kernel.1 else { continue }
      tried += 1
      let direct = kernel.1 >= 3 && w + 2 * pad.1 - kernel.1 + 1 >= 24
      try Self.check(
        isa, c: c, h: h, w: w, filters: filters, kernel: kernel, stride: (1, 1), pad: pad,
        groups: groups, batch: pick(1...9), seed: UInt64(tried) + 100,
        weightGradient: direct ? "dW direct" : "dW batch GEMM")
    }
    // More than a block of filters (96) and of patch rows (512): the loops over both blocks.
    try Self.check(
      isa, c: 64, h: 6, w: 5, filters: 100, kernel: (3, 3), stride: (1, 1), pad: (1, 1),
      groups: 1, batch: 3, seed: 99, weightGradient: "dW batch GEMM")
  }

  /// Depthwise layers (groups = channels = filters) of every kernel, stride and pad, on odd
  /// planes and batches of 1 to 4: the direct depthwise kernels (`depthwise.c`), forward and
  /// every gradient, rows shorter and longer than a vector.
  @Test(arguments: KernelISA.supported)
  func depthwiseLayersMatchTheReference(isa: KernelISA) throws {
    var generator = SplitMix64(seed: 2029)
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var tried = 0
    while tried < 30 {
      let channels = pick(2...9)
      let (h, w) = (pick(1...14), pick(1...37))
      let kernel = (pick(1...5), pick(1...5))
      let stride = (pick(1...3), pick(1...3))
      let pad = (pick(0...2), pick(0...2))
      guard h + 2 * pad.0 >= kernel.0, w + 2 * pad.1 >= kernel.1 else { continue }
      tried += 1
      try Self.check(
        isa, c: channels, h: h, w: w, filters: channels, kernel: kernel, stride: stride, pad: pad,
        groups: channels, batch: pick(1...4), seed: UInt64(tried) + 200,
        weightGradient: "dW direct depthwise")
    }
  }

  /// One layer's training and inference plans against the definition; `weightGradient`, when
  /// given, is the dW lowering the training plan must name.
  static func check(
    _ isa: KernelISA, c: Int, h: Int, w: Int, filters: Int, kernel: (Int, Int),
    stride: (Int, Int), pad: (Int, Int), groups: Int, batch: Int, seed: UInt64,
    weightGradient: String? = nil
  ) throws {
    let yaml = """
      input: [\(c), \(h), \(w)]
      layers:
        - {type: conv, name: conv, filters: \(filters), kernel: [\(kernel.0), \(kernel.1)], \
      stride: [\(stride.0), \(stride.1)], pad: [\(pad.0), \(pad.1)], groups: \(groups)}
      """
    let label = "\(isa): \(yaml)"
    let training = try makeExecutor(
      yaml,
      PlanOptions(
        mode: .training, batch: batch, loss: .outputGradient, inputGradient: true, isa: isa),
      seed: seed)
    let inference = try makeExecutor(
      yaml, PlanOptions(mode: .inference, batch: batch, isa: isa), seed: seed)
    let x = randomValues(training.input.count, seed: seed + 500)
    let r = randomValues(training.output.count, seed: seed + 900)
    let weight = Array(try #require(training.parameter("conv.weight"))).map(Double.init)
    let bias = Array(try #require(training.parameter("conv.bias"))).map(Double.init)
    #expect(Array(try #require(inference.parameter("conv.weight"))) == weight.map(Float.init))
    _ = try #require(inference.parameter("conv.bias")).update(
      fromContentsOf: bias.map(Float.init))

    _ = training.input.update(fromContentsOf: x)
    _ = inference.input.update(fromContentsOf: x)
    training.forward()
    inference.forward()
    _ = try #require(training.lossGradient).update(fromContentsOf: r)
    training.backward()

    let (imageSize, outputSize) = (c * h * w, training.output.count / batch)
    var (y, dx) = ([Double](), [Double]())
    var dw = [Double](repeating: 0, count: weight.count)
    var db = [Double](repeating: 0, count: filters)
    for n in 0..<batch {
      let image = x[(n * imageSize)..<((n + 1) * imageSize)].map(Double.init)
      let share = r[(n * outputSize)..<((n + 1) * outputSize)].map(Double.init)
      let forward = Reference.convolution(
        image, c: c, h: h, w: w, weight: weight, bias: bias, filters: filters, kernel: kernel,
        stride: stride, pad: pad, groups: groups)
      y += forward.values
      let gradients = Reference.convolutionGradients(
        image, c: c, h: h, w: w, weight: weight, filters: filters, r: share, kernel: kernel,
        stride: stride, pad: pad, groups: groups)
      dx += gradients.input
      for i in dw.indices { dw[i] += gradients.weight[i] }
      for i in db.indices { db[i] += gradients.bias[i] }
    }
    func close(_ actual: some Collection<Float>, _ expected: [Double]) -> Bool {
      actual.count == expected.count
        && zip(actual, expected).allSatisfy { abs(Double($0) - $1) <= 1e-4 * max(1, abs($1)) }
    }
    #expect(close(training.output, y), "training forward, \(label)")
    #expect(close(inference.output, y), "inference forward, \(label)")
    #expect(close(try #require(training.inputGradient), dx), "input gradient, \(label)")
    #expect(
      close(try #require(training.parameterGradient("conv.weight")), dw),
      "weight gradient, \(label)")
    #expect(
      close(try #require(training.parameterGradient("conv.bias")), db), "bias gradient, \(label)")
    if let weightGradient {
      let backward = training.plan.steps.map(\.kernel).filter { $0.hasPrefix("conv backward") }
      #expect(backward.allSatisfy { $0.contains(weightGradient) }, "\(backward), \(label)")
    }
  }
}
