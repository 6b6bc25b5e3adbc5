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

  /// Pooling: ceil((i − k + 2p) / s) + 1 (Caffe's rule), or floor with `ceilMode` false.
  /// With padding, a last window that would start at or beyond i + p (wholly in the padding) is
  /// dropped, as Caffe and PyTorch do. Nil when the window does not fit the padded input.
  public static func pooling(input: Int, kernel: Int, stride: Int, pad: Int, ceilMode: Bool)
    -> Int?
  {
    let span = input + 2 * pad - kernel
    guard span >= 0 else { return nil }
    var size = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
    if pad > 0, (size - 1) * stride >= input + pad {
      size -= 1
    }
    return size
  }
}
