/// Plans fuse a ReLU into the batchnorm or add before it: that layer applies max(·, 0) to its
/// output in the same pass (forward) and masks its gradient where the output is 0 (backward),
/// and the ReLU becomes a view of its output, with no step and no buffer of its own. That
/// saves a pass over memory each way and the pre-activation buffer; PyTorch's eager mode runs
/// the ReLU as a kernel of its own, torch.compile fuses it likewise.
///
/// A ReLU fuses when it reads exactly one layer, a batchnorm (not folded into a convolution:
/// then it is itself a view) or an add, that nothing else reads, and it is not the network's
/// output. In an inference plan it also fuses into a convolution it reads, directly or through
/// the batchnorm folded into it: the convolution's kernels (GEMM epilogue, direct convolution,
/// Winograd's output transform) store max(·, 0), so the tile is clamped while in registers
/// (ONNX Runtime fuses likewise). Training plans leave a convolution's ReLU alone: its backward
/// would need the mask as a pass of its own. The results are bit for bit the unfused plan's
/// (`ReLUFusionTests`): the same operations on the same values, in one pass instead of two.
enum ReLUFusion {
  /// For each fused ReLU's index, the index of the layer that applies it.
  static func fusions(_ network: InferredNetwork, kinds: [any Layer], _ options: PlanOptions)
    -> [Int: Int]
  {
    guard options.fusesReLU else { return [:] }
    let readers = network.readerCounts
    var fusions: [Int: Int] = [:]
    for (index, layer) in network.layers.enumerated() {
      guard let relu = kinds[index] as? Activation, relu.function == .relu,
        index != network.layers.count - 1, layer.inputs.count == 1,
        case .layer(let source) = layer.inputs[0], readers[source] == 1
      else { continue }
      let training = options.mode == .training
      if let batchNorm = kinds[source] as? BatchNorm, !batchNorm.isView(training: training) {
        fusions[index] = source
      } else if kinds[source] is Add {
        fusions[index] = source
      } else if !training, let convolution = convolutionBefore(source, network, kinds) {
        fusions[index] = convolution
      }
    }
    return fusions
  }

  /// The convolution whose output layer `index` is: the convolution itself, or the batchnorm
  /// folded into one (a view of its output, which nothing else reads).
  private static func convolutionBefore(
    _ index: Int, _ network: InferredNetwork, _ kinds: [any Layer]
  ) -> Int? {
    if kinds[index] is Convolution { return index }
    guard let batchNorm = kinds[index] as? BatchNorm, batchNorm.isFolded,
      case .layer(let source) = network.layers[index].inputs[0], kinds[source] is Convolution
    else { return nil }
    return source
  }

  /// `kinds` with each fusion applied: the ReLU a view, the layer before it applying it.
  static func apply(_ fusions: [Int: Int], to kinds: inout [any Layer]) {
    for (relu, source) in fusions {
      if var activation = kinds[relu] as? Activation {
        activation.isFused = true
        kinds[relu] = activation
      }
      if var batchNorm = kinds[source] as? BatchNorm {
        batchNorm.appliesReLU = true
        kinds[source] = batchNorm
      } else if var add = kinds[source] as? Add {
        add.appliesReLU = true
        kinds[source] = add
      } else if var convolution = kinds[source] as? Convolution {
        convolution.appliesReLU = true
        kinds[source] = convolution
      }
    }
  }
}
