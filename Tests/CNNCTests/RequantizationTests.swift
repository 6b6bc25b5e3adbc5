import Testing

@testable import CNNC

/// The int8 arithmetic against exact integers: the fixed-point multiplier stands for its scale to
/// 31 bits, and requantization is the nearest integer of the exact product, halves away from
/// zero, over the whole int32 range.
@Suite struct RequantizationTests {
  @Test func theMultiplierHoldsTheScaleTo31Bits() throws {
    var generator = SplitMix64(seed: 5)
    for _ in 0..<20_000 {
      let exponent = Int.random(in: -32...29, using: &generator)
      let scale =
        Double.random(in: 1..<2, using: &generator)
        * Double(sign: .plus, exponent: exponent, significand: 1)
      let fixed = try #require(Requantization(scale: scale))
      #expect(fixed.multiplier >= 1 << 30, "\(scale)")
      #expect(fixed.shift >= 1 && fixed.shift <= 62)
      #expect(abs(fixed.scale - scale) <= scale * 0x1p-31, "\(scale) → \(fixed)")
    }
    #expect(Requantization(scale: 0x1p30) == nil)
    #expect(Requantization(scale: -1) == nil)
    #expect(Requantization(scale: .nan) == nil)
    #expect(Requantization(scale: 0x1p-40)?.multiplier == 0)
    // Rounding the significand up to 2^31 moves the exponent instead.
    let almostTwo = try #require(Requantization(scale: 2 - 0x1p-40))
    #expect(almostTwo.multiplier == 1 << 30 && almostTwo.shift == 29)
  }

  @Test func requantizationIsTheNearestIntegerHalvesAwayFromZero() throws {
    var generator = SplitMix64(seed: 9)
    let edges: [Int32] = [0, 1, -1, .max, .min, .min + 1, 1 << 30, -(1 << 30)]
    for trial in 0..<50_000 {
      let scale =
        Double.random(in: 1..<2, using: &generator)
        * Double(sign: .plus, exponent: Int.random(in: -30...10, using: &generator), significand: 1)
      let fixed = try #require(Requantization(scale: scale))
      let accumulator =
        trial < edges.count * 40
        ? edges[trial % edges.count] : Int32.random(in: .min ... .max, using: &generator)
      let result = Int128(fixed.apply(accumulator))
      let product = Int128(accumulator) * Int128(fixed.multiplier)
      let unit = Int128(1) << fixed.shift
      let twiceDistance = 2 * (product - result * unit).magnitude
      #expect(twiceDistance <= unit.magnitude, "\(accumulator) × \(fixed)")
      if twiceDistance == unit.magnitude {
        #expect((result * unit).magnitude > product.magnitude, "a tie rounds away from zero")
      }
    }
    // Small cases by hand: 5 × 0.5 = 2.5 → 3, −2.5 → −3, 3 × 0.5 = 1.5 → 2.
    let half = try #require(Requantization(scale: 0.5))
    #expect([5, -5, 3, -3, 1, -1].map { half.apply($0) } == [3, -3, 2, -2, 1, -1])
  }

  @Test func int8AddsTheZeroPointAndClamps() throws {
    let one = try #require(Requantization(scale: 1))
    #expect(one.int8(100, zeroPoint: 10) == 110)
    #expect(one.int8(200, zeroPoint: 10) == 127)
    #expect(one.int8(-300, zeroPoint: 10) == -128)
    // A ReLU absorbed into the clamp: nothing below the zero point.
    #expect(one.int8(-5, zeroPoint: -20, low: -20) == -20)
  }

  @Test func activationRangesKeepZeroExact() {
    var generator = SplitMix64(seed: 3)
    for _ in 0..<5_000 {
      let low = Float.random(in: -10...5, using: &generator)
      let high = low + Float.random(in: 0.001...20, using: &generator)
      let p = QuantizationParameters.activation(low: low, high: high)
      #expect(p.real(p.quantize(0)) == 0, "\(low)...\(high): \(p)")
      // The range's ends are within one step of the int8 range's ends.
      #expect(p.real(-128) <= min(low, 0) + p.scale)
      #expect(p.real(127) >= max(high, 0) - p.scale)
      #expect(p.real(p.quantize(high)) >= high - p.scale)
    }
    #expect(QuantizationParameters.activation(low: 0, high: 0) == .init(scale: 1, zeroPoint: 0))
  }

  @Test func int8AndInt32TensorsRoundTripThroughSafetensors() throws {
    let bytes: [Int8] = [-128, -1, 0, 1, 127, 5, -7]  // 7: the last word is padded
    let file = SafeTensors(tensors: [
      .init(name: "w", shape: [7], int8s: bytes),
      .init(name: "b", shape: [2], int32s: [.min, .max]),
      .init(name: "s", shape: [1], values: [0.5]),
    ])
    let encoded = file.encoded()
    let read = try SafeTensors.decode(encoded, file: "x")
    #expect(read["w"]?.int8s == bytes)
    #expect(read["b"]?.int32s == [.min, .max])
    #expect(read["s"]?.values == [0.5])
    // 7 + 8 + 4 bytes of data after the header, nothing more.
    let headerLength = Int(encoded[0]) | Int(encoded[1]) << 8
    #expect(encoded.count == 8 + headerLength + 19)
  }

  @Test func weightsAreSymmetricOverPlusMinus127() {
    let p = QuantizationParameters.weights(largestMagnitude: 2.54)
    #expect(p.zeroPoint == 0)
    #expect(p.quantize(2.54) == 127)
    #expect(p.quantize(-2.54) == -127)
    #expect(p.quantize(0.009) == 0)
    let unit = QuantizationParameters.weights(largestMagnitude: 127)
    #expect([1.5, -2.5, 0.49, 300].map { unit.quantize($0) } == [2, -3, 0, 127])
    #expect(QuantizationParameters.weights(largestMagnitude: 0).scale == 1)
  }
}
