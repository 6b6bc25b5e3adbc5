/// The outputs `ox` whose input column ox·stride − pad + offset lies inside 0..<width: a window
/// row reads real pixels only there and padding elsewhere. Computed once per row, so the inner
/// loops need no bounds checks and a stride-1 row is one contiguous copy.
@inline(__always)
private func validOutputs(offset: Int, stride: Int, pad: Int, input: Int, outputs: Int) -> Range<
  Int
> {
  // ix = ox·s − p + offset ≥ 0  ⇔  ox ≥ ⌈(p − offset)/s⌉
  let shift = pad - offset
  let first = shift <= 0 ? 0 : (shift + stride - 1) / stride
  // ix ≤ input − 1  ⇔  ox ≤ ⌊(input − 1 + p − offset)/s⌋
  let limit = input - 1 + shift
  let last = limit < 0 ? -1 : min(outputs - 1, limit / stride)
  return first <= last ? first..<(last + 1) : 0..<0
}

/// Copies `count` floats. Rows here are short (8 to 30 floats), where a call to memmove costs
/// more than the copy: eight at a time through SIMD registers, then the rest one by one.
@inline(__always)
private func copyShort(
  from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int
) {
  var index = 0
  let from = UnsafeRawPointer(source)
  let to = UnsafeMutableRawPointer(target)
  while index + 8 <= count {
    to.storeBytes(
      of: from.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self),
      toByteOffset: index * 4, as: SIMD8<Float>.self)
    index += 8
  }
  while index < count {
    target[index] = source[index]
    index += 1
  }
}

/// Unfolds one image into the matrix whose columns are the receptive fields of each output.
/// Rows are short, so the loops walk pointers and skip the zero fills that padding does not need.
// image:   (C, H, W)
// columns: (C·kh·kw, oh·ow), row (c·kh + i)·kw + j holds input pixel (i, j) of each window
func im2col(
  _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ g: WindowGeometry
) {
  let (ow, plane) = (g.outputWidth, g.outputPlane)
  let (sh, sw) = (g.strideHeight, g.strideWidth)
  var target = columns
  for channel in 0..<g.channels {
    let source = image + channel &* g.inputPlane
    for ki in 0..<g.kernelHeight {
      let rows = validOutputs(
        offset: ki, stride: sh, pad: g.padHeight, input: g.inputHeight, outputs: g.outputHeight)
      for kj in 0..<g.kernelWidth {
        let valid = validOutputs(
          offset: kj, stride: sw, pad: g.padWidth, input: g.inputWidth, outputs: ow)
        guard !valid.isEmpty, !rows.isEmpty else {
          target.update(repeating: 0, count: plane)
          target += plane
          continue
        }
        if rows.lowerBound > 0 { target.update(repeating: 0, count: rows.lowerBound &* ow) }
        let (lead, count, trail) = (valid.lowerBound, valid.count, ow &- valid.upperBound)
        var from =
          source
          + ((rows.lowerBound &* sh &- g.padHeight &+ ki) &* g.inputWidth
            &+ valid.lowerBound &* sw &- g.padWidth &+ kj)
        var to = target + rows.lowerBound &* ow
        for _ in rows {
          if lead > 0 { to.update(repeating: 0, count: lead) }
          if sw == 1 {
            copyShort(from: from, to: to + lead, count: count)
          } else {
            for index in 0..<count { to[lead &+ index] = from[index &* sw] }
          }
          if trail > 0 { (to + (lead &+ count)).update(repeating: 0, count: trail) }
          from += sh &* g.inputWidth
          to += ow
        }
        let below = g.outputHeight &- rows.upperBound
        if below > 0 { to.update(repeating: 0, count: below &* ow) }
        target += plane
      }
    }
  }
}

/// Folds a column matrix back onto an image, adding each entry to the pixel it came from: the
/// adjoint of `im2col`, used for the input gradient. The image is added to, not overwritten.
// columns: (C·kh·kw, oh·ow)
// image:   (C, H, W)
func col2imAdding(
  _ columns: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, _ g: WindowGeometry
) {
  let plane = g.outputPlane
  var row = 0
  for channel in 0..<g.channels {
    let target = image + channel * g.inputPlane
    for ki in 0..<g.kernelHeight {
      let rows = validOutputs(
        offset: ki, stride: g.strideHeight, pad: g.padHeight, input: g.inputHeight,
        outputs: g.outputHeight)
      for kj in 0..<g.kernelWidth {
        let source = columns + row * plane
        let valid = validOutputs(
          offset: kj, stride: g.strideWidth, pad: g.padWidth, input: g.inputWidth,
          outputs: g.outputWidth)
        row += 1
        guard !valid.isEmpty else { continue }
        for oy in rows {
          let line = source + oy * g.outputWidth
          let targetLine = target + (oy * g.strideHeight - g.padHeight + ki) * g.inputWidth
          let first = valid.lowerBound * g.strideWidth - g.padWidth + kj
          if g.strideWidth == 1 {
            let from = line + valid.lowerBound
            let to = targetLine + first
            for index in 0..<valid.count { to[index] += from[index] }
          } else {
            for (index, ox) in valid.enumerated() {
              targetLine[first + index * g.strideWidth] += line[ox]
            }
          }
        }
      }
    }
  }
}
