import CNNCKernels
import Foundation

/// An int8 network run a batch at a time on cnnc's int8 kernels (AVX-512 VNNI, AVX2 or
/// portable), giving the bytes of the integer reference (`QuantizedNetwork.run`) on every path.
///
/// Everything is allocated when the executor is made: each step's outputs for the whole batch,
/// the packed weights, and every thread's scratch, so an int8 step allocates nothing. Steps kept
/// in float other than a softmax (sigmoid, tanh, leaky ReLU, an unfolded batchnorm, or one asked
/// for with `--keep-float`) run on the float reference one image at a time, which allocates.
///
/// One caller at a time: a run uses the executor's buffers, and its threads are its own.
///
/// Activations are held as unsigned bytes (the int8 value + 128), the operand VNNI multiplies
/// by signed weights; a product's zero-point term moves into its bias once, here.
public final class Int8Executor: @unchecked Sendable {
  public let network: QuantizedNetwork
  /// The most images one `run` takes.
  public let batch: Int
  /// The kernels' path: the one asked for, or the next lower one that has int8 kernels (AVX-512
  /// without VNNI runs AVX2's).
  public let isa: KernelISA
  private let parts: Int
  private let team: KernelTeam?
  private var steps: [Lowered] = []
  private var tasks: [TeamTask] = []
  private var allocations: [UnsafeMutableRawPointer] = []
  private var input: UnsafeMutablePointer<UInt8>
  private var output: UnsafeMutablePointer<Float>
  private var images = 0

  /// One plan step, lowered.
  private struct Lowered {
    var kind: Kind
    var inputs: [UnsafeMutablePointer<UInt8>]
    var inputCounts: [Int]
    var output: UnsafeMutablePointer<UInt8>
    var outputCount: Int
  }

  private enum Kind {
    case convolution(Product, groups: Int, pooling: (cnnc_window, average: Bool)?)
    case dense(Product)
    case pooling(cnnc_window, average: Bool, zeroPoint: Int32)
    case relu(zero: UInt8)
    case copy
    /// An add, a concat (each input into its part of the output) or a global average, rescaled.
    case rescale(Rescaling)
    case softmax(channels: Int, plane: Int)
    case float
  }

  /// An add's, a concat's or a global average's integer rescaling.
  private struct Rescaling {
    enum Form {
      case add
      /// Each input rescaled on its own, as the reference does (its own shift).
      case concat([Rescale])
      case globalAverage(plane: Int)
    }
    var form: Form
    var rescale: Rescale
    /// The inputs' zero points, + 128.
    var inputZeros: [Int32]
    var zeroPoint: Int32
  }

  /// A convolution's or dense step's product: packed weights, per-row requantization, and each
  /// part's scratch (patches, padded image, the output before pooling).
  private struct Product {
    var m: Int, k: Int
    var weights: UnsafeMutableRawPointer
    var requantization: [cnnc_int8_requantization]  // per group (one for dense)
    var window: cnnc_window?
    /// A fused 2×2 max pooling done inside the product (`cnnc_int8_conv_max_pool`).
    var poolsInProduct = false
    var padValue: UInt8
    var patches: [UnsafeMutablePointer<UInt8>]
    var padded: [UnsafeMutablePointer<UInt8>]
    var beforePooling: [UnsafeMutablePointer<UInt8>]
  }

  /// An executor for up to `batch` images at a time on `threads` threads; refuses, before
  /// allocating, a batch whose buffers would exceed the machine's memory.
  public init(_ network: QuantizedNetwork, batch: Int, threads: Int = 1, isa: KernelISA = .best)
    throws(PlanError)
  {
    let perImage = Self.bytesPerImage(network.plan) ?? .max
    let (total, overflow) = perImage.multipliedReportingOverflow(by: max(batch, 1))
    try Memory.checkFits(overflow ? .max : total, what: "the int8 network at batch \(batch)")
    self.network = network
    self.batch = max(batch, 1)
    var path = isa
    while cnnc_int8_isa_supported(path.path) == 0,
      let lower = KernelISA.allCases.last(where: {
        $0.path.rawValue < path.path.rawValue
      })
    {
      path = lower
    }
    self.isa = path
    parts = max(1, min(threads, self.batch))
    team = KernelTeam(threads: parts)
    let plan = network.plan
    input = UnsafeMutablePointer<UInt8>.allocate(capacity: self.batch * plan.inputFloats)
    output = UnsafeMutablePointer<Float>.allocate(capacity: self.batch * max(plan.outputFloats, 1))
    allocations = [UnsafeMutableRawPointer(input), UnsafeMutableRawPointer(output)]
    var writers: [Int: (UnsafeMutablePointer<UInt8>, Int)] = [0: (input, plan.inputFloats)]
    for (index, step) in plan.steps.enumerated() {
      let inputs = step.inputs.map { writers[$0] ?? (input, 0) }
      let count = Self.outputCount(step, inputCounts: inputs.map(\.1))
      let out = bytes(self.batch * count)
      var lowered = Lowered(
        kind: .float, inputs: inputs.map(\.0), inputCounts: inputs.map(\.1), output: out,
        outputCount: count)
      lowered.kind = kind(index, step)
      steps.append(lowered)
      writers[step.output] = (out, count)
      tasks.append(TeamTask { [unowned self] part in self.run(step: index, part: part) })
    }
  }

  /// Bytes each image of a batch takes: the input, every step's output, a dense layer's
  /// packed inputs and the float outputs (nil on overflow).
  private static func bytesPerImage(_ plan: DevicePlan) -> Int? {
    var counts: [Int: Int] = [0: plan.inputFloats]
    var terms = [plan.inputFloats, 4 * plan.outputFloats]
    for step in plan.steps {
      let count = outputCount(step, inputCounts: step.inputs.map { counts[$0] ?? 0 })
      counts[step.output] = count
      terms.append(count)
      if case .dense(let inputs, _, _) = step.operation { terms.append(inputs + 4) }
    }
    var total = 0
    for term in terms {
      let (sum, overflow) = total.addingReportingOverflow(term)
      if overflow { return nil }
      total = sum
    }
    return total
  }

  deinit { for pointer in allocations { pointer.deallocate() } }

  private func bytes(_ count: Int) -> UnsafeMutablePointer<UInt8> {
    let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
    allocations.append(UnsafeMutableRawPointer(pointer))
    return pointer
  }

  private static func outputCount(_ step: DevicePlan.Step, inputCounts: [Int]) -> Int {
    switch step.operation {
    case .convolution(let window, let filters, _, _, let pooling):
      pooling.map { $0.window.channels * $0.window.outputPlane } ?? filters * window.outputPlane
    case .dense(_, let units, _): units
    case .pooling(_, let window): window.channels * window.outputPlane
    case .globalAveragePooling(let channels, _): channels
    case .affine(let channels, let plane), .softmax(let channels, let plane): channels * plane
    case .activation(_, let count), .add(let count), .copy(let count): count
    case .concat: inputCounts.reduce(0, +)
    }
  }

  private func kind(_ index: Int, _ step: DevicePlan.Step) -> Kind {
    let mappings = network.inputMappings[index]
    let out = network.outputs[index]
    if network.floatSteps.contains(index) {
      if case .softmax(let channels, let plane) = step.operation,
        index == network.plan.steps.count - 1
      {
        return .softmax(channels: channels, plane: plane)
      }
      return .float
    }
    switch step.operation {
    case .convolution(let window, let filters, let groups, let activation, let pooling):
      guard let w = network.weighted[index] else { return .float }
      let perGroup = filters / groups
      var groupWindow = window.window
      groupWindow.channels = window.channels / groups
      var product = self.product(
        w, m: perGroup, k: window.patchSize / groups, groups: groups, input: mappings[0],
        output: out, relu: activation == .relu, window: groupWindow,
        beforePooling: pooling == nil ? 0 : filters * window.outputPlane)
      if let pooling, pooling.kind == .max {
        var pool = pooling.window.window
        if cnnc_int8_pools_in_product(isa.path, &groupWindow, &pool) != 0 {
          product.poolsInProduct = true
          let bytes = cnnc_int8_pooled_patch_bytes(&groupWindow, &pool)
          product.patches = (0..<parts).map { _ in self.bytes(bytes) }
        }
      }
      return .convolution(
        product, groups: groups,
        pooling: pooling.map { ($0.window.window, $0.kind == .average) })
    case .dense(let count, let units, let activation):
      guard let w = network.weighted[index] else { return .float }
      return .dense(
        product(
          w, m: units, k: count, groups: 1, input: mappings[0], output: out,
          relu: activation == .relu, window: nil, beforePooling: 0))
    case .pooling(let kind, let window):
      return .pooling(window.window, average: kind == .average, zeroPoint: mappings[0].zeroPoint)
    case .activation:
      return .relu(zero: UInt8(mappings[0].zeroPoint + 128))
    case .copy:
      return .copy
    case .add, .concat, .globalAveragePooling:
      var scales = mappings.map(\.scale)
      var form = Rescaling.Form.concat(scales.map { Rescale([$0], to: out.scale) })
      if case .add = step.operation { form = .add }
      if case .globalAveragePooling(_, let plane) = step.operation {
        form = .globalAverage(plane: plane)
        scales = [mappings[0].scale / Float(plane)]
      }
      return .rescale(
        Rescaling(
          form: form, rescale: Rescale(scales, to: out.scale),
          inputZeros: mappings.map { $0.zeroPoint + 128 }, zeroPoint: out.zeroPoint))
    case .affine, .softmax:
      return .float
    }
  }

  private func product(
    _ w: QuantizedNetwork.WeightedStep, m: Int, k: Int, groups: Int,
    input: QuantizationParameters, output: QuantizationParameters, relu: Bool,
    window: cnnc_window?, beforePooling: Int
  ) -> Product {
    let rows = m * groups
    let packedBytes = cnnc_int8_packed_weights_bytes(isa.path, m, k)
    let weights = UnsafeMutableRawPointer.allocate(
      byteCount: max(packedBytes * groups, 1), alignment: 64)
    allocations.append(weights)
    // The bias absorbs the input's zero point: Σ (u − z′)·w = Σ u·w − z′·Σ w, z′ = z + 128.
    let zero = Int32(input.zeroPoint + 128)
    let bias = int32Buffer(rows, allocations: &allocations)
    let multipliers = int32Buffer(rows, allocations: &allocations)
    let shifts = int32Buffer(rows, allocations: &allocations)
    w.weights.withUnsafeBufferPointer { all in
      for g in 0..<groups {
        cnnc_int8_pack_weights(
          isa.path, m, k, all.baseAddress! + g * m * k, weights + g * packedBytes)
      }
      for row in 0..<rows {
        var sum: Int32 = 0
        for i in 0..<k { sum &+= Int32(all[row * k + i]) }
        bias[row] = w.bias[row] &- zero &* sum
        multipliers[row] = w.requantizations[row].multiplier
        shifts[row] = Int32(w.requantizations[row].shift)
      }
    }
    let requantization = (0..<groups).map { g in
      cnnc_int8_requantization(
        bias: bias + g * m, multiplier: multipliers + g * m, shift: shifts + g * m,
        zero_point: output.zeroPoint, low: relu ? output.zeroPoint : -128, high: 127)
    }
    let columns = cnnc_int8_padded_columns(window.map { $0.out_h * $0.out_w } ?? batch)
    let patchBytes = (k + 3) / 4 * 4 * columns
    let scratchParts = window == nil ? 1 : parts
    return Product(
      m: m, k: k, weights: weights, requantization: requantization, window: window,
      padValue: UInt8(zero),
      patches: (0..<scratchParts).map { _ in bytes(patchBytes) },
      padded: (0..<scratchParts).map { _ in
        bytes(
          window.map {
            var w = $0
            return cnnc_int8_padded_image_bytes(&w)
          } ?? 0)
      },
      beforePooling: (0..<scratchParts).map { _ in bytes(beforePooling) })
  }

  /// Runs `count` images (each the network's input, C×H×W floats, one after another) and
  /// returns their outputs, `plan.outputFloats` each; valid until the next run.
  public func run(_ images: UnsafePointer<Float>, count: Int) -> UnsafeBufferPointer<Float> {
    precondition(
      (0...batch).contains(count), "Int8Executor: \(count) images for a batch of \(batch)")
    self.images = count
    let plan = network.plan
    cnnc_int8_quantize(
      isa.path, images, count * plan.inputFloats, network.input.scale, network.input.zeroPoint,
      input)
    for index in steps.indices {
      if case .dense(let product) = steps[index].kind {
        // Every image is one column of B: packed once, then the rows are split.
        cnnc_int8_pack_vectors(
          product.k, count, steps[index].inputs[0], steps[index].inputCounts[0],
          product.patches[0])
      }
      tasks[index].run(on: team, parts: parts)
    }
    let last = steps[steps.count - 1]
    let isFloat = network.floatSteps.contains(steps.count - 1)
    if !isFloat {  // the last step's int8 values, as reals
      let mapping = network.outputs[steps.count - 1]
      for i in 0..<(count * last.outputCount) {
        output[i] = mapping.scale * Float(Int32(last.output[i]) - 128 - mapping.zeroPoint)
      }
    }
    return UnsafeBufferPointer(start: output, count: count * plan.outputFloats)
  }

  /// Convenience for whole arrays: `images` holds whole images.
  public func run(_ images: [Float]) -> [Float] {
    let size = max(network.plan.inputFloats, 1)
    var result: [Float] = []
    images.withUnsafeBufferPointer { all in
      for first in stride(from: 0, to: all.count / size, by: batch) {
        let count = min(batch, all.count / size - first)
        result += run(all.baseAddress! + first * size, count: count)
      }
    }
    return result
  }

  /// Step `index`'s int8 outputs for image `image` of the last run (tests compare them).
  func stepOutput(_ index: Int, image: Int) -> [Int8] {
    let step = steps[index]
    return (0..<step.outputCount).map {
      Int8(Int32(step.output[image * step.outputCount + $0]) - 128)
    }
  }

  /// The images part `part` of `parts` takes in a per-image step.
  private func imageRange(_ part: Int) -> Range<Int> {
    (images * part / parts)..<(images * (part + 1) / parts)
  }

  private func run(step index: Int, part: Int) {
    let step = steps[index]
    let (x, y, n) = (step.inputs[0], step.output, step.outputCount)
    let xn = step.inputCounts[0]
    switch step.kind {
    case .convolution(let product, let groups, let pooling):
      // Local copies of the C structs: taking the address of a stored one would copy arrays.
      var window = product.window!
      let plane = Int(window.out_h * window.out_w)
      let groupBytes = cnnc_int8_packed_weights_bytes(isa.path, product.m, product.k)
      let groupInput = Int(window.channels * window.height * window.width)
      if product.poolsInProduct, var pool = pooling?.0 {
        for image in imageRange(part) {
          for g in 0..<groups {
            var requantization = product.requantization[g]
            cnnc_int8_conv_max_pool(
              isa.path, &window, &pool, x + image * xn + g * groupInput, product.padValue,
              product.padded[part], product.patches[part], product.m,
              product.weights + g * groupBytes, &requantization,
              y + image * n + g * n / groups)
          }
        }
        return
      }
      for image in imageRange(part) {
        let target = pooling == nil ? y + image * n : product.beforePooling[part]
        for g in 0..<groups {
          var requantization = product.requantization[g]
          cnnc_int8_pack_patches(
            isa.path, &window, x + image * xn + g * groupInput, product.padValue,
            product.padded[part], product.patches[part])
          cnnc_int8_gemm(
            isa.path, product.m, plane, product.k, product.weights + g * groupBytes,
            product.patches[part], &requantization, target + g * product.m * plane, plane, 1, 0,
            cnnc_int8_row_tiles(product.m))
        }
        guard let (fusedWindow, average) = pooling else { continue }
        var poolWindow = fusedWindow
        cnnc_int8_pool(
          isa.path, &poolWindow, average ? 1 : 0, target, product.requantization[0].zero_point,
          y + image * n)
      }
    case .dense(let product):
      var requantization = product.requantization[0]
      let tiles = cnnc_int8_row_tiles(product.m)
      let first = tiles * part / parts
      cnnc_int8_gemm(
        isa.path, product.m, images, product.k, product.weights, product.patches[0],
        &requantization, y, 1, n, first, tiles * (part + 1) / parts - first)
    case .pooling(var window, let average, let zeroPoint):
      for image in imageRange(part) {
        cnnc_int8_pool(isa.path, &window, average ? 1 : 0, x + image * xn, zeroPoint, y + image * n)
      }
    case .relu(let zero):
      for i in (imageRange(part).lowerBound * n)..<(imageRange(part).upperBound * n) {
        y[i] = max(x[i], zero)
      }
    case .copy:
      for image in imageRange(part) { (y + image * n).update(from: x + image * xn, count: n) }
    case .rescale(let rescaling):
      for image in imageRange(part) { rescale(step, image, rescaling) }
    case .softmax(let channels, let plane):
      for image in imageRange(part) { softmax(step, index, image, channels, plane) }
    case .float:
      for image in imageRange(part) { runFloat(step, index, image) }
    }
  }

  /// An add (the sum of every input), a concat (each input into its own part) or a global
  /// average (a channel's sum), requantized with one rounding.
  private func rescale(_ step: Lowered, _ image: Int, _ r: Rescaling) {
    let y = step.output + image * step.outputCount
    let (zeros, multipliers) = (r.inputZeros, r.rescale.multipliers)
    switch r.form {
    case .globalAverage(let plane):
      let x = step.inputs[0] + image * step.inputCounts[0]
      for c in 0..<step.outputCount {
        var sum: Int32 = 0
        for i in (c * plane)..<((c + 1) * plane) { sum += Int32(x[i]) - zeros[0] }
        y[c] = Self.byte(r.rescale.round(Int64(sum) * multipliers[0]), r.zeroPoint)
      }
    case .add:
      for i in 0..<step.outputCount {
        var sum: Int64 = 0
        for k in step.inputs.indices {
          let value = Int32(step.inputs[k][image * step.inputCounts[k] + i]) - zeros[k]
          sum += Int64(value) * multipliers[k]
        }
        y[i] = Self.byte(r.rescale.round(sum), r.zeroPoint)
      }
    case .concat(let parts):
      var offset = 0
      for k in step.inputs.indices {
        let x = step.inputs[k] + image * step.inputCounts[k]
        for i in 0..<step.inputCounts[k] {
          y[offset + i] = Self.byte(
            parts[k].round(Int64(Int32(x[i]) - zeros[k]) * parts[k].multipliers[0]), r.zeroPoint)
        }
        offset += step.inputCounts[k]
      }
    }
  }

  private static func byte(_ value: Int64, _ zeroPoint: Int32) -> UInt8 {
    UInt8(min(max(value + Int64(zeroPoint), -128), 127) + 128)
  }

  private func real(_ byte: UInt8, _ mapping: QuantizationParameters) -> Float {
    mapping.scale * Float(Int32(byte) - 128 - mapping.zeroPoint)
  }

  /// The last step's softmax over its dequantized input, in `FloatSteps`' order of operations.
  private func softmax(_ step: Lowered, _ index: Int, _ image: Int, _ channels: Int, _ plane: Int) {
    let mapping = network.inputMappings[index][0]
    let x = step.inputs[0] + image * step.inputCounts[0]
    let y = output + image * step.outputCount
    for position in 0..<plane {
      var largest = -Float.infinity
      for c in 0..<channels { largest = max(largest, real(x[c * plane + position], mapping)) }
      if channels == 0 { largest = 0 }
      var sum: Float = 0
      for c in 0..<channels {
        let i = c * plane + position
        y[i] = exp(real(x[i], mapping) - largest)
        sum += y[i]
      }
      for c in 0..<channels { y[c * plane + position] /= sum }
    }
  }

  /// A float step on the reference, one image (this allocates).
  private func runFloat(_ step: Lowered, _ index: Int, _ image: Int) {
    let reals = step.inputs.indices.map { k in
      let mapping = network.inputMappings[index][k]
      return (0..<step.inputCounts[k]).map {
        real(step.inputs[k][image * step.inputCounts[k] + $0], mapping)
      }
    }
    let values = FloatSteps(plan: network.plan).run(network.plan.steps[index], reals).values
    if index == steps.count - 1 {
      for (i, value) in values.enumerated() { output[image * step.outputCount + i] = value }
      return
    }
    let mapping = network.outputs[index]
    for (i, value) in values.enumerated() {
      step.output[image * step.outputCount + i] = UInt8(Int32(mapping.quantize(value)) + 128)
    }
  }
}

/// Int32s kept until the executor goes.
private func int32Buffer(_ count: Int, allocations: inout [UnsafeMutableRawPointer])
  -> UnsafeMutablePointer<Int32>
{
  let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
  pointer.initialize(repeating: 0, count: max(count, 1))
  allocations.append(UnsafeMutableRawPointer(pointer))
  return pointer
}
