/// The rows (or columns) window `index` covers: the clipped range inside the input, and how many
/// positions of the padded input it spans (the divisor of Caffe's and PyTorch's average).
@inline(__always)
private func windowSpan(_ index: Int, stride: Int, pad: Int, kernel: Int, input: Int)
  -> (start: Int, end: Int, padded: Int)
{
  let start = index * stride - pad
  let paddedEnd = min(start + kernel, input + pad)
  return (max(start, 0), min(paddedEnd, input), paddedEnd - start)
}

/// Max pooling; records each output's winning input position for the backward pass.
// input:  (planes = N·C, H, W)
// output: (planes, oh, ow); argmax: (planes, oh, ow), an index into the input plane
func maxPoolForward(
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
  _ argmax: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry
) {
  for plane in 0..<planes {
    let source = input + plane * g.inputPlane
    let target = output + plane * g.outputPlane
    let winners = argmax + plane * g.outputPlane
    for oy in 0..<g.outputHeight {
      let rows = windowSpan(
        oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
      for ox in 0..<g.outputWidth {
        let columns = windowSpan(
          ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
        var best = -Float.infinity
        var bestIndex = rows.start * g.inputWidth + columns.start
        for iy in rows.start..<rows.end {
          for ix in columns.start..<columns.end where source[iy * g.inputWidth + ix] > best {
            best = source[iy * g.inputWidth + ix]
            bestIndex = iy * g.inputWidth + ix
          }
        }
        target[oy * g.outputWidth + ox] = best
        winners[oy * g.outputWidth + ox] = Int32(bestIndex)
      }
    }
  }
}

/// Routes each output error to the input position that won the max.
// outputGradient: (planes, oh, ow); inputGradient: (planes, H, W), added to unless `overwrite`
func maxPoolBackward(
  _ outputGradient: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>,
  _ inputGradient: UnsafeMutablePointer<Float>, planes: Int, overwrite: Bool, _ g: WindowGeometry
) {
  if overwrite { inputGradient.update(repeating: 0, count: planes * g.inputPlane) }
  for plane in 0..<planes {
    let source = outputGradient + plane * g.outputPlane
    let winners = argmax + plane * g.outputPlane
    let target = inputGradient + plane * g.inputPlane
    for index in 0..<g.outputPlane {
      target[Int(winners[index])] += source[index]
    }
  }
}

/// Average pooling; each window divides by the positions it spans in the padded input.
// input: (planes, H, W); output: (planes, oh, ow)
func averagePoolForward(
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, planes: Int,
  _ g: WindowGeometry
) {
  for plane in 0..<planes {
    let source = input + plane * g.inputPlane
    let target = output + plane * g.outputPlane
    for oy in 0..<g.outputHeight {
      let rows = windowSpan(
        oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
      for ox in 0..<g.outputWidth {
        let columns = windowSpan(
          ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
        var sum: Float = 0
        for iy in rows.start..<rows.end {
          for ix in columns.start..<columns.end { sum += source[iy * g.inputWidth + ix] }
        }
        target[oy * g.outputWidth + ox] = sum / Float(rows.padded * columns.padded)
      }
    }
  }
}

/// Spreads each output error evenly over the input pixels of its window.
// outputGradient: (planes, oh, ow); inputGradient: (planes, H, W), added to unless `overwrite`
func averagePoolBackward(
  _ outputGradient: UnsafePointer<Float>, _ inputGradient: UnsafeMutablePointer<Float>,
  planes: Int, overwrite: Bool, _ g: WindowGeometry
) {
  if overwrite { inputGradient.update(repeating: 0, count: planes * g.inputPlane) }
  for plane in 0..<planes {
    let source = outputGradient + plane * g.outputPlane
    let target = inputGradient + plane * g.inputPlane
    for oy in 0..<g.outputHeight {
      let rows = windowSpan(
        oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
      for ox in 0..<g.outputWidth {
        let columns = windowSpan(
          ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
        let share = source[oy * g.outputWidth + ox] / Float(rows.padded * columns.padded)
        for iy in rows.start..<rows.end {
          for ix in columns.start..<columns.end { target[iy * g.inputWidth + ix] += share }
        }
      }
    }
  }
}
