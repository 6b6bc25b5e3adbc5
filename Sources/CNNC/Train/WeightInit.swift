/// How conv and dense weights start: uniform in ±limit, the limit set by the fans
/// (fan-in = in-channels × kernel area, fan-out = out-channels × kernel area). Biases start at 0.
public enum WeightInit: String, Sendable, Equatable, CaseIterable {
  /// ±√(6 / (fan-in + fan-out)): Glorot and Bengio's, PyTorch's `xavier_uniform_`.
  case glorotUniform = "glorot_uniform"
  /// ±√(3 / fan-in): Caffe's `xavier` filler at its default `variance_norm: FAN_IN`, which
  /// Caffe's LeNet uses; Keras calls it `lecun_uniform`.
  case lecunUniform = "lecun_uniform"
  /// ±√(6 / fan-in): He et al.'s, for ReLU nets (PyTorch's `kaiming_uniform_` with its
  /// defaults a = 0, fan-in).
  case heUniform = "he_uniform"

  public func limit(fanIn: Int, fanOut: Int) -> Float {
    switch self {
    case .glorotUniform: return (6 / Float(fanIn + fanOut)).squareRoot()
    case .lecunUniform: return (3 / Float(fanIn)).squareRoot()
    case .heUniform: return (6 / Float(fanIn)).squareRoot()
    }
  }
}
