import Testing

@testable import CNNC

/// Random pooling layers (kernel, stride and pad per dimension, ceil and floor) against a Double
/// reference written from PyTorch's and ONNX's definition, forward and backward: the kernels on
/// arrays of exactly the input's size (so AddressSanitizer sees any read outside a plane), and the
/// whole plan, training and inference, on every kernel path the CPU has. Strides larger than the
/// kernel are drawn often: there the rounding formula reaches past the input.
@Suite struct PoolingDifferentialTests {
  struct Layer: CustomStringConvertible {
    var channels, height, width: Int
    var kernel, stride, pad: (Int, Int)
    var ceil: Bool
    var isMax: Bool

    var description: String {
      "\(isMax ? "maxpool" : "avgpool") on \(channels)×\(height)×\(width): kernel \(kernel), "
        + "stride \(stride), pad \(pad), \(ceil ? "ceil" : "floor")"
    }

    var yaml: String {
      """
      input: [\(channels), \(height), \(width)]
      layers:
        - {type: \(isMax ? "maxpool" : "avgpool"), kernel: [\(kernel.0), \(kernel.1)], \
      stride: [\(stride.0), \(stride.1)], pad: [\(pad.0), \(pad.1)], round: \(ceil ? "ceil" : "floor")}

      """
    }

    static func random(_ generator: inout SplitMix64) -> Layer {
      func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
      let kernel = (pick(1...4), pick(1...4))
      return Layer(
        channels: pick(1...3), height: pick(1...11), width: pick(1...11), kernel: kernel,
        stride: (pick(1...6), pick(1...6)),
        pad: (pick(0...(kernel.0 - 1)), pick(0...(kernel.1 - 1))),
        ceil: pick(0...2) > 0, isMax: pick(0...1) == 1)
    }
  }

  /// The windows of one dimension by their definition: start at o·s − p for o = 0, 1, …, as many
  /// as the rounding formula gives, then drop from the end any that starts at or past the input.
  static func windows(input: Int, kernel: Int, stride: Int, pad: Int, ceil: Bool) -> [Range<Int>]? {
    let span = input + 2 * pad - kernel
    guard span >= 0 else { return nil }
    let count = Int((Double(span) / Double(stride)).rounded(ceil ? .up : .down)) + 1
    var starts = (0..<count).map { $0 * stride - pad }
    while let last = starts.last, last >= input { starts.removeLast() }
    // The padded window, for the average's divisor; clipped to the input when summing.
    return starts.map { $0..<min($0 + kernel, input + pad) }
  }

  struct Expected {
    var height, width: Int
    var output: [Double]
    var inputGradient: [Double]
  }

  /// Forward values and, for the loss Σ r·y, the gradient with respect to the input (max: to
  /// the first maximum in row-major window order; average: evenly over the padded window).
  static func reference(_ layer: Layer, batch: Int, input x: [Float], r: [Float]) -> Expected? {
    guard
      let rows = windows(
        input: layer.height, kernel: layer.kernel.0, stride: layer.stride.0, pad: layer.pad.0,
        ceil: layer.ceil),
      let columns = windows(
        input: layer.width, kernel: layer.kernel.1, stride: layer.stride.1, pad: layer.pad.1,
        ceil: layer.ceil)
    else { return nil }
    let (h, w) = (layer.height, layer.width)
    var output: [Double] = []
    var gradient = [Double](repeating: 0, count: x.count)
    for plane in 0..<(batch * layer.channels) {
      for windowRows in rows {
        for windowColumns in columns {
          let inside = windowRows.clamped(to: 0..<h).flatMap { iy in
            windowColumns.clamped(to: 0..<w).map { ix in plane * h * w + iy * w + ix }
          }
          let share = r[output.count]
          if layer.isMax {
            let best = inside.dropFirst().reduce(inside[0]) { x[$1] > x[$0] ? $1 : $0 }
            output.append(Double(x[best]))
            gradient[best] += Double(share)
          } else {
            let area = Double(windowRows.count * windowColumns.count)
            output.append(inside.reduce(0) { $0 + Double(x[$1]) } / area)
            for index in inside { gradient[index] += Double(share) / area }
          }
        }
      }
    }
    return Expected(
      height: rows.count, width: columns.count, output: output, inputGradient: gradient)
  }

  static func close(_ actual: some Collection<Float>, _ expected: [Double]) -> Bool {
    actual.count == expected.count
      && zip(actual, expected).allSatisfy { abs(Double($0) - $1) <= 1e-5 * max(1, abs($1)) }
  }

  static let layers: [Layer] = {
    var generator = SplitMix64(seed: 27)
    // The issue's cases first: a window starting at the end of an unpadded input, a 1×1 window
    // with stride 3 over 8 columns, and a padded height beside an unpadded width.
    var layers = [
      Layer(
        channels: 1, height: 4, width: 4, kernel: (2, 2), stride: (4, 4), pad: (0, 0), ceil: true,
        isMax: true),
      Layer(
        channels: 1, height: 4, width: 4, kernel: (2, 2), stride: (4, 4), pad: (0, 0), ceil: true,
        isMax: false),
      Layer(
        channels: 2, height: 5, width: 8, kernel: (1, 1), stride: (1, 3), pad: (0, 0), ceil: true,
        isMax: true),
      Layer(
        channels: 1, height: 3, width: 8, kernel: (4, 1), stride: (4, 4), pad: (3, 0), ceil: true,
        isMax: false),
    ]
    while layers.count < 300 {
      let layer = Layer.random(&generator)
      if windows(
        input: layer.height, kernel: layer.kernel.0, stride: layer.stride.0, pad: layer.pad.0,
        ceil: true) != nil,
        windows(
          input: layer.width, kernel: layer.kernel.1, stride: layer.stride.1, pad: layer.pad.1,
          ceil: true) != nil
      {
        layers.append(layer)
      }
    }
    return layers
  }()

  /// The issue's examples, by the shapes ONNX Runtime gives (and PyTorch, but for the fourth:
  /// PyTorch refuses a pad over half the kernel).
  @Test func shapesOfTheReportedLayers() throws {
    let expected = [(1, 1), (1, 1), (5, 3), (2, 2)]
    for (layer, (height, width)) in zip(Self.layers, expected) {
      let network = try InferredNetwork(yaml: layer.yaml)
      let shape = try #require(network.layers.last?.output)
      #expect((shape.height, shape.width) == (height, width), "\(layer)")
    }
  }

  /// `check` names the dropped window and its arithmetic, and accepts the layer.
  @Test func checkWarnsAboutADroppedWindow() {
    let result = check(Self.layers[0].yaml)
    #expect(result.isValid)
    let messages = result.diagnostics.warnings.map(\.message)
    #expect(messages.count == 2, "\(messages)")  // one for the height, one for the width
    #expect(
      messages.first?.contains("ceil((4 − 2 + 2·0)/4) + 1 = 2 windows in height") == true,
      "\(messages)")
    #expect(messages.first?.contains("row 1·4 − 0 = 4, past the input's 4 rows") == true)
    // After the drop, a column the kept windows do not reach is named too.
    let skipping = check(Self.layers[2].yaml).diagnostics.warnings.map(\.message)
    #expect(skipping.count == 1, "\(skipping)")
    #expect(
      skipping.first?.contains(
        "the last column of the input (after the kept windows' end at column 2·3 − 0 + 1 − 1 = 6) "
          + "is then unused") == true, "\(skipping)")
    // A layer whose windows all cover pixels says nothing of the kind.
    let plain = check("input: [1, 5, 5]\nlayers:\n  - {type: maxpool, kernel: 2, stride: 2}\n")
    #expect(plain.diagnostics.warnings.isEmpty)
  }

  /// Every layer's kernels on exact-size arrays: shape, values and gradient.
  @Test func kernelsMatchTheReference() throws {
    let batch = 2
    for layer in Self.layers {
      let network = try InferredNetwork(yaml: layer.yaml)
      let shape = try #require(network.layers.last?.output)
      let count = batch * layer.channels * layer.height * layer.width
      let x = distinctValues(count, seed: UInt64(count))
      let outputCount = batch * layer.channels * shape.height * shape.width
      let r = randomValues(outputCount, seed: 5)
      let expected = try #require(Self.reference(layer, batch: batch, input: x, r: r))
      #expect((shape.height, shape.width) == (expected.height, expected.width), "\(layer)")
      guard (shape.height, shape.width) == (expected.height, expected.width) else { continue }
      let g = WindowGeometry(
        channels: layer.channels, inputHeight: layer.height, inputWidth: layer.width,
        kernelHeight: layer.kernel.0, kernelWidth: layer.kernel.1, strideHeight: layer.stride.0,
        strideWidth: layer.stride.1, padHeight: layer.pad.0, padWidth: layer.pad.1,
        outputHeight: shape.height, outputWidth: shape.width)
      let planes = batch * layer.channels
      var y = [Float](repeating: .nan, count: outputCount)
      var values = [Float](repeating: .nan, count: outputCount)
      var argmax = [Int32](repeating: -1, count: outputCount)
      var dx = [Float](repeating: .nan, count: count)
      if layer.isMax {
        maxPoolForward(x, &y, &argmax, planes: planes, g)
        maxPoolForwardValues(x, &values, planes: planes, g)
        maxPoolBackward(r, argmax, &dx, planes: planes, overwrite: true, g)
        #expect(values == y, "values-only kernel: \(layer)")
      } else {
        averagePoolForward(x, &y, planes: planes, g)
        averagePoolBackward(r, &dx, planes: planes, overwrite: true, g)
      }
      #expect(Self.close(y, expected.output), "forward: \(layer)")
      #expect(Self.close(dx, expected.inputGradient), "backward: \(layer)")
    }
  }

  /// Every layer through training and inference plans, on every kernel path.
  @Test(arguments: KernelISA.supported)
  func plansMatchTheReference(isa: KernelISA) throws {
    let batch = 2
    for (index, layer) in Self.layers.enumerated() where index % 3 == 0 || index < 4 {
      let training = try makeExecutor(
        layer.yaml,
        PlanOptions(
          mode: .training, batch: batch, loss: .outputGradient, inputGradient: true, isa: isa))
      let x = distinctValues(training.input.count, seed: UInt64(index))
      let r = randomValues(training.output.count, seed: UInt64(index) + 1)
      let expected = try #require(Self.reference(layer, batch: batch, input: x, r: r))
      _ = training.input.update(fromContentsOf: x)
      training.forward()
      #expect(Self.close(training.output, expected.output), "training forward: \(layer)")
      _ = try #require(training.lossGradient).update(fromContentsOf: r)
      training.backward()
      let gradient = try #require(training.inputGradient)
      #expect(Self.close(gradient, expected.inputGradient), "backward: \(layer)")

      let inference = try makeExecutor(
        layer.yaml, PlanOptions(mode: .inference, batch: batch, isa: isa))
      _ = inference.input.update(fromContentsOf: x)
      inference.forward()
      #expect(Self.close(inference.output, expected.output), "inference: \(layer)")
    }
  }
}
