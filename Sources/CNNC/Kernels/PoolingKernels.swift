import CNNCKernels

/// The rows (or columns) window `index` covers: the clipped range inside the input, and how many
/// positions of the padded input it spans (the divisor of Caffe's and PyTorch's average).
@inline(__always)
func windowSpan(_ index: Int, stride: Int, pad: Int, kernel: Int, input: Int)
  -> (start: Int, end: Int, padded: Int)
{
  let start = index * stride - pad
  let paddedEnd = min(start + kernel, input + pad)
  return (max(start, 0), min(paddedEnd, input), paddedEnd - start)
}

/// Max pooling; records each output's winning input position for the backward pass.
///
/// A running max is a chain of dependent compares, so one window at a time runs at that chain's
/// latency. Windows wholly inside the input (all but the edges) are therefore taken four at a
/// time, in four independent chains. Ties keep the first maximum in row-major window order in
/// both paths.
// input:  (planes = N·C, H, W)
// output: (planes, oh, ow); argmax: (planes, oh, ow), an index into the input plane
func maxPoolForward(
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
  _ argmax: UnsafeMutablePointer<Int32>, planes: Int, _ g: WindowGeometry
) {
  // Outputs whose column window lies inside 0..<W: start = ox·s − p ≥ 0 and start + k ≤ W.
  let firstInside = (g.padWidth + g.strideWidth - 1) / g.strideWidth
  let lastInside = min(
    g.outputWidth - 1, (g.inputWidth - g.kernelWidth + g.padWidth) / g.strideWidth)
  let inside = firstInside <= lastInside ? firstInside..<(lastInside + 1) : 0..<0
  let (s, k) = (g.strideWidth, g.kernelWidth)
  for plane in 0..<planes {
    let source = input + plane * g.inputPlane
    for oy in 0..<g.outputHeight {
      let target = output + plane * g.outputPlane + oy * g.outputWidth
      let winners = argmax + plane * g.outputPlane + oy * g.outputWidth
      let rows = windowSpan(
        oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
      var ox = inside.lowerBound
      if g.kernelWidth == 2, s == 2, rows.end - rows.start == 2 {
        // 2×2 windows, stride 2 (most CNNs): four windows from two 8-float loads, with selects
        // instead of branches. Pairwise maxima keep the first maximum in row-major order too.
        let top = UnsafeRawPointer(source + rows.start * g.inputWidth - g.padWidth)
        let bottom = top + 4 * g.inputWidth
        let lanes = SIMD4<Int32>(0, 2, 4, 6)
        while ox + 4 <= inside.upperBound {
          let offset = 2 * ox
          let upper = top.loadUnaligned(fromByteOffset: 4 * offset, as: SIMD8<Float>.self)
          let lower = bottom.loadUnaligned(fromByteOffset: 4 * offset, as: SIMD8<Float>.self)
          let base =
            SIMD4<Int32>(
              repeating: Int32(truncatingIfNeeded: rows.start * g.inputWidth - g.padWidth + offset))
            &+ lanes
          let upperRight = upper.oddHalf .> upper.evenHalf
          let upperValue = upper.evenHalf.replacing(with: upper.oddHalf, where: upperRight)
          let upperIndex = base.replacing(with: base &+ 1, where: upperRight)
          let lowerRight = lower.oddHalf .> lower.evenHalf
          let lowerValue = lower.evenHalf.replacing(with: lower.oddHalf, where: lowerRight)
          let lowerIndex = (base &+ Int32(truncatingIfNeeded: g.inputWidth)).replacing(
            with: base &+ Int32(truncatingIfNeeded: g.inputWidth + 1), where: lowerRight)
          let lowerWins = lowerValue .> upperValue
          UnsafeMutableRawPointer(target + ox).storeBytes(
            of: upperValue.replacing(with: lowerValue, where: lowerWins), as: SIMD4<Float>.self)
          UnsafeMutableRawPointer(winners + ox).storeBytes(
            of: upperIndex.replacing(with: lowerIndex, where: lowerWins), as: SIMD4<Int32>.self)
          ox += 4
        }
      }
      while ox + 4 <= inside.upperBound {
        let first = rows.start * g.inputWidth + ox * s - g.padWidth
        var (i0, i1, i2, i3) = (first, first + s, first + 2 * s, first + 3 * s)
        var (b0, b1, b2, b3) = (source[i0], source[i1], source[i2], source[i3])
        for iy in rows.start..<rows.end {
          let line = iy * g.inputWidth + ox * s - g.padWidth
          for dx in 0..<k {
            let j0 = line + dx
            let (j1, j2, j3) = (j0 + s, j0 + 2 * s, j0 + 3 * s)
            let (v0, v1, v2, v3) = (source[j0], source[j1], source[j2], source[j3])
            if v0 > b0 { (b0, i0) = (v0, j0) }
            if v1 > b1 { (b1, i1) = (v1, j1) }
            if v2 > b2 { (b2, i2) = (v2, j2) }
            if v3 > b3 { (b3, i3) = (v3, j3) }
          }
        }
        (target[ox], target[ox + 1], target[ox + 2], target[ox + 3]) = (b0, b1, b2, b3)
        winners[ox] = Int32(truncatingIfNeeded: i0)
        winners[ox + 1] = Int32(truncatingIfNeeded: i1)
        winners[ox + 2] = Int32(truncatingIfNeeded: i2)
        winners[ox + 3] = Int32(truncatingIfNeeded: i3)
        ox += 4
      }
      let groupsEnd = inside.lowerBound + inside.count / 4 * 4
      for ox in 0..<g.outputWidth where ox < inside.lowerBound || ox >= groupsEnd {
        let columns = windowSpan(
          ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
        // Every window holds at least one real pixel (windows that would start in the
        // padding are dropped by the output-size rule), so its first pixel is a valid start.
        var bestIndex = rows.start * g.inputWidth + columns.start
        var best = source[bestIndex]
        for iy in rows.start..<rows.end {
          for ix in columns.start..<columns.end where source[iy * g.inputWidth + ix] > best {
            best = source[iy * g.inputWidth + ix]
            bestIndex = iy * g.inputWidth + ix
          }
        }
        target[ox] = best
        winners[ox] = Int32(truncatingIfNeeded: bestIndex)
      }
    }
  }
}

/// Max pooling without the winners' positions, for inference. Unpadded 2×2 windows with stride
/// 2 (most CNNs) go to a C loop the compiler vectorises; other windows, and the clipped edge
/// windows of ceil rounding, are taken one by one.
// input: (planes, H, W); output: (planes, oh, ow)
func maxPoolForwardValues(
  _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, planes: Int,
  _ g: WindowGeometry
) {
  var (rows, columns) = (0, 0)
  if g.kernelHeight == 2, g.kernelWidth == 2, g.strideHeight == 2, g.strideWidth == 2,
    g.padHeight == 0, g.padWidth == 0
  {
    cnnc_max_pool_2x2(
      input, output, planes, g.inputHeight, g.inputWidth, g.outputHeight, g.outputWidth)
    (rows, columns) = (min(g.outputHeight, g.inputHeight / 2), min(g.outputWidth, g.inputWidth / 2))
  }
  for plane in 0..<planes {
    let source = input + plane * g.inputPlane
    for oy in 0..<g.outputHeight {
      let span = windowSpan(
        oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
      for ox in 0..<g.outputWidth where oy >= rows || ox >= columns {
        let window = windowSpan(
          ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
        var best = source[span.start * g.inputWidth + window.start]
        for iy in span.start..<span.end {
          for ix in window.start..<window.end where source[iy * g.inputWidth + ix] > best {
            best = source[iy * g.inputWidth + ix]
          }
        }
        output[plane * g.outputPlane + oy * g.outputWidth + ox] = best
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
