import CNNCKernels
import Foundation
import MallocCounter
import Testing

@testable import CNNC

/// The int8 kernels against the exact integer reference: every path this CPU has must give the
/// reference's bytes, on odd product shapes and on random networks.
@Suite struct Int8ExecutorTests {
  static let paths = KernelISA.allCases.filter { cnnc_int8_isa_supported($0.path) != 0 }

  /// One product straight through `cnnc_int8_gemm`: shapes that leave partial row tiles and
  /// column vectors, strided output, random requantizations (ReLU clamps, tiny and large
  /// scales, and small sums at scales of 1/2 to 1/8 where halves, positive and negative, are
  /// common), against the sums computed here and `Requantization.int8`.
  @Test(arguments: paths)
  func oddProductsGiveTheReferenceBytes(_ isa: KernelISA) {
    var generator = SplitMix64(seed: 21)
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    for _ in 0..<60 {
      let (m, n, k) = (draw(1...20), draw(1...100), draw(1...70))
      let ties = draw(0...2) == 0
      let weights = (0..<(m * k)).map { _ in Int8(ties ? draw(-1...1) : draw(-127...127)) }
      let columns = cnnc_int8_padded_columns(n)
      var b = [UInt8](repeating: 0, count: (k + 3) / 4 * 4 * columns)
      // Column j: x[j·k ..< (j+1)·k].
      let x = (0..<(n * k)).map { _ in UInt8(ties ? draw(0...3) : draw(0...255)) }
      cnnc_int8_pack_vectors(k, n, x, k, &b)
      let bias = (0..<m).map { _ in Int32(ties ? draw(-200...200) : draw(-50_000...50_000)) }
      let requantizations = (0..<m).map { _ in
        ties
          ? Requantization(scale: 1 / Double(1 << draw(1...3)))!
          : Requantization(scale: Double(draw(1...1_000_000)) * 1e-7 * Double(draw(1...300)))!
      }
      let multipliers = requantizations.map(\.multiplier)
      let shifts = requantizations.map { Int32($0.shift) }
      let (zero, relu) = (Int32(draw(-128...127)), draw(0...1) == 1)
      var packed = [UInt8](repeating: 0, count: cnnc_int8_packed_weights_bytes(isa.path, m, k))
      cnnc_int8_pack_weights(isa.path, m, k, weights, &packed)
      // Row-major or transposed (a dense layer's outputs are image-major).
      let transposed = draw(0...1) == 1
      var c = [UInt8](repeating: 0, count: m * n)
      bias.withUnsafeBufferPointer { bias in
        multipliers.withUnsafeBufferPointer { multipliers in
          shifts.withUnsafeBufferPointer { shifts in
            var r = cnnc_int8_requantization(
              bias: bias.baseAddress, multiplier: multipliers.baseAddress,
              shift: shifts.baseAddress, zero_point: zero, low: relu ? zero : -128, high: 127)
            cnnc_int8_gemm(
              isa.path, m, n, k, packed, b, &r, &c, transposed ? 1 : n, transposed ? m : 1, 0,
              cnnc_int8_row_tiles(m))
          }
        }
      }
      var mismatches = 0
      for i in 0..<m {
        for j in 0..<n {
          var sum = bias[i]
          for p in 0..<k { sum &+= Int32(x[j * k + p]) * Int32(weights[i * k + p]) }
          let expected = requantizations[i].int8(sum, zeroPoint: zero, low: relu ? zero : -128)
          let got = c[transposed ? j * m + i : i * n + j]
          if Int32(got) - 128 != Int32(expected) { mismatches += 1 }
        }
      }
      #expect(mismatches == 0, "\(isa) m \(m) n \(n) k \(k): \(mismatches) bytes differ")
    }
  }

  /// Float inputs quantized on every path as `QuantizationParameters.quantize` does: halves
  /// (away from zero), NaN, infinities, values past the int8 range, a tail shorter than a vector.
  @Test(arguments: paths)
  func inputsQuantizeAsTheReference(_ isa: KernelISA) {
    let mapping = QuantizationParameters(scale: 0.25, zeroPoint: -3)
    var values: [Float] = [.nan, .infinity, -.infinity, 1e30, -1e30, 0, -0.0, 40, -40]
    values += (-20...20).map { Float($0) * 0.125 }  // every other one a half step
    values += (0..<37).map { Float($0) * 0.37 - 6 }
    var out = [UInt8](repeating: 0, count: values.count)
    cnnc_int8_quantize(isa.path, values, values.count, mapping.scale, mapping.zeroPoint, &out)
    for (value, byte) in zip(values, out) {
      #expect(Int32(byte) - 128 == Int32(mapping.quantize(value)), "\(isa) \(value)")
    }
  }

  /// Random networks (convolutions with strides, pads and groups, poolings, adds, concats,
  /// global averages, dense layers, float steps) at an odd batch, on one and two threads: every
  /// step's bytes and the outputs equal the integer reference's on every path.
  @Test(arguments: paths)
  func randomNetworksGiveTheReferenceBytes(_ isa: KernelISA) throws {
    var generator = SplitMix64(seed: 404)
    var tested = 0
    var attempts = 0
    while tested < 24 && attempts < 2_000 {
      attempts += 1
      guard let yaml = CompiledCDifferentialTests.randomSpec(&generator),
        let network = try? InferredNetwork(yaml: yaml)
      else { continue }
      let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
      let images = Int8CheckpointTests.randomImages(5, floats: plan.inputFloats, seed: 9)
      guard let quantized = try? QuantizedNetwork(plan, calibration: images) else { continue }
      tested += 1
      let references = images.map { quantized.run($0) }
      for threads in [1, 2] {
        let executor = try Int8Executor(quantized, batch: 5, threads: threads, isa: isa)
        #expect(executor.isa == isa)
        let outputs = executor.run(images.flatMap { $0 })
        #expect(outputs == references.flatMap(\.output), "\(isa) \(threads) threads\n\(yaml)")
        for (image, reference) in references.enumerated() {
          for index in plan.steps.indices.dropLast() {
            let mapping = quantized.outputs[index]
            let bytes = executor.stepOutput(index, image: image).map(mapping.real)
            #expect(bytes == reference.steps[index], "step \(index), \(isa)\n\(yaml)")
          }
        }
      }
    }
    #expect(tested == 24)
  }

  /// Convolutions followed by a 2×2 max pooling, which AVX-512 pools inside the product:
  /// random channels, kernels, pads, vertical strides, groups and odd output sizes (whose last
  /// row or column no window covers), against the integer reference on every path.
  @Test(arguments: paths)
  func convolutionsPooledInTheProductGiveTheReferenceBytes(_ isa: KernelISA) throws {
    var generator = SplitMix64(seed: 77)
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &generator) }
    var tested = 0
    for _ in 0..<16 {
      let channels = 2 * draw(1...3)
      // Grouped every other time, with more than one filter per group.
      let groups = draw(0...1) == 0 ? channels / 2 : 1
      let kernel = draw(1...5)
      let yaml = """
        input: [\(channels), \(draw(kernel + 1...20)), \(draw(kernel + 1...40))]
        layers:
          - {type: conv, name: c, filters: \(groups * draw(1...9)), kernel: \(kernel), \
        pad: \(draw(0...kernel / 2)), stride: [\(draw(1...2)), 1], groups: \(groups)}
          - {type: relu, name: r}
          - {type: maxpool, name: p, kernel: 2, stride: 2, round: floor}
          - {type: dense, name: fc, units: 3}
        """
      guard let network = try? InferredNetwork(yaml: yaml) else { continue }
      tested += 1
      let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
      let images = Int8CheckpointTests.randomImages(3, floats: plan.inputFloats, seed: 5)
      let quantized = try QuantizedNetwork(plan, calibration: images)
      let executor = try Int8Executor(quantized, batch: 3, threads: 2, isa: isa)
      _ = executor.run(images.flatMap { $0 })
      for (image, values) in images.enumerated() {
        let reference = quantized.run(values)
        let bytes = executor.stepOutput(0, image: image).map(quantized.outputs[0].real)
        #expect(bytes == reference.steps[0], "\(isa)\n\(yaml)")
      }
    }
    #expect(tested >= 14)
  }

  /// A concat rescales each input on its own (its own shift, as the reference): one rescale
  /// shared by both inputs kept fewer bits of the smaller ratio and rounded a half the other way
  /// (output scale 0.03596792, input scales 0.02790805 and 0.01422261 with zero point 25:
  /// −153 steps of the second input are −60.49999996 or −60.50000003 output steps).
  @Test(arguments: paths)
  func aConcatRescalesEachInputOnItsOwn(_ isa: KernelISA) throws {
    let network = try InferredNetwork(
      yaml: """
        input: [1, 1, 1]
        layers:
          - {type: conv, name: a, filters: 1, kernel: 1}
          - {type: conv, name: b, filters: 1, kernel: 1, input: input}
          - {type: concat, name: c, input: [a, b]}
        """)
    let plan = try DevicePlan(network, parameters: try DevicePlanTests.parameters(network))
    let images = (0..<512).map { [Float($0 - 256) * 4] }
    let calibrated = try QuantizedNetwork(plan, calibration: images)
    var outputs = calibrated.outputs
    outputs[0] = QuantizationParameters(scale: 0.02790805, zeroPoint: 0)
    outputs[1] = QuantizationParameters(scale: 0.01422261, zeroPoint: 25)
    outputs[2] = QuantizationParameters(scale: 0.03596792, zeroPoint: 0)
    // b's sums far below its range: every b is −128, 153 steps below its zero point.
    var weighted = calibrated.weighted
    weighted[1]?.bias = [-2_000_000]
    let quantized = QuantizedNetwork(
      plan: plan, input: calibrated.input, outputs: outputs, floatSteps: [], weighted: weighted)
    let executor = try Int8Executor(quantized, batch: 512, isa: isa)
    let ours = executor.run(images.flatMap { $0 })
    let reference = images.flatMap { quantized.run($0).output }
    #expect(ours == reference)
    #expect(reference[1] == outputs[2].real(-61))
  }

  /// The shipped MNIST models: the executor's outputs are the reference's, image for image.
  @Test(arguments: ["lenet.yaml", "inception.yaml", "residual.yaml", "mobilenet-mnist.yaml"])
  func shippedModelsGiveTheReferenceOutputs(_ model: String) throws {
    let (_, quantized) = try Int8CheckpointTests.quantized(model)
    let images = Int8CheckpointTests.randomImages(7, floats: quantized.plan.inputFloats, seed: 12)
    let expected = images.flatMap { quantized.run($0).output }
    for isa in Self.paths {
      let executor = try Int8Executor(quantized, batch: 4, threads: 2, isa: isa)
      #expect(executor.run(images.flatMap { $0 }) == expected, "\(model) \(isa)")
    }
  }

  @Test func aBatchPastTheMachinesMemoryIsRefusedBeforeAllocating() throws {
    let (_, quantized) = try Int8CheckpointTests.quantized("lenet.yaml")
    #expect(throws: PlanError.self) { try Int8Executor(quantized, batch: 100_000_000) }
    #expect(throws: PlanError.self) { try Int8Executor(quantized, batch: .max) }
  }

  @Test(
    .enabled(
      if: heapIsCounted,
      "heap counts are only meaningful in release builds without sanitizers"),
    .enabled(if: malloc_counter_available() != 0, "sanitizer builds keep their allocators"),
    arguments: paths)
  func runningABatchAllocatesNothing(_ isa: KernelISA) throws {
    for model in ["lenet.yaml", "residual.yaml", "inception.yaml"] {
      let (_, quantized) = try Int8CheckpointTests.quantized(model)
      let executor = try Int8Executor(quantized, batch: 8, threads: 2, isa: isa)
      let images = Int8CheckpointTests.randomImages(8, floats: quantized.plan.inputFloats, seed: 2)
        .flatMap { $0 }
      try images.withUnsafeBufferPointer { images in
        let base = try #require(images.baseAddress)
        _ = executor.run(base, count: 8)
        malloc_counter_start()
        for _ in 0..<3 { _ = executor.run(base, count: 8) }
        let calls = malloc_counter_stop()
        #expect(calls == 0, "\(model) \(isa): \(calls) heap allocations in 3 batches")
      }
    }
  }
}
