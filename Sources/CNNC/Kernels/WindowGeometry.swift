import CNNCKernels

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

extension Window {
  /// The kernels' view of this window over `input` producing `output`.
  func geometry(input: Shape, output: Shape) -> WindowGeometry {
    WindowGeometry(
      channels: input.channels, inputHeight: input.height, inputWidth: input.width,
      kernelHeight: kernel.height, kernelWidth: kernel.width, strideHeight: stride.height,
      strideWidth: stride.width, padHeight: pad.height, padWidth: pad.width,
      outputHeight: output.height, outputWidth: output.width)
  }
}

extension WindowGeometry {
  /// The kernels' C description of this window.
  var window: cnnc_window {
    cnnc_window(
      channels: channels, height: inputHeight, width: inputWidth, kernel_h: kernelHeight,
      kernel_w: kernelWidth, stride_h: strideHeight, stride_w: strideWidth, pad_h: padHeight,
      pad_w: padWidth, out_h: outputHeight, out_w: outputWidth)
  }

  /// The window of the input gradient computed as a convolution (stride 1 only): dY, padded by
  /// k − 1 − p, correlated with the weights turned 180° and channels and filters swapped, gives
  /// dX; `filters` is the forward layer's filters per group.
  func turnedForInputGradient(filters: Int) -> WindowGeometry {
    WindowGeometry(
      channels: filters, inputHeight: outputHeight, inputWidth: outputWidth,
      kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: 1, strideWidth: 1,
      padHeight: kernelHeight - 1 - padHeight, padWidth: kernelWidth - 1 - padWidth,
      outputHeight: inputHeight, outputWidth: inputWidth)
  }
}
