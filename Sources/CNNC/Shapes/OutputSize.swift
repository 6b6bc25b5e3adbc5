/// The output-size formulas of convolution and pooling, one spatial dimension at a time.
///
/// Inputs are at most `Limits.maximumSize` (2^31 − 1), so `input + 2·pad` cannot overflow.
public enum OutputSize {
  /// Convolution: floor((i − k + 2p) / s) + 1. Nil when the kernel does not fit the padded input.
  public static func convolution(input: Int, kernel: Int, stride: Int, pad: Int) -> Int? {
    let span = input + 2 * pad - kernel
    guard span >= 0 else { return nil }
    return span / stride + 1
  }

  /// Pooling: ceil((i − k + 2p) / s) + 1 (the rule of the CNN notes cnnc started from, and
  /// Caffe's), or floor with
  /// `ceilMode` false; then a last window that would start at or beyond the input's real end
  /// (row i; i + p in padded coordinates) is dropped, padded or not, as PyTorch and ONNX do: it
  /// would cover no input pixel. Caffe drops it only when the layer has padding. Nil when
  /// the window does not fit the padded input.
  public static func pooling(input: Int, kernel: Int, stride: Int, pad: Int, ceilMode: Bool)
    -> Int?
  {
    guard
      let size = poolingBeforeDrop(
        input: input, kernel: kernel, stride: stride, pad: pad, ceilMode: ceilMode)
    else { return nil }
    return poolingDropsLastWindow(size: size, input: input, stride: stride, pad: pad)
      ? size - 1 : size
  }

  /// The ceil or floor formula alone, before a window past the input is dropped.
  static func poolingBeforeDrop(input: Int, kernel: Int, stride: Int, pad: Int, ceilMode: Bool)
    -> Int?
  {
    let span = input + 2 * pad - kernel
    guard span >= 0 else { return nil }
    return (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
  }

  /// Whether window `size − 1` starts at or past the input's last row: (size − 1)·s − p ≥ i.
  /// With pad < kernel (which `check` requires) only ceil rounding can get there, and only by
  /// one window, so one drop leaves every window with at least one input pixel.
  static func poolingDropsLastWindow(size: Int, input: Int, stride: Int, pad: Int) -> Bool {
    size > 1 && (size - 1) * stride - pad >= input
  }
}
