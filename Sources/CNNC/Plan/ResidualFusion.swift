/// Inference plans fuse a residual add into the convolution that computes one of its two inputs:
/// the convolution adds its results to the other input (the residual) where that already lies
/// and applies the add's ReLU as it stores them, and the add becomes a view of the convolution's
/// output, with no step and no buffer of its own. That saves the add's pass over memory (read
/// two tensors, write one) and its output buffer; ONNX Runtime and TFLite fuse likewise.
///
/// The add fuses when it has two inputs: one a convolution's output (directly or through the
/// batchnorm folded into it) that nothing else reads, computed by Winograd at this batch, after
/// the other; the other a layer's output that nothing but the add reads from the convolution's
/// step on, since the convolution writes over it (and no view reads), and likewise every value
/// it is a view of, down to the one that owns the buffer, which must not be the network's
/// input (the caller's). Winograd's output transform adds the finished value to what the
/// output holds, (conv + bias) + residual, the add's own operation on the same values; a GEMM
/// over more than one slice of the patch would add the residual between slices, so GEMM
/// lowerings are left alone. The results are bit for bit the unfused plan's
/// (`ResidualFusionTests`).
enum ResidualFusion {
  struct Fusion: Equatable {
    /// The convolution that adds into its output.
    var convolution: Int
    /// The add's input that the convolution computes (0 or 1): the add is a view of it.
    var convolutionInput: Int
    /// The layer whose output is the residual.
    var residual: Int
  }

  /// Fuses every add that may in `kinds` (in layer order, so a later residual's chain of views
  /// runs through earlier fused adds); returns each fused add's index and its fusion.
  static func fuse(_ network: InferredNetwork, kinds: inout [any Layer], _ options: PlanOptions)
    -> [Int: Fusion]
  {
    guard options.mode == .inference, options.fusesReLU else { return [:] }
    let readers = network.readerCounts
    var fusions: [Int: Fusion] = [:]
    for (index, layer) in network.layers.enumerated() {
      guard kinds[index] is Add, layer.inputs.count == 2 else { continue }
      for slot in 0..<2 {
        guard case .layer(let source) = layer.inputs[slot], readers[source] == 1,
          case .layer(let residual) = layer.inputs[1 - slot],
          let convolution = winogradConvolution(source, network, kinds, batch: options.batch),
          convolution > residual,
          let chain = viewChain(residual, network, kinds),
          zip(chain, [index] + chain.dropLast()).allSatisfy({ value, link in
            !isReadLater(value, than: convolution, except: link, network, kinds)
          })
        else { continue }
        let fusion = Fusion(convolution: convolution, convolutionInput: slot, residual: residual)
        fusions[index] = fusion
        apply(fusion, add: index, to: &kinds)
        break
      }
    }
    return fusions
  }

  /// The residual and each layer whose output it is a view of (dropout at inference, a fused
  /// ReLU, a folded batchnorm, a fused add), down to the one whose buffer holds the data; nil
  /// when that is the network's input, which the caller owns.
  private static func viewChain(_ residual: Int, _ network: InferredNetwork, _ kinds: [any Layer])
    -> [Int]?
  {
    var chain = [residual]
    while let layer = chain.last, kinds[layer].isView(training: false) {
      guard case .layer(let source) = network.layers[layer].inputs[kinds[layer].viewedInput]
      else { return nil }
      chain.append(source)
    }
    return chain
  }

  /// The convolution computed by Winograd whose output layer `index` is (itself, or the
  /// batchnorm folded into it), that nothing but `index` reads and that applies no ReLU.
  private static func winogradConvolution(
    _ index: Int, _ network: InferredNetwork, _ kinds: [any Layer], batch: Int
  ) -> Int? {
    var source = index
    if let batchNorm = kinds[index] as? BatchNorm {
      guard batchNorm.isFolded, case .layer(let convolution) = network.layers[index].inputs[0],
        network.readerCounts[convolution] == 1
      else { return nil }
      source = convolution
    }
    guard let convolution = kinds[source] as? Convolution, !convolution.appliesReLU,
      let inputShape = network.layers[source].inputShapes.first,
      let output = network.layers[source].output,
      convolution.forwardWinograd(convolution.geometry(inputShape, output), batch: batch) != nil
    else { return nil }
    return source
  }

  /// Whether a layer other than `link` (the add, or the view one step up the residual's chain)
  /// reads layer `value`'s output at or after `convolution` (which writes over it; the
  /// convolution itself reading it would be a convolution in place), or a view reads it (whose
  /// readers could come at any time).
  private static func isReadLater(
    _ value: Int, than convolution: Int, except link: Int, _ network: InferredNetwork,
    _ kinds: [any Layer]
  ) -> Bool {
    network.layers.indices.contains { reader in
      reader != link && network.layers[reader].inputs.contains(.layer(value))
        && (reader >= convolution || kinds[reader].isView(training: false))
    }
  }

  /// `kinds` with the fusion applied: the add a view of the convolution's output, the
  /// convolution adding into it and applying the add's ReLU.
  private static func apply(_ fusion: Fusion, add index: Int, to kinds: inout [any Layer]) {
    guard var add = kinds[index] as? Add,
      var convolution = kinds[fusion.convolution] as? Convolution
    else { return }
    convolution.addsIntoOutput = true
    convolution.appliesReLU = add.appliesReLU
    add.viewedInput = fusion.convolutionInput
    add.isFusedIntoConvolution = true
    kinds[index] = add
    kinds[fusion.convolution] = convolution
  }
}
