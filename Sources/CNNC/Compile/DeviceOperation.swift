/// What one layer computes for one image when `cnnc compile` turns a trained network into C:
/// each layer type's code-generation rule (`Layer.deviceOperation`) names one of these, and
/// `DevicePlan` fuses and places them.
public enum DeviceOperation: Sendable {
  /// Weights `[filters, channels/groups, kh, kw]`, an optional bias `[filters]`; the window is
  /// over all the input's channels.
  case convolution(WindowGeometry, filters: Int, groups: Int, hasBias: Bool)
  case pooling(Pooling.Kind, WindowGeometry)
  /// Each channel's mean over its plane.
  case globalAveragePooling
  /// Weights `[units, inputs]`, an optional bias `[units]`, over the input as one vector.
  case dense(units: Int, hasBias: Bool)
  /// Normalisation by the running statistics, then γ and β (folded into a convolution before
  /// it where the plan can).
  case batchNorm(epsilon: Float)
  case activation(Activation.Function)
  /// Over the channels at each position.
  case softmax
  /// The input's values as they are: flatten, and dropout at inference.
  case view
  /// The inputs' channels one after another.
  case concat
  /// The inputs' sum.
  case add
}
