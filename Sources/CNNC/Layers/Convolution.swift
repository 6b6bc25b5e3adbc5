import CNNCKernels

/// 2-D convolution: `filters` kernels of `kernel`, plus a bias each. With `groups` g, the
/// channels and the filters are split into g groups and each group of filters sees only its
/// group of channels (PyTorch's `groups`; g = channels = filters is depthwise).
public struct Convolution: Layer {
  public var filters: Int
  public var kernel: Pair
  public var stride: Pair
  public var pad: Pair
  public var hasBias: Bool
  public var groups: Int
  /// The ε of a batchnorm an inference plan folds into this convolution (`BatchNormFolding`).
  public var foldedBatchNormEpsilon: Float?
  /// Which lowerings the plan may choose (`ConvolutionLowering`); the planner sets it.
  public var lowering = ConvolutionLowering.auto

  public init(
    filters: Int, kernel: Pair, stride: Pair = Pair(1), pad: Pair = Pair(0), hasBias: Bool = true,
    groups: Int = 1
  ) {
    self.filters = filters
    self.kernel = kernel
    self.stride = stride
    self.pad = pad
    self.hasBias = hasBias
    self.groups = groups
  }

  public static let type = LayerType(
    name: "conv", keys: ["filters", "kernel", "stride", "pad", "bias", "groups"]
  ) {
    keys in
    Convolution(
      filters: keys.positive("filters"),
      kernel: keys.pair("kernel", in: 1...Limits.maximumSize),
      stride: keys.pair("stride", default: Pair(1), in: 1...Limits.maximumSize),
      pad: keys.pair("pad", default: Pair(0), in: 0...Limits.maximumSize),
      hasBias: keys.boolean("bias", default: true),
      groups: keys.positive("groups", default: 1))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    let input = inputs[0]
    let split = [("input channels", input.channels), ("filters", filters)].filter {
      $0.1 % groups != 0
    }
    if !split.isEmpty {
      let what = split.map { "its \($0.1) \($0.0)" }.joined(separator: " and ")
      let remainder = split.map { "\($0.1) mod \(groups) = \($0.1 % groups)" }
      check.error(
        "groups: \(groups) must divide the input channels and the filters, but \(what) "
          + "do not split into \(groups) equal groups (\(remainder.joined(separator: ", ")))")
      return nil
    }
    let window = Window(kernel: kernel, stride: stride, pad: pad)
    guard let (height, width) = window.outputSize(of: input, rule: .convolution, check: &check)
    else {
      return nil
    }
    return Shape(channels: filters, height: height, width: width)
  }

  /// Weight `[filters, channels/groups, kh, kw]`, PyTorch's `nn.Conv2d` layout.
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] {
    let weight = ParameterTensor(
      name: "weight",
      dimensions: [filters, inputs[0].channels / groups, kernel.height, kernel.width],
      initializer: .fans)
    let bias = ParameterTensor(name: "bias", dimensions: [filters], initializer: .zeros)
    return hasBias ? [weight, bias] : [weight]
  }

  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? {
    checkedProduct([
      kernel.height, kernel.width, inputs[0].channels / groups, filters, output.height,
      output.width,
    ])
  }
}

/// The column matrix of `image`: unfolded into `columns`, or the image itself for a 1×1 window
/// (no scratch then).
@inline(__always)
private func unfold(
  _ image: UnsafePointer<Float>, into columns: UnsafeMutablePointer<Float>?, _ g: WindowGeometry
) -> UnsafePointer<Float> {
  guard let columns else { return image }
  im2col(image, columns, g)
  return UnsafePointer(columns)
}

// Per group (one group without `groups`), with W (F, C·kh·kw) that group's filters and X[n] its
// channels:
// Forward: Y[n] (F, P) = W · im2col(X[n]) (C·kh·kw, P) + b, one product per sample.
// Backward: dW = Σ_n dY[n] · colsᵀ, db = Σ dY, dX[n] = col2im(Wᵀ · dY[n]).
extension Convolution {
  public var backwardReads: BackwardReads { .input }

  /// The window over one group's channels.
  func geometry(_ input: Shape, _ output: Shape) -> WindowGeometry {
    let group = Shape(channels: input.channels / groups, height: input.height, width: input.width)
    return Window(kernel: kernel, stride: stride, pad: pad).geometry(input: group, output: output)
  }

  /// The forward pass by Winograd, when the lowering allows it and the shape suits it.
  func forwardWinograd(_ g: WindowGeometry, batch: Int) -> WinogradConvolution? {
    guard lowering == .auto else { return nil }
    return WinogradConvolution(g.window, filters: filters / groups, batch: batch)
  }

  /// A training plan's input gradient by Winograd, when the lowering allows it and the shape
  /// suits it. For stride 1, dX = conv(dY, W̃) with W̃[c][f] = W[f][c] turned 180° and padding
  /// k − 1 − p (each output position's gradient reaches exactly the inputs its window read):
  /// a convolution of F/groups channels into C/groups filters, of the output plane back onto
  /// the input's.
  func inputGradientWinograd(_ g: WindowGeometry, batch: Int, training: Bool)
    -> WinogradConvolution?
  {
    let w = g.window
    guard training, lowering == .auto, w.stride_h == 1, w.stride_w == 1,
      w.pad_h < w.kernel_h, w.pad_w < w.kernel_w
    else { return nil }
    let turned = cnnc_window(
      channels: filters / groups, height: w.out_h, width: w.out_w, kernel_h: w.kernel_h,
      kernel_w: w.kernel_w, stride_h: 1, stride_w: 1, pad_h: w.kernel_h - 1 - w.pad_h,
      pad_w: w.kernel_w - 1 - w.pad_w, out_h: w.height, out_w: w.width)
    return WinogradConvolution(turned, filters: w.channels, batch: batch)
  }

  /// How the plan computes this layer, forward and backward, as `cnnc check --plan` shows it.
  public func loweringNames(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> (forward: String, backward: String)?
  {
    let g = geometry(inputs[0], output)
    let forward = forwardWinograd(g, batch: batch) == nil ? "by GEMM" : "by Winograd"
    let inputGradient = inputGradientWinograd(g, batch: batch, training: training)
    return (forward, inputGradient == nil ? "by GEMM" : "by GEMM, Winograd dX")
  }

  /// Scratch: GEMM packing for forward and backward, the weights packed once per batch for
  /// forward (W) and for the input gradient (Wᵀ), then, unless the window is pointwise,
  /// backward's columns and their gradient (one group's, reused group after group). Forward
  /// packs its columns straight from the image (implicit GEMM) and needs none. An inference
  /// plan's forward by Winograd asks for its transformed weights and block workspace instead.
  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    let g = geometry(inputs[0], output)
    let (f, k, p) = (filters / groups, g.patchSize, g.outputPlane)
    let forward: [ScratchRequest]
    if let winograd = forwardWinograd(g, batch: batch) {
      forward = [
        ScratchRequest(
          name: Scratch.winogradWorkspace, elements: winograd.workspaceFloats, lifetime: .forward,
          perThread: true),
        ScratchRequest(
          name: Scratch.winogradWeights,
          elements: winograd.weightFloats.flatMap { checkedProduct([$0, groups]) },
          lifetime: .forward),
      ]
    } else {
      forward = [
        ScratchRequest(
          name: Scratch.forwardPacking, elements: convolutionWorkspaceFloats(g.window, filters: f),
          lifetime: .forward, perThread: true),
        ScratchRequest(
          name: Scratch.forwardWeights,
          elements: packedAFloats(m: f, k: k).flatMap { checkedProduct([$0, groups]) },
          lifetime: .forward),
      ]
    }
    let inputGradient: [ScratchRequest]
    if let winograd = inputGradientWinograd(g, batch: batch, training: training) {
      inputGradient = [
        ScratchRequest(
          name: Scratch.turnedWeights, elements: checkedProduct([filters, k]), lifetime: .backward,
          forInputGradient: true),
        ScratchRequest(
          name: Scratch.inputGradientWeights,
          elements: winograd.weightFloats.flatMap { checkedProduct([$0, groups]) },
          lifetime: .backward, forInputGradient: true),
        ScratchRequest(
          name: Scratch.inputGradientWorkspace, elements: winograd.workspaceFloats,
          lifetime: .backward, forInputGradient: true),
      ]
    } else {
      inputGradient = [
        ScratchRequest(
          name: Scratch.backwardWeights,
          elements: packedAFloats(m: k, k: f).flatMap { checkedProduct([$0, groups]) },
          lifetime: .backward, forInputGradient: true)
      ]
    }
    let byGEMM = inputGradient.count == 1
    let packing =
      forward + inputGradient + [
        ScratchRequest(
          name: Scratch.backwardPacking,
          elements: gemmWorkspaceFloats(byGEMM ? [(f, k, p), (k, p, f)] : [(f, k, p)]),
          lifetime: .backward)
      ]
    let folded =
      foldedBatchNormEpsilon == nil || training
      ? []
      : [
        ScratchRequest(
          name: Scratch.foldedWeights,
          elements: checkedProduct([filters, g.patchSize]), lifetime: .forward),
        ScratchRequest(name: Scratch.foldedBias, elements: filters, lifetime: .forward),
      ]
    // A 1×1 window with stride 1 and no pad reads the image as its own column matrix.
    guard !g.isPointwise else { return packing + folded }
    let columns = checkedProduct([k, p])
    let columnGradient = ScratchRequest(
      name: Scratch.columnGradient, elements: columns, lifetime: .backward,
      forInputGradient: true)
    return packing + folded + [
      ScratchRequest(name: Scratch.backwardColumns, elements: columns, lifetime: .backward)
    ] + (byGEMM ? [columnGradient] : [])
  }

  private enum Scratch {
    static let (forwardPacking, backwardPacking) = ("forward packing", "backward packing")
    static let (forwardWeights, backwardWeights) = ("packed weights", "packed weights transposed")
    static let (backwardColumns, columnGradient) = ("columns", "column gradient")
    static let (winogradWorkspace, winogradWeights) = ("winograd workspace", "winograd weights")
    static let (foldedWeights, foldedBias) = ("batchnorm-folded weights", "batchnorm-folded bias")
    static let turnedWeights = "weights turned for the input gradient"
    static let (inputGradientWeights, inputGradientWorkspace) = (
      "winograd input-gradient weights", "winograd input-gradient workspace"
    )
  }

  /// Where group `group`'s part of each operand starts, in floats.
  private struct GroupOffsets {
    var input: Int, output: Int, weights: Int, filters: Int

    init(_ group: Int, _ g: WindowGeometry, filtersPerGroup: Int) {
      input = group * g.channels * g.inputHeight * g.inputWidth
      output = group * filtersPerGroup * g.outputPlane
      weights = group * filtersPerGroup * g.patchSize
      filters = group * filtersPerGroup
    }
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    if let epsilon = foldedBatchNormEpsilon, !training {
      return foldedForward(b, epsilon: epsilon)
    }
    let g = geometry(b.inputShapes[0], b.outputShape)
    let filters = self.filters / groups
    let offsets = (0..<groups).map { GroupOffsets($0, g, filtersPerGroup: filters) }
    if let winograd = forwardWinograd(g, batch: b.batch) {
      return winogradForward(winograd, b, offsets: offsets).kernel(b)
    }
    return gemmForward(g, b, offsets: offsets).kernel(b)
  }

  /// Forward with a batchnorm folded in (`BatchNormFolding`): each call computes the folded
  /// weights W·s and bias (b − μ)·s + β, s = γ/√(σ² + ε) per filter, into scratch, then runs
  /// the plain forward pass on them.
  private func foldedForward(_ b: LayerBinding, epsilon: Float) -> Kernel {
    let weights = b.requiredScratch(Scratch.foldedWeights, as: Float.self)
    let bias = b.requiredScratch(Scratch.foldedBias, as: Float.self)
    var plain = self
    plain.foldedBatchNormEpsilon = nil
    plain.hasBias = true
    var onFolded = b
    onFolded.parameters = [weights, bias]
    let forward = plain.forwardKernel(onFolded, training: false)
    let (original, originalBias) = (b.parameters[0], hasBias ? b.parameters[1] : nil)
    let (gamma, beta, mean, variance) = (
      b.foldedParameters[0], b.foldedParameters[1], b.foldedParameters[2], b.foldedParameters[3]
    )
    let perFilter = geometry(b.inputShapes[0], b.outputShape).patchSize
    let filters = self.filters
    return {
      for f in 0..<filters {
        let scale = gamma[f] / (variance[f] + epsilon).squareRoot()
        for i in (f * perFilter)..<((f + 1) * perFilter) { weights[i] = original[i] * scale }
        bias[f] = ((originalBias?[f] ?? 0) - mean[f]) * scale + beta[f]
      }
      forward()
    }
  }

  /// One batch's forward pass: the weights packed once, then each image's work items (output
  /// positions or tiles) computed. With several threads on one image (batch 1, the only case
  /// with several), each takes a range of items with its own workspace; the packed weights are
  /// shared.
  private struct ForwardPass {
    /// Calls per batch (`run` for image n reads x + n·inputCount, writes y + n·outputCount),
    /// the work items (output positions or tiles) of each, and their ranges per thread.
    var images: Int
    var items: Int
    var parts: [Range<Int>]
    var workspace: UnsafeMutablePointer<Float>
    var workspaceStride: Int
    var packWeights: () -> Void
    var run:
      (
        _ image: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>,
        _ items: Range<Int>, _ workspace: UnsafeMutablePointer<Float>
      ) -> Void

    func kernel(_ b: LayerBinding) -> Kernel {
      let (x, y, inputCount, outputCount) = (b.inputs[0], b.output, b.inputCount, b.outputCount)
      let (parts, workspace, stride, packWeights, run) = (
        parts, workspace, workspaceStride, packWeights, run
      )
      if parts.count > 1 {
        let task = TeamTask { part in
          run(x, y, parts[part], workspace + part * stride)
        }
        return {
          packWeights()
          task.run(on: b.team, parts: parts.count)
        }
      }
      let (images, items) = (images, items)
      return {
        packWeights()
        for n in 0..<images {
          run(x + n * inputCount, y + n * outputCount, 0..<items, workspace)
        }
      }
    }
  }

  /// Forward as an implicit GEMM (or a direct convolution, which the kernels choose); threads
  /// sharing an image take whole 32-column panels of output positions.
  private func gemmForward(_ g: WindowGeometry, _ b: LayerBinding, offsets: [GroupOffsets])
    -> ForwardPass
  {
    let weight = b.parameters[0]
    let bias = hasBias ? b.parameters[1] : nil
    let packedWeights = b.requiredScratch(Scratch.forwardWeights, as: Float.self)
    let (filters, isa, window) = (self.filters / groups, b.isa, g.window)
    let packedStride = packedAFloats(m: filters, k: g.patchSize) ?? 0
    return ForwardPass(
      images: b.batch, items: g.outputPlane,
      parts: outputRanges(g.outputPlane, threads: b.threads),
      workspace: b.requiredScratch(Scratch.forwardPacking, as: Float.self),
      workspaceStride: gemmWorkspaceFloats(m: filters, n: g.outputPlane, k: g.patchSize),
      packWeights: {
        for (group, at) in offsets.enumerated() {
          packA(
            isa, transpose: false, m: filters, k: g.patchSize, a: weight + at.weights,
            lda: g.patchSize, into: packedWeights + group * packedStride)
        }
      },
      run: { image, output, outputs, workspace in
        for (group, at) in offsets.enumerated() {
          convolutionForward(
            isa, window, filters: filters, packedWeights: packedWeights + group * packedStride,
            image: image + at.input, bias: bias.map { $0 + at.filters }, outputs: outputs,
            output: output + at.output, workspace: workspace)
        }
      })
  }

  /// Forward by Winograd's F(2×2, r×r) in one call over the batch's tiles (a small plane's
  /// tiles alone would not fill the microkernel); threads sharing an image take whole blocks of
  /// tiles.
  private func winogradForward(
    _ winograd: WinogradConvolution, _ b: LayerBinding, offsets: [GroupOffsets]
  ) -> ForwardPass {
    let weight = b.parameters[0]
    let bias = hasBias ? b.parameters[1] : nil
    let packedWeights = b.requiredScratch(Scratch.winogradWeights, as: Float.self)
    let (isa, inputCount, outputCount) = (b.isa, b.inputCount, b.outputCount)
    let packedStride = winograd.weightFloats ?? 0
    let tiles = b.batch * winograd.tiles
    return ForwardPass(
      images: 1, items: tiles, parts: winograd.tileRanges(tiles, threads: b.threads),
      workspace: b.requiredScratch(Scratch.winogradWorkspace, as: Float.self),
      workspaceStride: winograd.workspaceFloats,
      packWeights: {
        for (group, at) in offsets.enumerated() {
          winograd.packWeights(
            isa, weight + at.weights, into: packedWeights + group * packedStride)
        }
      },
      run: { image, output, tiles, workspace in
        for (group, at) in offsets.enumerated() {
          winograd.forward(
            isa, packedWeights: packedWeights + group * packedStride, images: image + at.input,
            imageStride: inputCount, bias: bias.map { $0 + at.filters }, tiles: tiles,
            output: output + at.output, outputStride: outputCount, workspace: workspace)
        }
      })
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    let (x, weight, weightGradient) = (b.inputs[0], b.parameters[0], b.parameterGradients[0])
    let biasGradient = hasBias ? b.parameterGradients[1] : nil
    let packing = b.requiredScratch(Scratch.backwardPacking, as: Float.self)
    let packedWeights = b.optionalScratch(Scratch.backwardWeights)
    let columns = b.optionalScratch(Scratch.backwardColumns)
    let columnGradient = b.optionalScratch(Scratch.columnGradient)
    let (inputCount, outputCount, groups, isa) = (b.inputCount, b.outputCount, groups, b.isa)
    let filters = self.filters / groups
    let packedStride = packedAFloats(m: g.patchSize, k: filters) ?? 0
    let offsets = (0..<groups).map { GroupOffsets($0, g, filtersPerGroup: filters) }
    let groupInputCount = inputCount / groups
    let dy = b.requiredOutputGradient
    let (dx, accumulate) = (b.inputGradients[0], b.accumulate[0])
    let winogradGradient =
      dx == nil ? nil : winogradInputGradient(g, b, offsets: offsets)
    return {
      if let packedWeights, dx != nil {
        for (group, at) in offsets.enumerated() {
          packA(
            isa, transpose: true, m: g.patchSize, k: filters, a: weight + at.weights,
            lda: g.patchSize, into: packedWeights + group * packedStride)
        }
      }
      for n in 0..<b.batch {
        for (group, at) in offsets.enumerated() {
          let image = x + n * inputCount + at.input
          let outGradient = dy + n * outputCount + at.output
          let cols = unfold(image, into: columns, g)
          gemm(
            isa, transposeA: false, transposeB: true, m: filters, n: g.patchSize,
            k: g.outputPlane, a: outGradient, lda: g.outputPlane, b: cols, ldb: g.outputPlane,
            beta: n == 0 ? 0 : 1, c: weightGradient + at.weights, ldc: g.patchSize,
            workspace: packing)
          guard let dx, let packedWeights else { continue }
          let imageGradient = dx + n * inputCount + at.input
          // dX[n] = col2im(Wᵀ · dY[n]); a pointwise window's columns are the image itself.
          let target = columnGradient ?? imageGradient
          gemm(
            isa, packedA: packedWeights + group * packedStride, transposeB: false,
            m: g.patchSize, n: g.outputPlane, k: filters, b: outGradient, ldb: g.outputPlane,
            beta: columnGradient == nil && accumulate ? 1 : 0, c: target, ldc: g.outputPlane,
            workspace: packing)
          if let columnGradient {
            if !accumulate { imageGradient.update(repeating: 0, count: groupInputCount) }
            col2imAdding(columnGradient, imageGradient, g)
          }
        }
      }
      winogradGradient?()
      if let biasGradient {
        biasBackward(
          dy, biasGradient, samples: b.batch, channels: self.filters, plane: g.outputPlane)
      }
    }
  }

  /// The whole batch's input gradient by Winograd (`inputGradientWinograd`), or nil when the
  /// plan computes it by GEMM: per group, the weights turned and transposed, then one call over
  /// every image's tiles of the output gradient.
  private func winogradInputGradient(
    _ g: WindowGeometry, _ b: LayerBinding, offsets: [GroupOffsets]
  ) -> Kernel? {
    guard let winograd = inputGradientWinograd(g, batch: b.batch, training: true),
      let dx = b.inputGradients[0]
    else { return nil }
    let turned = b.requiredScratch(Scratch.turnedWeights, as: Float.self)
    let packed = b.requiredScratch(Scratch.inputGradientWeights, as: Float.self)
    let workspace = b.requiredScratch(Scratch.inputGradientWorkspace, as: Float.self)
    let (weight, dy, isa, accumulate) = (
      b.parameters[0], b.requiredOutputGradient, b.isa, b.accumulate[0]
    )
    let (inputCount, outputCount, filters, channels) = (
      b.inputCount, b.outputCount, self.filters / groups, g.channels
    )
    let (kh, kw) = (g.window.kernel_h, g.window.kernel_w)
    let packedStride = winograd.weightFloats ?? 0
    let tiles = b.batch * winograd.tiles
    return {
      for (group, at) in offsets.enumerated() {
        // W̃[c][f][y][x] = W[f][c][kh − 1 − y][kw − 1 − x], this group's filters and channels.
        let source = weight + at.weights
        for f in 0..<filters {
          for c in 0..<channels {
            let from = source + (f * channels + c) * kh * kw
            let to = turned + (c * filters + f) * kh * kw
            for i in 0..<(kh * kw) { to[i] = from[kh * kw - 1 - i] }
          }
        }
        winograd.packWeights(isa, turned, into: packed + group * packedStride)
      }
      for (group, at) in offsets.enumerated() {
        winograd.forward(
          isa, packedWeights: packed + group * packedStride, images: dy + at.output,
          imageStride: outputCount, bias: nil, tiles: 0..<tiles, output: dx + at.input,
          outputStride: inputCount, accumulate: accumulate, workspace: workspace)
      }
    }
  }
}
