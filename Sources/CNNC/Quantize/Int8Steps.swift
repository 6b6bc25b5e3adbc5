/// The int8 network run one image at a time: the exact integer reference that int8 kernels and
/// generated int8 C are checked against.
extension QuantizedNetwork {
  /// What one image gave: each step's output as real values (an int8 step's dequantized), and
  /// the network's output (the last step's float values when it runs in float).
  public struct Run: Sendable {
    public var steps: [[Float]]
    public var output: [Float]
  }

  public func run(_ input: [Float]) -> Run {
    var buffers = [[Int8]](repeating: [], count: plan.buffers.count)
    buffers[0] = input.map { self.input.quantize($0) }
    var steps: [[Float]] = []
    var output: [Float] = []
    for (index, step) in plan.steps.enumerated() {
      let mappings = inputMappings[index]
      let mapping = outputs[index]
      let inputs = step.inputs.map { buffers[$0] }
      if floatSteps.contains(index) {
        let reals = zip(inputs, mappings).map { values, m in values.map(m.real) }
        let values = FloatSteps(plan: plan).run(step, reals).values
        let quantized = values.map { mapping.quantize($0) }
        buffers[step.output] = quantized
        steps.append(index == plan.steps.count - 1 ? values : quantized.map(mapping.real))
      } else {
        let values = int8(step, index, inputs, mappings)
        buffers[step.output] = values
        steps.append(values.map(mapping.real))
      }
      output = steps[index]
    }
    return Run(steps: steps, output: output)
  }

  /// One int8 step.
  private func int8(
    _ step: DevicePlan.Step, _ index: Int, _ inputs: [[Int8]], _ mappings: [QuantizationParameters]
  ) -> [Int8] {
    let x = inputs[0]
    let zx = mappings[0].zeroPoint
    let zy = outputs[index].zeroPoint
    switch step.operation {
    case .convolution(let window, let filters, let groups, let activation, let pooling):
      let y = convolution(
        x, zx: zx, window, filters: filters, groups: groups, weighted[index], zy: zy,
        relu: activation == .relu)
      guard let pooling else { return y }
      return Self.pooling(y, zeroPoint: zy, pooling.kind, pooling.window)
    case .dense(let count, let units, let activation):
      guard let w = weighted[index] else { return [] }
      return x.withUnsafeBufferPointer { x in
        w.weights.withUnsafeBufferPointer { weights in
          (0..<units).map { o in
            var sum = w.bias[o]
            for i in 0..<count { sum &+= (Int32(x[i]) &- zx) &* Int32(weights[o * count + i]) }
            return w.requantizations[o].int8(
              sum, zeroPoint: zy, low: activation == .relu ? zy : -128)
          }
        }
      }
    case .pooling(let kind, let window):
      return Self.pooling(x, zeroPoint: zx, kind, window)
    case .globalAveragePooling(let channels, let plane):
      // Σ (q − z) × s_in / (plane × s_out), one rounding.
      let rescale = Rescale([mappings[0].scale / Float(plane)], to: outputs[index].scale)
      return (0..<channels).map { c in
        var sum: Int32 = 0
        for i in (c * plane)..<((c + 1) * plane) { sum += Int32(x[i]) - zx }
        return Self.clamped(rescale.apply([sum]) + Int64(zy))
      }
    case .activation:  // ReLU: its zero is the zero point.
      return x.map { max($0, Int8(zx)) }
    case .add(let count):
      let rescale = Rescale(mappings.map { $0.scale }, to: outputs[index].scale)
      return (0..<count).map { i in
        Self.clamped(
          rescale.apply(zip(inputs, mappings).map { Int32($0[i]) - $1.zeroPoint }) + Int64(zy))
      }
    case .concat:
      return zip(inputs, mappings).flatMap { values, m in
        let rescale = Rescale([m.scale], to: outputs[index].scale)
        return values.map { Self.clamped(rescale.apply([Int32($0) - m.zeroPoint]) + Int64(zy)) }
      }
    case .copy(let count):
      return Array(x.prefix(count))
    case .affine, .softmax:
      return []  // always float steps
    }
  }

  private func convolution(
    _ x: [Int8], zx: Int32, _ g: WindowGeometry, filters: Int, groups: Int, _ w: WeightedStep?,
    zy: Int32, relu: Bool
  ) -> [Int8] {
    guard let w else { return [] }
    let perGroup = g.channels / groups
    let filtersPerGroup = filters / groups
    var y = [Int8](repeating: 0, count: filters * g.outputPlane)
    // Unchecked pointers and wrapping arithmetic: the plan bounds every index, and the
    // quantizer bounds the sums (the bias and at most 66,000 products of 255 × 127 fit an int32).
    x.withUnsafeBufferPointer { x in
      w.weights.withUnsafeBufferPointer { weights in
        for f in 0..<filters {
          let first = f / filtersPerGroup * perGroup
          for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
              var sum = w.bias[f]
              for c in 0..<perGroup {
                for ky in 0..<g.kernelHeight {
                  let iy = oy * g.strideHeight - g.padHeight + ky
                  guard iy >= 0, iy < g.inputHeight else { continue }
                  let row = ((first + c) * g.inputHeight + iy) * g.inputWidth
                  let taps = ((f * perGroup + c) * g.kernelHeight + ky) * g.kernelWidth
                  for kx in 0..<g.kernelWidth {
                    let ix = ox * g.strideWidth - g.padWidth + kx
                    guard ix >= 0, ix < g.inputWidth else { continue }
                    sum &+= (Int32(x[row + ix]) &- zx) &* Int32(weights[taps + kx])
                  }
                }
              }
              y[f * g.outputPlane + oy * g.outputWidth + ox] = w.requantizations[f].int8(
                sum, zeroPoint: zy, low: relu ? zy : -128)
            }
          }
        }
      }
    }
    return y
  }

  /// Pooling on int8 values of one mapping, which the output keeps: the max of the values, or
  /// the average of their differences from the zero point, rounded halves away from zero.
  private static func pooling(
    _ x: [Int8], zeroPoint: Int32, _ kind: Pooling.Kind, _ g: WindowGeometry
  ) -> [Int8] {
    var y = [Int8](repeating: 0, count: g.channels * g.outputPlane)
    for c in 0..<g.channels {
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          let window = PoolingWindow(g, oy, ox)
          var best = Int8(zeroPoint)
          var sum: Int32 = 0
          for (n, iy) in window.rows.enumerated() {
            for (m, ix) in window.columns.enumerated() {
              let value = x[(c * g.inputHeight + iy) * g.inputWidth + ix]
              best = n == 0 && m == 0 ? value : max(best, value)
              sum += Int32(value) - zeroPoint
            }
          }
          y[(c * g.outputHeight + oy) * g.outputWidth + ox] =
            kind == .max
            ? best : clamped(roundedDivision(sum, Int32(window.span)) + zeroPoint)
        }
      }
    }
    return y
  }

  /// n / d (d > 0) rounded to the nearest integer, halves away from zero (in 64 bits, where
  /// 2n cannot overflow).
  static func roundedDivision(_ n: Int32, _ d: Int32) -> Int32 {
    let (n, d) = (Int64(n), Int64(d))
    return Int32(n >= 0 ? (2 * n + d) / (2 * d) : -((2 * -n + d) / (2 * d)))
  }

  static func clamped(_ value: Int32) -> Int8 { Int8(min(max(value, -128), 127)) }
  static func clamped(_ value: Int64) -> Int8 { Int8(min(max(value, -128), 127)) }
}

/// Σ (q_k − z_k) × s_k / s_out for the inputs of an add or a concat, in integers with one
/// rounding: each ratio s_k / s_out as a multiplier over one common power of two, the largest
/// with 31 significant bits, the products summed exactly in 64 bits and shifted once (halves
/// away from zero).
struct Rescale {
  var multipliers: [Int64]
  var shift: Int

  init(_ scales: [Float], to output: Float) {
    // Scales are normal floats (`QuantizationParameters`), so every ratio is finite and > 0.
    let ratios = scales.map { Double($0) / Double(output) }
    let largest = ratios.max() ?? 1
    // largest × 2^shift < 2^31 with 1 ≤ shift ≤ 40; a multiplier is capped at 2^40, where one
    // step of a difference is already past the int8 range. Products stay below 2^49.
    shift = min(40, max(1, 30 - (largest.exponent + 1)))
    let unit = Double(sign: .plus, exponent: shift, significand: 1)
    multipliers = ratios.map { Int64(min(($0 * unit).rounded(.toNearestOrAwayFromZero), 0x1p40)) }
  }

  /// Σ differences[k] × multipliers[k] / 2^shift, rounded; a difference is an int8 minus a
  /// zero point, or a global average's sum of them (below 2^31: multipliers ≤ 2^40 keep the
  /// products below 2^62 only for |d| < 2^21, and a sum's multiplier is below 2^31).
  func apply(_ differences: [Int32]) -> Int64 {
    var sum: Int64 = 0
    for (difference, multiplier) in zip(differences, multipliers) {
      sum += Int64(difference) * multiplier
    }
    return round(sum)
  }

  /// A sum of differences times multipliers, shifted once (halves away from zero).
  func round(_ sum: Int64) -> Int64 {
    let half = Int64(1) << (shift - 1)
    return sum >= 0 ? (sum + half) >> shift : -((half - sum) >> shift)
  }
}
