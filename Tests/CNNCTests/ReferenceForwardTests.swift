import CNNCKernels
import Testing

@testable import CNNC

/// Plain, obviously-correct loops in Double, written independently of the kernels.
enum Reference {
  /// x: (C, H, W) → (F, oh, ow), direct convolution (cross-correlation, as frameworks define it).
  static func convolution(
    _ x: [Double], c: Int, h: Int, w: Int, weight: [Double], bias: [Double], filters: Int,
    kernel: (Int, Int), stride: (Int, Int), pad: (Int, Int), groups: Int = 1
  ) -> (values: [Double], h: Int, w: Int) {
    // Filter f sees only its group's channels: weight [filters, c/groups, kh, kw].
    let (groupChannels, groupFilters) = (c / groups, filters / groups)
    let oh = (h + 2 * pad.0 - kernel.0) / stride.0 + 1
    let ow = (w + 2 * pad.1 - kernel.1) / stride.1 + 1
    var y = [Double](repeating: 0, count: filters * oh * ow)
    for f in 0..<filters {
      for oy in 0..<oh {
        for ox in 0..<ow {
          var sum = bias.isEmpty ? 0 : bias[f]
          for local in 0..<groupChannels {
            let ch = (f / groupFilters) * groupChannels + local
            for i in 0..<kernel.0 {
              for j in 0..<kernel.1 {
                let iy = oy * stride.0 - pad.0 + i
                let ix = ox * stride.1 - pad.1 + j
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                sum +=
                  weight[((f * groupChannels + local) * kernel.0 + i) * kernel.1 + j]
                  * x[(ch * h + iy) * w + ix]
              }
            }
          }
          y[(f * oh + oy) * ow + ox] = sum
        }
      }
    }
    return (y, oh, ow)
  }

  /// Caffe's pooling: ceil-mode size with the padding-drop rule, windows clipped to the input,
  /// averages over the window's span inside the padded input.
  static func pool(
    _ x: [Double], c: Int, h: Int, w: Int, kernel: Int, stride: Int, pad: Int, max isMax: Bool
  ) -> (values: [Double], h: Int, w: Int) {
    func size(_ i: Int) -> Int {
      var o = (i + 2 * pad - kernel + stride - 1) / stride + 1
      if pad > 0 && (o - 1) * stride >= i + pad { o -= 1 }
      return o
    }
    let (oh, ow) = (size(h), size(w))
    var y = [Double](repeating: 0, count: c * oh * ow)
    for ch in 0..<c {
      for oy in 0..<oh {
        for ox in 0..<ow {
          let (y0, x0) = (oy * stride - pad, ox * stride - pad)
          let (y1, x1) = (min(y0 + kernel, h + pad), min(x0 + kernel, w + pad))
          let area = Double((y1 - y0) * (x1 - x0))
          var best = -Double.infinity
          var sum = 0.0
          for iy in max(y0, 0)..<min(y1, h) {
            for ix in max(x0, 0)..<min(x1, w) {
              best = Swift.max(best, x[(ch * h + iy) * w + ix])
              sum += x[(ch * h + iy) * w + ix]
            }
          }
          y[(ch * oh + oy) * ow + ox] = isMax ? best : sum / area
        }
      }
    }
    return (y, oh, ow)
  }

  /// y = W·x + b with W (units, n).
  static func dense(_ x: [Double], weight: [Double], bias: [Double], units: Int) -> [Double] {
    (0..<units).map { u in
      bias[u] + x.indices.reduce(0) { $0 + weight[u * x.count + $1] * x[$1] }
    }
  }
}

@Suite struct ReferenceForwardTests {
  /// Random small nets: conv (random kernel, stride, pad) → relu → pool → dense.
  @Test(arguments: 1...8, KernelISA.supported)
  func randomNetMatchesDirectConvolution(seed: Int, isa: KernelISA) throws {
    var generator = SplitMix64(seed: UInt64(seed))
    func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    let (c, h, w) = (pick(1...3), pick(6...10), pick(6...10))
    let (filters, kh, kw) = (pick(1...4), pick(1...3), pick(1...3))
    let (sh, sw, ph, pw) = (pick(1...2), pick(1...2), pick(0...1), pick(0...1))
    let (poolKernel, poolStride) = (pick(2...3), pick(1...2))
    let poolPad = pick(0...(poolKernel - 1))
    let isMax = pick(0...1) == 1
    let units = pick(2...5)
    let batch = 3
    let yaml = """
      input: [\(c), \(h), \(w)]
      layers:
        - {type: conv, name: conv, filters: \(filters), kernel: [\(kh), \(kw)], stride: [\(sh), \(sw)], pad: [\(ph), \(pw)]}
        - {type: relu}
        - {type: \(isMax ? "maxpool" : "avgpool"), kernel: \(poolKernel), stride: \(poolStride), pad: \(poolPad)}
        - {type: dense, name: fc, units: \(units)}
      """
    let executor = try makeExecutor(
      yaml, PlanOptions(mode: .inference, batch: batch, isa: isa), seed: UInt64(seed))
    let input = randomValues(executor.input.count, seed: UInt64(seed) + 100)
    _ = executor.input.update(fromContentsOf: input)
    executor.forward()

    func double(_ buffer: UnsafeMutableBufferPointer<Float>?) -> [Double] {
      (buffer.map { Array($0) } ?? []).map { Double($0) }
    }
    let (convWeight, convBias) = (
      double(executor.parameter("conv.weight")), double(executor.parameter("conv.bias"))
    )
    let (fcWeight, fcBias) = (
      double(executor.parameter("fc.weight")), double(executor.parameter("fc.bias"))
    )
    let perSample = c * h * w
    for sample in 0..<batch {
      let x = input[(sample * perSample)..<((sample + 1) * perSample)].map(Double.init)
      let conv = Reference.convolution(
        x, c: c, h: h, w: w, weight: convWeight, bias: convBias, filters: filters, kernel: (kh, kw),
        stride: (sh, sw), pad: (ph, pw))
      let relu = conv.values.map { max($0, 0) }
      let pooled = Reference.pool(
        relu, c: filters, h: conv.h, w: conv.w, kernel: poolKernel, stride: poolStride,
        pad: poolPad,
        max: isMax)
      let expected = Reference.dense(pooled.values, weight: fcWeight, bias: fcBias, units: units)
      let actual = executor.output[(sample * units)..<((sample + 1) * units)]
      for (a, e) in zip(actual, expected) {
        #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e)), "seed \(seed): \(yaml)")
      }
    }
  }
}

/// Stride-1 convolutions with rows of 32 outputs or more and at most 128 filters run as a direct
/// convolution (the image read in place of packed panels). Against the definition in Double,
/// and bit for bit against the implicit GEMM, which takes over when one image's outputs are
/// split across two threads.
@Suite struct DirectConvolutionTests {
  static let shapes: [(c: Int, h: Int, w: Int, filters: Int, kh: Int, kw: Int, ph: Int, pw: Int)] =
    [
      (3, 5, 37, 13, 3, 2, 1, 0),  // 36 columns: a full tile and a masked one; 13 filters
      (30, 4, 40, 7, 3, 3, 1, 1),  // a patch of 270 rows: two blocks of k
      (1, 3, 64, 128, 1, 5, 0, 2),  // the most filters the direct path takes
      (2, 6, 34, 24, 3, 3, 1, 1),  // two full panels of 12 filters
    ]

  @Test(arguments: KernelISA.supported)
  func matchesTheReferenceAndTheGEMM(_ isa: KernelISA) throws {
    for (index, s) in Self.shapes.enumerated() {
      let yaml = """
        input: [\(s.c), \(s.h), \(s.w)]
        layers:
          - {type: conv, name: conv, filters: \(s.filters), kernel: [\(s.kh), \(s.kw)], pad: [\(s.ph), \(s.pw)]}
        """
      let direct = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 1, isa: isa), seed: UInt64(index))
      let split = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 1, isa: isa, imageThreads: 2),
        seed: UInt64(index))
      let input = randomValues(direct.input.count, seed: UInt64(index) + 50)
      for executor in [direct, split] {
        _ = executor.input.update(fromContentsOf: input)
        executor.forward()
      }
      #expect(
        Array(direct.output).map(\.bitPattern) == Array(split.output).map(\.bitPattern),
        "shape \(index)")
      let weight = Array(try #require(direct.parameter("conv.weight"))).map(Double.init)
      let bias = Array(try #require(direct.parameter("conv.bias"))).map(Double.init)
      let expected = Reference.convolution(
        input.map(Double.init), c: s.c, h: s.h, w: s.w, weight: weight, bias: bias,
        filters: s.filters, kernel: (s.kh, s.kw), stride: (1, 1), pad: (s.ph, s.pw))
      #expect(expected.values.count == direct.output.count)
      for (a, e) in zip(direct.output, expected.values) {
        #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e)), "shape \(index)")
      }
    }
  }
}

/// Inference plans run 3×3 and 5×5 stride-1 convolutions with at least 16 channels and 16
/// filters by Winograd's F(4×4, 3×3) or F(2×2, 5×5). Against the definition in Double, on
/// odd planes (a last tile partly outside), every pad the window allows, blocks of tiles that
/// span two images, channels past one slice of k (256), filter counts that are not a multiple
/// of any tile, and groups; and bit for bit between one thread and an image split across two
/// (whole blocks of tiles each).
@Suite struct WinogradConvolutionTests {
  static let shapes: [(c: Int, h: Int, w: Int, filters: Int, kernel: Int, pad: Int, groups: Int)] =
    [
      (64, 13, 17, 64, 3, 1, 1),  // 4 × 5 tiles: a clipped last row and column of tiles
      (67, 20, 9, 71, 3, 0, 1),  // no pad; 71 filters: partial panels on every path
      (300, 6, 7, 65, 3, 1, 1),  // 300 channels: two slices of k
      (65, 24, 24, 66, 3, 2, 1),  // pad 2: a ring of zero tiles; 49 tiles, blocks across images
      (128, 9, 10, 128, 3, 1, 2),  // groups of 64 channels and 64 filters
      (20, 12, 12, 50, 5, 0, 1),  // LeNet's conv2: 16 tiles per image
      (17, 9, 11, 19, 5, 2, 1),  // odd plane, pad 2
      (260, 7, 6, 16, 5, 4, 1),  // pad 4, the most a 5×5 window allows; two slices of k
      (32, 10, 10, 32, 5, 1, 2),  // groups of 16 channels and 16 filters
      (16, 32, 32, 16, 3, 1, 1),  // ResNet-20's first stage
      (17, 11, 13, 23, 3, 1, 1),  // odd plane, filters not a multiple of any tile
      (32, 9, 8, 32, 3, 1, 2),  // 3×3 in groups of 16
      (17, 11, 31, 23, 3, 1, 1),  // F(4×4): 8 tiles a row, the last row and column clipped
      (20, 9, 31, 18, 3, 0, 1),  // F(4×4), no pad: rows of 29, a last tile one column wide
    ]

  /// F(4×4, 3×3) where an output row holds eight of its tiles (29 columns or more); F(2×2, 3×3)
  /// on narrower planes and for 5×5 windows.
  @Test func wideRowsTakeFourByFourTiles() {
    for (kernel, width, side) in [(3, 28, 2), (3, 29, 4), (3, 32, 4), (5, 32, 2), (5, 28, 2)] {
      let geometry = Window(kernel: Pair(kernel), stride: Pair(1), pad: Pair(1)).geometry(
        input: Shape(channels: 16, height: 8, width: width - 3 + kernel),
        output: Shape(channels: 16, height: 6 + 3 - kernel + 2, width: width))
      let found = withUnsafePointer(to: geometry.window) { cnnc_winograd_tile_side($0) }
      #expect(found == side, "\(kernel)×\(kernel) over a plane \(width) wide")
    }
  }

  /// Where the rule stops: 15 channels or 15 filters keep the GEMM, as does a stride of 2;
  /// training plans take it too (`WinogradTrainingTests`).
  @Test func takenFromSixteenChannelsAndFilters() throws {
    for (channels, filters, stride, mode, expected) in [
      (16, 16, 1, PlanMode.inference, true), (15, 16, 1, .inference, false),
      (16, 15, 1, .inference, false), (16, 16, 2, .inference, false),
      (16, 16, 1, .training, true), (15, 16, 1, .training, false),
    ] {
      let yaml = """
        input: [\(channels), 32, 32]
        layers:
          - {type: conv, name: conv, filters: \(filters), kernel: 3, stride: \(stride), pad: 1}
        """
      let executor = try makeExecutor(
        yaml, PlanOptions(mode: mode, batch: 2, loss: .outputGradient))
      #expect(try Self.runsByWinograd(executor) == expected, "\(yaml) \(mode)")
    }
  }

  @Test(arguments: KernelISA.supported)
  func matchesTheReference(_ isa: KernelISA) throws {
    for (index, s) in Self.shapes.enumerated() {
      let yaml = """
        input: [\(s.c), \(s.h), \(s.w)]
        layers:
          - {type: conv, name: conv, filters: \(s.filters), kernel: \(s.kernel), pad: \(s.pad), groups: \(s.groups)}
        """
      // Enough images for the 256 2×2 tiles (1,024 outputs) a batch needs for Winograd.
      let tiles = ((s.h + 2 * s.pad - s.kernel + 2) / 2) * ((s.w + 2 * s.pad - s.kernel + 2) / 2)
      let batch = max(2, (256 + tiles - 1) / tiles)
      let one = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: batch, isa: isa), seed: UInt64(index))
      #expect(try Self.runsByWinograd(one), "shape \(index)")
      let input = randomValues(one.input.count, seed: UInt64(index) + 70)
      _ = one.input.update(fromContentsOf: input)
      one.forward()
      let weight = Array(try #require(one.parameter("conv.weight"))).map(Double.init)
      let bias = Array(try #require(one.parameter("conv.bias"))).map(Double.init)
      let perSample = s.c * s.h * s.w
      for sample in [0, 1, batch - 1] {
        let x = input[(sample * perSample)..<((sample + 1) * perSample)].map(Double.init)
        let expected = Reference.convolution(
          x, c: s.c, h: s.h, w: s.w, weight: weight, bias: bias, filters: s.filters,
          kernel: (s.kernel, s.kernel), stride: (1, 1), pad: (s.pad, s.pad), groups: s.groups)
        let perOutput = expected.values.count
        #expect(perOutput * batch == one.output.count)
        let actual = one.output[(sample * perOutput)..<((sample + 1) * perOutput)]
        for (a, e) in zip(actual, expected.values) {
          #expect(abs(Double(a) - e) <= 1e-4 * max(1, abs(e)), "shape \(index)")
        }
      }
    }
  }

  /// One image of 289 (3×3) or 324 (5×5) tiles split across two threads: bit for bit the
  /// single thread's outputs, and the same taken in a batch.
  @Test(arguments: KernelISA.supported)
  func splitImageMatchesOneThread(_ isa: KernelISA) throws {
    for (index, spec) in [
      "[64, 34, 34]: {filters: 64, kernel: 3, pad: 1}",
      "[16, 36, 36]: {filters: 20, kernel: 5, pad: 2}",
    ].enumerated() {
      let parts = spec.split(separator: ": ", maxSplits: 1)
      let yaml =
        "input: \(parts[0])\nlayers:\n  - {type: conv, name: conv, \(parts[1].dropFirst())\n"
      let one = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 1, isa: isa), seed: UInt64(index))
      let split = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 1, isa: isa, imageThreads: 2),
        seed: UInt64(index))
      let batched = try makeExecutor(
        yaml, PlanOptions(mode: .inference, batch: 2, isa: isa), seed: UInt64(index))
      for executor in [one, split, batched] {
        #expect(try Self.runsByWinograd(executor), "\(spec)")
        let input = randomValues(one.input.count, seed: UInt64(index) + 90)
        _ = executor.input.update(fromContentsOf: (input + input).prefix(executor.input.count))
        executor.forward()
      }
      let expected = Array(one.output).map(\.bitPattern)
      #expect(Array(split.output).map(\.bitPattern) == expected, "\(spec)")
      #expect(Array(batched.output.prefix(one.output.count)).map(\.bitPattern) == expected)
      #expect(Array(batched.output.suffix(one.output.count)).map(\.bitPattern) == expected)
    }
  }

  /// Whether the plan's layer "conv" has Winograd's scratch (its transformed weights).
  static func runsByWinograd(_ executor: Executor) throws -> Bool {
    executor.plan.buffers.contains { $0.name == "conv winograd weights" }
  }
}

/// Max pooling's fast paths (four windows at a time; SIMD for 2×2 stride 2) against the plain
/// definition: the value and the first maximum's index in row-major window order, ties included.
@Suite struct MaxPoolKernelTests {
  @Test(arguments: [(2, 2, 0), (2, 2, 1), (3, 2, 0), (3, 2, 1), (2, 1, 0), (3, 3, 1), (1, 1, 0)])
  func matchesTheDefinition(kernel: Int, stride: Int, pad: Int) {
    var generator = SplitMix64(seed: UInt64(kernel * 100 + stride * 10 + pad))
    for (height, width) in [(8, 8), (9, 13), (12, 24), (5, 11), (24, 24), (7, 41)] {
      // Few distinct values, so windows hold ties.
      let input = (0..<(2 * height * width)).map { _ in
        Float(Int.random(in: 0..<4, using: &generator))
      }
      guard
        let oh = OutputSize.pooling(
          input: height, kernel: kernel, stride: stride, pad: pad, ceilMode: true),
        let ow = OutputSize.pooling(
          input: width, kernel: kernel, stride: stride, pad: pad, ceilMode: true)
      else { continue }
      let g = WindowGeometry(
        channels: 2, inputHeight: height, inputWidth: width, kernelHeight: kernel,
        kernelWidth: kernel,
        strideHeight: stride, strideWidth: stride, padHeight: pad, padWidth: pad, outputHeight: oh,
        outputWidth: ow)
      var output = [Float](repeating: -1, count: 2 * oh * ow)
      var argmax = [Int32](repeating: -1, count: 2 * oh * ow)
      input.withUnsafeBufferPointer { x in
        output.withUnsafeMutableBufferPointer { y in
          argmax.withUnsafeMutableBufferPointer { a in
            maxPoolForward(x.baseAddress!, y.baseAddress!, a.baseAddress!, planes: 2, g)
          }
        }
      }
      // The inference kernel (values only) gives the same values.
      var values = [Float](repeating: -1, count: 2 * oh * ow)
      input.withUnsafeBufferPointer { x in
        values.withUnsafeMutableBufferPointer { y in
          maxPoolForwardValues(x.baseAddress!, y.baseAddress!, planes: 2, g)
        }
      }
      #expect(values == output, "values only: \(height)×\(width) k\(kernel) s\(stride) p\(pad)")
      for plane in 0..<2 {
        for oy in 0..<oh {
          for ox in 0..<ow {
            var best = -Float.infinity
            var index = -1
            for iy in max(0, oy * stride - pad)..<min(height, oy * stride - pad + kernel) {
              for ix in max(0, ox * stride - pad)..<min(width, ox * stride - pad + kernel)
              where input[plane * height * width + iy * width + ix] > best {
                best = input[plane * height * width + iy * width + ix]
                index = iy * width + ix
              }
            }
            let at = (plane * oh + oy) * ow + ox
            #expect(
              output[at] == best && Int(argmax[at]) == index,
              "\(height)×\(width) k\(kernel) s\(stride) p\(pad) at \(plane),\(oy),\(ox)")
          }
        }
      }
    }
  }
}
