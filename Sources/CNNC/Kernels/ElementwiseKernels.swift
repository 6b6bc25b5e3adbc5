import CNNCKernels
import Foundation

// All element-wise kernels work on `count` contiguous floats. Backward kernels add to the input
// gradient when `accumulate` is set (the input feeds several layers) and overwrite it otherwise.

@inline(__always)
private func store(
  _ target: UnsafeMutablePointer<Float>, _ index: Int, _ value: Float, _ accumulate: Bool
) {
  if accumulate { target[index] += value } else { target[index] = value }
}

func reluForward(
  _ isa: KernelISA, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
) {
  cnnc_relu_forward(isa.path, x, y, count)
}

/// Uses the output: y > 0 exactly where x > 0, so ReLU can run in place.
func reluBackward(
  _ isa: KernelISA, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
  _ dx: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool
) {
  cnnc_relu_backward(isa.path, y, dy, dx, count, accumulate ? 1 : 0)
}

func leakyReLUForward(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, slope: Float, count: Int
) {
  for i in 0..<count { y[i] = x[i] > 0 ? x[i] : slope * x[i] }
}

/// Uses the input, since with a negative slope the output's sign says nothing about it.
func leakyReLUBackward(
  _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  slope: Float, count: Int, accumulate: Bool
) {
  for i in 0..<count {
    let g = dy[i]
    store(dx, i, x[i] > 0 ? g : slope * g, accumulate)
  }
}

func sigmoidForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
  for i in 0..<count { y[i] = 1 / (1 + exp(-x[i])) }
}

func sigmoidBackward(
  _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int, accumulate: Bool
) {
  for i in 0..<count { store(dx, i, dy[i] * y[i] * (1 - y[i]), accumulate) }
}

func tanhForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
  for i in 0..<count { y[i] = tanh(x[i]) }
}

func tanhBackward(
  _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int, accumulate: Bool
) {
  for i in 0..<count { store(dx, i, dy[i] * (1 - y[i] * y[i]), accumulate) }
}

/// Inverted dropout: each kept element is scaled by 1/(1 − rate); the mask keeps the factors.
func dropoutForward(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ mask: UnsafeMutablePointer<Float>,
  rate: Float, count: Int, random: inout SplitMix64
) {
  let scale = 1 / (1 - rate)
  for i in 0..<count {
    mask[i] = random.nextUnitFloat() < rate ? 0 : scale
    y[i] = x[i] * mask[i]
  }
}

func scaleBackward(
  _ mask: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
  count: Int, accumulate: Bool
) {
  for i in 0..<count { store(dx, i, dy[i] * mask[i], accumulate) }
}

/// dx = dy (or dx += dy): the backward of add, and of a copy.
func passGradient(
  _ isa: KernelISA, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, count: Int,
  accumulate: Bool
) {
  if accumulate {
    cnnc_add(isa.path, dx, dy, dx, count, 0)
  } else {
    dx.update(from: dy, count: count)
  }
}

/// Sums the gradient of each channel over samples and positions into `biasGradient`.
// outputGradient: (samples, channels, plane); biasGradient: (channels), overwritten
func biasBackward(
  _ outputGradient: UnsafePointer<Float>, _ biasGradient: UnsafeMutablePointer<Float>,
  samples: Int, channels: Int, plane: Int
) {
  biasGradient.update(repeating: 0, count: channels)
  for sample in 0..<samples {
    for channel in 0..<channels {
      biasGradient[channel] += sum(
        outputGradient + (sample * channels + channel) * plane, count: plane)
    }
  }
}

/// The sum of `count` floats in eight interleaved partial sums: one running sum is a chain of
/// dependent adds, eight let them overlap (and the order stays fixed, so results repeat).
@inline(__always)
func sum(_ values: UnsafePointer<Float>, count: Int) -> Float {
  var partial = SIMD8<Float>()
  var index = 0
  let raw = UnsafeRawPointer(values)
  while index &+ 8 <= count {
    partial += raw.loadUnaligned(fromByteOffset: index &* 4, as: SIMD8<Float>.self)
    index &+= 8
  }
  var total = partial.sum()
  while index < count {
    total += values[index]
    index &+= 1
  }
  return total
}
