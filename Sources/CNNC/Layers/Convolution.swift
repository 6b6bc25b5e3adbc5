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
  /// Whether the forward pass applies the ReLU after it as it stores its outputs (an inference
  /// plan's `ReLUFusion`).
  public internal(set) var appliesReLU = false
  /// Whether the forward pass adds its results to what its output buffer holds: the residual of
  /// an add an inference plan fused into it (`ResidualFusion`), whose ReLU it then applies.
  public internal(set) var addsIntoOutput = false

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
    name: "conv", keys: ["filters", "kernel", "stride", "pad", "bias", "groups"],
    onnx: ONNXReading(["Conv"], read: readConv)
  ) { keys in
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

// ONNX's Conv, with the weight and bias as cnnc keeps them.
extension Convolution {
  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator(
      "Conv",
      [
        ("kernel_shape", .ints([kernel.height, kernel.width])),
        ("strides", .ints([stride.height, stride.width])),
        ("pads", .ints([pad.height, pad.width, pad.height, pad.width])),
        ("group", .int(groups)),
      ], tensors: ["weight", "bias"], input: .image)
  }

  static func readConv(_ node: inout ONNXNodeReader) throws(ONNXError) {
    try node.onlyAttributes(["kernel_shape", "strides", "pads", "group", "dilations", "auto_pad"])
    try node.noDilation()
    guard let weight = try node.weight(1), weight.dims.count == 4 else {
      throw node.problem("its weight must be a 4-D initializer")
    }
    node.keys.append(("filters", String(weight.dims[0])))
    let kernel = node.ints("kernel_shape", default: Array(weight.dims[2...]))
    node.keys.append(("kernel", try node.pair(kernel, "kernel_shape", default: nil)!))
    if let stride = try node.pair(node.ints("strides", default: [1, 1]), "strides", default: 1) {
      node.keys.append(("stride", stride))
    }
    if let pad = try node.pair(try node.symmetricPads(), "pads", default: 0) {
      node.keys.append(("pad", pad))
    }
    let groups = node.int("group", default: 1)
    if groups != 1 { node.keys.append(("groups", String(groups))) }
    node.tensors["\(node.layerName).weight"] = weight.values
    if let bias = try node.weight(2) {
      node.tensors["\(node.layerName).bias"] = bias.values
    } else {
      node.keys.append(("bias", "false"))
    }
  }
}

// Per group (one group without `groups`), with W (F, C·kh·kw) that group's filters and X[n] its
// channels:
// Forward: Y[n] (F, P) = W · im2col(X[n]) (C·kh·kw, P) + b, one product per sample.
// Backward: dW = Σ_n dY[n] · colsᵀ, db = Σ dY, dX[n] = col2im(Wᵀ · dY[n]); stride-1 layers
// take other lowerings where they are faster (ConvolutionBackward.swift).
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

  /// Scratch: forward's GEMM packing and its weights packed once per batch (forward packs its
  /// columns straight from the image, implicit GEMM, and needs none), or Winograd's transformed
  /// weights and block workspace; an inference plan's folded weights; a training plan's
  /// backward scratch (`backwardScratch`).
  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    let g = geometry(inputs[0], output)
    let (f, k) = (filters / groups, g.patchSize)
    let depthwise = isDepthwise(g) ? depthwiseScratch(g) : nil
    let forward: [ScratchRequest]
    if let depthwise {
      forward = [depthwise.forward]
    } else if let winograd = forwardWinograd(g, batch: batch) {
      forward = [
        ScratchRequest(
          name: ScratchKey.winogradWorkspace, elements: winograd.workspaceFloats,
          lifetime: .forward,
          perThread: true),
        ScratchRequest(
          name: ScratchKey.winogradWeights,
          elements: winograd.weightFloats.flatMap { checkedProduct([$0, groups]) },
          lifetime: .forward),
      ]
    } else {
      forward = [
        ScratchRequest(
          name: ScratchKey.forwardPacking,
          elements: convolutionWorkspaceFloats(g.window, filters: f),
          lifetime: .forward, perThread: true),
        ScratchRequest(
          name: ScratchKey.forwardWeights,
          elements: packedAFloats(m: f, k: k).flatMap { checkedProduct([$0, groups]) },
          lifetime: .forward),
      ]
    }
    let backward = depthwise.map { [$0.backward] } ?? backwardScratch(g, batch: batch)
    let packing = forward + (training ? backward : [])
    let folded =
      foldedBatchNormEpsilon == nil || training
      ? []
      : [
        ScratchRequest(
          name: ScratchKey.foldedWeights,
          elements: checkedProduct([filters, g.patchSize]), lifetime: .forward),
        ScratchRequest(name: ScratchKey.foldedBias, elements: filters, lifetime: .forward),
      ]
    return packing + folded
  }

  /// Where group `group`'s part of each operand starts, in floats.
  struct GroupOffsets {
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
    if isDepthwise(g) { return depthwiseForward(g, b) }
    if let winograd = forwardWinograd(g, batch: b.batch) {
      return winogradForward(winograd, b, offsets: offsets).kernel(b)
    }
    return gemmForward(g, b, offsets: offsets).kernel(b)
  }

  /// Forward with a batchnorm folded in (`BatchNormFolding`): each call computes the folded
  /// weights W·s and bias (b − μ)·s + β, s = γ/√(σ² + ε) per filter, into scratch, then runs
  /// the plain forward pass on them.
  private func foldedForward(_ b: LayerBinding, epsilon: Float) -> Kernel {
    let weights = b.requiredScratch(ScratchKey.foldedWeights, as: Float.self)
    let bias = b.requiredScratch(ScratchKey.foldedBias, as: Float.self)
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
    let packedWeights = b.requiredScratch(ScratchKey.forwardWeights, as: Float.self)
    let (filters, isa, window, relu) = (self.filters / groups, b.isa, g.window, appliesReLU)
    let packedStride = packedAFloats(m: filters, k: g.patchSize) ?? 0
    return ForwardPass(
      images: b.batch, items: g.outputPlane,
      parts: outputRanges(g.outputPlane, threads: b.threads),
      workspace: b.requiredScratch(ScratchKey.forwardPacking, as: Float.self),
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
            image: image + at.input, bias: bias.map { $0 + at.filters }, relu: relu,
            outputs: outputs, output: output + at.output, workspace: workspace)
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
    let packedWeights = b.requiredScratch(ScratchKey.winogradWeights, as: Float.self)
    let (isa, inputCount, outputCount, relu) = (b.isa, b.inputCount, b.outputCount, appliesReLU)
    let accumulate = addsIntoOutput
    let packedStride = winograd.weightFloats ?? 0
    let tiles = b.batch * winograd.tiles
    return ForwardPass(
      images: 1, items: tiles, parts: winograd.tileRanges(tiles, threads: b.threads),
      workspace: b.requiredScratch(ScratchKey.winogradWorkspace, as: Float.self),
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
            output: output + at.output, outputStride: outputCount, accumulate: accumulate,
            relu: relu, workspace: workspace)
        }
      })
  }
}

// MARK: Code generation (`cnnc compile`)

extension Convolution {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    let window = Window(kernel: kernel, stride: stride, pad: pad).geometry(
      input: inputs[0], output: output)
    return .convolution(window, filters: filters, groups: groups, hasBias: hasBias)
  }
}
