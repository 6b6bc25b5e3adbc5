/// Inference plans fold a batchnorm into the convolution before it, as ONNX Runtime and TFLite
/// do: with s = γ / √(running_var + ε), the convolution's weights become W·s (per filter) and its
/// bias (b − running_mean)·s + β, so the batchnorm's pass over memory disappears and its output
/// is the convolution's (a view). The folded weights are computed from the current tensors on
/// every forward call (a few thousand multiplications against the batch's millions), so a
/// caller that changes weights between calls is always served.
///
/// A batchnorm folds when it reads exactly one layer, a convolution, and nothing else reads
/// that convolution's output (it is never the network's output, which is the last layer's).
/// Training plans never fold: training normalises by the batch's statistics.
/// Folding changes results by rounding only (`BatchNormFoldingTests`: within 1e-5 relative of
/// the unfolded plan on every shipped model with batchnorm).
enum BatchNormFolding {
  /// For each folded batchnorm's index, the index of the convolution it folds into.
  static func folds(_ network: InferredNetwork, _ options: PlanOptions) -> [Int: Int] {
    guard options.mode == .inference, options.foldsBatchNorm else { return [:] }
    let readers = network.readerCounts
    var folds: [Int: Int] = [:]
    for (index, layer) in network.layers.enumerated() where layer.spec.layer is BatchNorm {
      guard layer.inputs.count == 1, case .layer(let source) = layer.inputs[0],
        network.layers[source].spec.layer is Convolution, readers[source] == 1
      else { continue }
      folds[index] = source
    }
    return folds
  }

  /// Layer `index`'s lowering in a plan with `folds`: a folded batchnorm is a view, and the
  /// convolution it folds into carries its ε.
  static func kind(_ index: Int, of network: InferredNetwork, folds: [Int: Int]) -> (any Layer)? {
    let kind = network.layers[index].spec.layer
    if folds[index] != nil, var batchNorm = kind as? BatchNorm {
      batchNorm.isFolded = true
      return batchNorm
    }
    if let folded = folds.first(where: { $0.value == index })?.key,
      var convolution = kind as? Convolution,
      let batchNorm = network.layers[folded].spec.layer as? BatchNorm
    {
      convolution.foldedBatchNormEpsilon = batchNorm.epsilon
      return convolution
    }
    return kind
  }
}
