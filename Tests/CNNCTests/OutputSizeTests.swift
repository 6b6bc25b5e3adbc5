import Testing

@testable import CNNC

/// Each expected value below is worked out by hand from the formulas in the spec reference.
@Suite struct OutputSizeTests {
  @Test(arguments: [
    // (i, k, s, p, expected): floor((i − k + 2p)/s) + 1
    (28, 5, 1, 0, 24),  // LeNet conv1
    (12, 5, 1, 0, 8),  // LeNet conv2
    (224, 11, 4, 2, 55),  // AlexNet conv1: floor(217/4) + 1 = 54 + 1
    (7, 3, 2, 1, 4),  // floor(6/2) + 1
    (8, 3, 2, 0, 3),  // floor(5/2) + 1: one row left over
    (5, 1, 1, 0, 5),  // 1×1 convolution
    (3, 5, 1, 1, 1),  // kernel larger than input, fits once padded
  ])
  func convolution(i: Int, k: Int, s: Int, p: Int, expected: Int) {
    #expect(OutputSize.convolution(input: i, kernel: k, stride: s, pad: p) == expected)
  }

  @Test func convolutionThatDoesNotFit() {
    #expect(OutputSize.convolution(input: 4, kernel: 5, stride: 1, pad: 0) == nil)
    #expect(OutputSize.convolution(input: 1, kernel: 4, stride: 1, pad: 1) == nil)
  }

  @Test(arguments: [
    // (i, k, s, p, ceil, expected)
    (24, 2, 2, 0, true, 12),  // LeNet pool1
    (55, 3, 2, 0, true, 27),  // AlexNet: ceil(52/2) + 1
    (6, 3, 2, 0, true, 3),  // ceil(3/2) + 1 = 3; floor gives 2
    (6, 3, 2, 0, false, 2),
    (4, 2, 2, 1, true, 3),  // ceil(4/2) + 1 = 3; last window starts at 4 − 1 = 3 < i + p = 5
    (5, 2, 2, 1, true, 3),  // ceil(5/2) + 1 = 4, but window 4 starts at 6 ≥ i + p = 6: dropped
    (5, 2, 2, 1, false, 3),  // floor(5/2) + 1
    (14, 3, 1, 1, true, 14),  // same-size pooling
    (7, 3, 3, 1, true, 3),  // ceil(6/3) + 1 = 3; last starts at 6 < 8
    (1, 2, 2, 1, true, 1),  // ceil(1/2) + 1 = 2, window 2 starts at 2 ≥ 2: dropped
  ])
  func pooling(i: Int, k: Int, s: Int, p: Int, ceil: Bool, expected: Int) {
    #expect(OutputSize.pooling(input: i, kernel: k, stride: s, pad: p, ceilMode: ceil) == expected)
  }

  @Test func checkedArithmetic() {
    #expect(checkedProduct([Int(Int32.max), Int(Int32.max)]) == 4_611_686_014_132_420_609)
    #expect(checkedProduct([Int(Int32.max), Int(Int32.max), 3]) == nil)
    #expect(checkedSum([Int.max, 1]) == nil)
    #expect(checkedSum([1, 2, 3]) == 6)
  }
}
