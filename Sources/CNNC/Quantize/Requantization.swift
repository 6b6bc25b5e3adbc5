/// The integer arithmetic of cnnc's int8 networks: how a real scale becomes a 32-bit fixed-point
/// multiplier and a right shift, and the one rounding rule every requantization uses.
///
/// An int8 layer accumulates products of int8 values in an int32; its output is that sum times
/// the real number `inputScale × weightScale / outputScale`, plus the output's zero point. cnnc
/// writes the real multiplier as `multiplier × 2^−shift` with `multiplier` in [2^30, 2^31) (31
/// significant bits, as TFLite's quantization spec does) and computes
/// `round(accumulator × multiplier / 2^shift)` from the exact 64-bit product with **one**
/// rounding, to the nearest integer and halves away from zero. TFLite's reference kernels round
/// twice (a doubling high multiply, then a rounding shift), and ONNX Runtime's QDQ operators
/// multiply in float and round halves to even, so either can differ from cnnc by one in the
/// last place on a tie; one rounding is the exact nearest value of the fixed-point product, and
/// the same on every kernel path.
public struct Requantization: Hashable, Sendable {
  /// In [2^30, 2^31), or 0 for a zero scale.
  public let multiplier: Int32
  /// The right shift applied to `accumulator × multiplier`: 1 to 62.
  public let shift: Int

  /// The fixed-point form of `scale` (positive and finite), to 31 significant bits. A scale too
  /// small to matter (below 2^−32) is 0: every int32 accumulator then maps to 0.
  public init?(scale: Double) {
    guard scale.isFinite, scale > 0 else {
      if scale == 0 {
        (multiplier, shift) = (0, 1)
        return
      }
      return nil
    }
    // scale = q × 2^e with q in [0.5, 1).
    let e = scale.exponent + 1
    let q = scale / Double(sign: .plus, exponent: e, significand: 1)
    var m = (q * Double(1 << 31)).rounded(.toNearestOrAwayFromZero)
    var exponent = e
    if m == Double(1 << 31) {
      m /= 2
      exponent += 1
    }
    let rightShift = 31 - exponent
    // A shift past 62 leaves no bit of a 31-bit accumulator times a 31-bit multiplier; a shift
    // below 1 would need more than 31 bits of multiplier (a scale of 2^30 or more).
    guard rightShift >= 1 else { return nil }
    if rightShift > 62 {
      (multiplier, shift) = (0, 1)
      return
    }
    multiplier = Int32(m)
    shift = rightShift
  }

  /// The real scale this multiplier and shift stand for.
  public var scale: Double {
    Double(multiplier) * Double(sign: .plus, exponent: -shift, significand: 1)
  }

  /// `accumulator × multiplier / 2^shift`, rounded to the nearest integer, halves away from
  /// zero (below 2^62 in magnitude: the product of two values below 2^31, shifted by 1 or more).
  @inline(__always)
  public func apply(_ accumulator: Int32) -> Int64 {
    let product = Int64(accumulator) * Int64(multiplier)
    let half = Int64(1) << (shift - 1)
    return product >= 0 ? (product + half) >> shift : -((half - product) >> shift)
  }

  /// The int8 value of `accumulator`: scaled, plus `zeroPoint`, clamped to [`low`, `high`] (the
  /// int8 range, or narrower where a ReLU is absorbed into the clamp).
  @inline(__always)
  public func int8(_ accumulator: Int32, zeroPoint: Int32, low: Int32 = -128, high: Int32 = 127)
    -> Int8
  {
    let value = apply(accumulator) + Int64(zeroPoint)
    return Int8(min(max(value, Int64(low)), Int64(high)))
  }
}

/// How real values map to int8: `real = scale × (q − zeroPoint)`.
public struct QuantizationParameters: Hashable, Sendable {
  public var scale: Float
  public var zeroPoint: Int32

  public init(scale: Float, zeroPoint: Int32) {
    self.scale = scale
    self.zeroPoint = zeroPoint
  }

  /// Activations: asymmetric over [min(low, 0), max(high, 0)] (zero is always exact, so that
  /// padding and ReLU's zero are exact), int8 from −128 to 127, the zero point rounded from the
  /// range's low end as TFLite's quantizer does. An empty range (all zeros) gets scale 1.
  public static func activation(low: Float, high: Float) -> QuantizationParameters {
    let (low, high) = (min(low, 0), max(high, 0))
    let scale = (high - low) / 255
    // An empty range, or one too narrow for a normal float step, maps as all zeros would.
    guard scale.isNormal else { return .init(scale: 1, zeroPoint: 0) }
    let zeroPoint = (-128 - low / scale).rounded(.toNearestOrAwayFromZero)
    return .init(scale: scale, zeroPoint: Int32(min(max(zeroPoint, -128), 127)))
  }

  /// Weights of one output channel: symmetric (zero point 0) over ±127, so that −128 is never
  /// used and a product's sign flip cannot overflow. All-zero weights get scale 1.
  public static func weights(largestMagnitude: Float) -> QuantizationParameters {
    let scale = largestMagnitude / 127
    guard scale.isNormal else { return .init(scale: 1, zeroPoint: 0) }
    return .init(scale: scale, zeroPoint: 0)
  }

  /// `value` quantized: rounded to the nearest step (halves away from zero), clamped to
  /// [`low`, `high`].
  public func quantize(_ value: Float, low: Int32 = -128, high: Int32 = 127) -> Int8 {
    let q = (value / scale).rounded(.toNearestOrAwayFromZero) + Float(zeroPoint)
    guard q.isFinite else { return Int8(q > 0 ? high : low) }
    return Int8(min(max(q, Float(low)), Float(high)))
  }

  public func real(_ q: Int8) -> Float { scale * Float(Int32(q) - zeroPoint) }
}
