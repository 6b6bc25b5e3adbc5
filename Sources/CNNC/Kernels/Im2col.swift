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
      for kj in 0..<g.kernelWidth {
        let target = columns + row * plane
        for oy in 0..<g.outputHeight {
          let iy = oy * g.strideHeight - g.padHeight + ki
          let line = target + oy * g.outputWidth
          guard iy >= 0, iy < g.inputHeight else {
            line.update(repeating: 0, count: g.outputWidth)
            continue
          }
          let sourceLine = source + iy * g.inputWidth
          for ox in 0..<g.outputWidth {
            let ix = ox * g.strideWidth - g.padWidth + kj
            line[ox] = ix >= 0 && ix < g.inputWidth ? sourceLine[ix] : 0
          }
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
      for kj in 0..<g.kernelWidth {
        let source = columns + row * plane
        for oy in 0..<g.outputHeight {
          let iy = oy * g.strideHeight - g.padHeight + ki
          guard iy >= 0, iy < g.inputHeight else { continue }
          let line = source + oy * g.outputWidth
          let targetLine = target + iy * g.inputWidth
          for ox in 0..<g.outputWidth {
            let ix = ox * g.strideWidth - g.padWidth + kj
            if ix >= 0 && ix < g.inputWidth { targetLine[ix] += line[ox] }
          }
        }
        row += 1
      }
    }
  }
}
