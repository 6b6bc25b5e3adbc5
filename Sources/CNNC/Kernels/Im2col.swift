/// The geometry of a convolution or pooling window over one sample.
public struct WindowGeometry: Sendable, Equatable {
  public var channels: Int
  public var inputHeight: Int
  public var inputWidth: Int
  public var kernelHeight: Int
  public var kernelWidth: Int
  public var strideHeight: Int
  public var strideWidth: Int
  public var padHeight: Int
  public var padWidth: Int
  public var outputHeight: Int
  public var outputWidth: Int

  /// Rows of the column matrix: c·kh·kw.
  public var patchSize: Int { channels * kernelHeight * kernelWidth }
  /// Columns of the column matrix: oh·ow.
  public var outputPlane: Int { outputHeight * outputWidth }
  public var inputPlane: Int { inputHeight * inputWidth }

  /// A 1×1 window with stride 1 and no padding: the image already is its column matrix.
  public var isPointwise: Bool {
    kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1
      && padHeight == 0 && padWidth == 0
  }
}

/// The outputs `ox` whose input column ox·stride − pad + offset lies inside 0..<width: a window
/// row reads real pixels only there and padding elsewhere. Computed once per row, so the inner
/// loops need no bounds checks and a stride-1 row is one contiguous copy.
@inline(__always)
private func validOutputs(offset: Int, stride: Int, pad: Int, input: Int, outputs: Int) -> Range<Int> {
  // ix = ox·s − p + offset ≥ 0  ⇔  ox ≥ ⌈(p − offset)/s⌉
  let shift = pad - offset
  let first = shift <= 0 ? 0 : (shift + stride - 1) / stride
  // ix ≤ input − 1  ⇔  ox ≤ ⌊(input − 1 + p − offset)/s⌋
  let limit = input - 1 + shift
  let last = limit < 0 ? -1 : min(outputs - 1, limit / stride)
  return first <= last ? first..<(last + 1) : 0..<0
}

/// Unfolds one image into the matrix whose columns are the receptive fields of each output.
// image:   (C, H, W)
// columns: (C·kh·kw, oh·ow), row (c·kh + i)·kw + j holds input pixel (i, j) of each window
func im2col(
  _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ g: WindowGeometry
) {
  let plane = g.outputPlane
  var row = 0
  for channel in 0..<g.channels {
    let source = image + channel * g.inputPlane
    for ki in 0..<g.kernelHeight {
      let rows = validOutputs(
        offset: ki, stride: g.strideHeight, pad: g.padHeight, input: g.inputHeight,
        outputs: g.outputHeight)
      for kj in 0..<g.kernelWidth {
        let target = columns + row * plane
        let valid = validOutputs(
          offset: kj, stride: g.strideWidth, pad: g.padWidth, input: g.inputWidth,
          outputs: g.outputWidth)
        for oy in 0..<g.outputHeight {
          let line = target + oy * g.outputWidth
          guard rows.contains(oy), !valid.isEmpty else {
            line.update(repeating: 0, count: g.outputWidth)
            continue
          }
          let sourceLine = source + (oy * g.strideHeight - g.padHeight + ki) * g.inputWidth
          line.update(repeating: 0, count: valid.lowerBound)
          let first = valid.lowerBound * g.strideWidth - g.padWidth + kj
          if g.strideWidth == 1 {
            (line + valid.lowerBound).update(from: sourceLine + first, count: valid.count)
          } else {
            for (index, ox) in valid.enumerated() {
              line[ox] = sourceLine[first + index * g.strideWidth]
            }
          }
          (line + valid.upperBound).update(repeating: 0, count: g.outputWidth - valid.upperBound)
        }
        row += 1
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
