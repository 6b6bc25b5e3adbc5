import CNNCKernels

/// 2-D convolution: `filters` kernels of `kernel` over all input channels, plus a bias each.
public struct Convolution: Layer {
  public var filters: Int
  public var kernel: Pair
  public var stride: Pair
  public var pad: Pair
  public var hasBias: Bool

  public init(
    filters: Int, kernel: Pair, stride: Pair = Pair(1), pad: Pair = Pair(0), hasBias: Bool = true
  ) {
    self.filters = filters
    self.kernel = kernel
    self.stride = stride
    self.pad = pad
    self.hasBias = hasBias
  }

  public static let type = LayerType(
    name: "conv", keys: ["filters", "kernel", "stride", "pad", "bias"]
  ) {
    keys in
    Convolution(
      filters: keys.positive("filters"),
      kernel: keys.pair("kernel", in: 1...KeyReader.maximumSize),
      stride: keys.pair("stride", default: Pair(1), in: 1...KeyReader.maximumSize),
      pad: keys.pair("pad", default: Pair(0), in: 0...KeyReader.maximumSize),
      hasBias: keys.boolean("bias", default: true))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    let input = inputs[0]
    let window = Window(kernel: kernel, stride: stride, pad: pad)
    guard let (height, width) = window.outputSize(of: input, rule: .convolution, check: &check)
    else {
      return nil
    }
    return Shape(channels: filters, height: height, width: width)
  }

  public func parameters(for inputs: [Shape]) -> [ParameterTensor] {
    let weight = ParameterTensor(
      name: "weight", dimensions: [filters, inputs[0].channels, kernel.height, kernel.width],
      initializer: .fans)
    let bias = ParameterTensor(name: "bias", dimensions: [filters], initializer: .zeros)
    return hasBias ? [weight, bias] : [weight]
  }

  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? {
    checkedProduct([
      kernel.height, kernel.width, inputs[0].channels, filters, output.height, output.width,
    ])
  }
}

/// A sliding window (convolution or pooling) and the diagnostics about how it fits its input.
struct Window {
  enum Rule: Equatable {
    case convolution
    case pooling(ceil: Bool)
  }

  var kernel: Pair
  var stride: Pair
  var pad: Pair

  func outputSize(of input: Shape, rule: Rule, check: inout ShapeCheck) -> (Int, Int)? {
    let height = size(input.height, kernel.height, stride.height, pad.height, rule)
    let width = size(input.width, kernel.width, stride.width, pad.width, rule)
    guard let height, let width else {
      let padded = pad == Pair(0) ? "" : " padded by \(pad)"
      let (name, i, k, s, p) =
        height == nil
        ? ("height", input.height, kernel.height, stride.height, pad.height)
        : ("width", input.width, kernel.width, stride.width, pad.width)
      let span = i - k + 2 * p
      let isCeil = rule == .pooling(ceil: true)
      // span < 0 here; Swift's division truncates toward zero, so round by hand.
      let rounded = isCeil ? -((-span) / s) : -((-span + s - 1) / s)
      let function = isCeil ? "ceil" : "floor"
      check.error(
        "kernel \(kernel) does not fit its \(input.height)×\(input.width) input\(padded) "
          + "(output \(name) \(function)((\(i) − \(k) + 2·\(p))/\(s)) + 1 = \(rounded + 1))")
      return nil
    }
    // A ceil-mode window reaches the border, clipped; the others may stop short of it.
    if rule != .pooling(ceil: true) {
      let unused = [
        ("row", input.height, kernel.height, stride.height, pad.height),
        ("column", input.width, kernel.width, stride.width, pad.width),
      ].compactMap { name, i, k, s, p -> String? in
        let left = (i - k + 2 * p) % s
        guard left != 0 else { return nil }
        return "the last \(left == 1 ? name : "\(left) \(name)s") "
          + "((\(i) − \(k) + 2·\(p)) mod \(s) = \(left))"
      }
      if !unused.isEmpty {
        check.warning(
          "stride \(stride) leaves \(unused.joined(separator: " and ")) of the input unused")
      }
    }
    return (height, width)
  }

  private func size(_ i: Int, _ k: Int, _ s: Int, _ p: Int, _ rule: Rule) -> Int? {
    switch rule {
    case .convolution:
      return OutputSize.convolution(input: i, kernel: k, stride: s, pad: p)
    case .pooling(let ceil):
      return OutputSize.pooling(input: i, kernel: k, stride: s, pad: p, ceilMode: ceil)
    }
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

// Forward: Y[n] (F, P) = W (F, C·kh·kw) · im2col(X[n]) (C·kh·kw, P) + b, one product per sample.
// Backward: dW = Σ_n dY[n] · colsᵀ, db = Σ dY, dX[n] = col2im(Wᵀ · dY[n]).
extension Convolution {
  public var backwardReads: BackwardReads { .input }

  func geometry(_ input: Shape, _ output: Shape) -> WindowGeometry {
    Window(kernel: kernel, stride: stride, pad: pad).geometry(input: input, output: output)
  }

  /// Scratch: GEMM packing for forward and backward, the weights packed once per batch for
  /// forward (W) and for the input gradient (Wᵀ), then, unless the window is pointwise,
  /// backward's columns and their gradient. Forward packs its
  /// columns straight from the image (implicit GEMM) and needs none.
  public func scratch(batch: Int, inputs: [Shape], output: Shape) -> [ScratchRequest] {
    let g = geometry(inputs[0], output)
    let (f, k, p) = (filters, g.patchSize, g.outputPlane)
    let packing = [
      ScratchRequest(
        name: Scratch.forwardPacking, elements: convolutionWorkspaceFloats(g.window, filters: f),
        lifetime: .forward, perThread: true),
      ScratchRequest(
        name: Scratch.backwardPacking, elements: gemmWorkspaceFloats([(f, k, p), (k, p, f)]),
        lifetime: .backward),
      ScratchRequest(
        name: Scratch.forwardWeights, elements: packedAFloats(m: f, k: k), lifetime: .forward),
      ScratchRequest(
        name: Scratch.backwardWeights, elements: packedAFloats(m: k, k: f), lifetime: .backward,
        forInputGradient: true),
    ]
    // A 1×1 window with stride 1 and no pad reads the image as its own column matrix.
    guard !g.isPointwise else { return packing }
    let columns = checkedProduct([k, p])
    return packing + [
      ScratchRequest(name: Scratch.backwardColumns, elements: columns, lifetime: .backward),
      ScratchRequest(
        name: Scratch.columnGradient, elements: columns, lifetime: .backward,
        forInputGradient: true),
    ]
  }

  private enum Scratch {
    static let (forwardPacking, backwardPacking) = ("forward packing", "backward packing")
    static let (forwardWeights, backwardWeights) = ("packed weights", "packed weights transposed")
    static let (backwardColumns, columnGradient) = ("columns", "column gradient")
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    let (x, y, weight) = (b.inputs[0], b.output, b.parameters[0])
    let bias = hasBias ? b.parameters[1] : nil
    let packing = b.requiredScratch(Scratch.forwardPacking, as: Float.self)
    let packedWeights = b.requiredScratch(Scratch.forwardWeights, as: Float.self)
    let (inputCount, outputCount, filters, isa) = (b.inputCount, b.outputCount, self.filters, b.isa)
    let window = g.window
    // With several threads on one image, each takes a range of output positions (whole
    // 32-column panels) with its own packing workspace; the packed weights are shared.
    let parts = outputRanges(g.outputPlane, threads: b.threads)
    let workspaceStride = gemmWorkspaceFloats(m: filters, n: g.outputPlane, k: g.patchSize)
    if parts.count > 1 {
      // Batch 1 (the only case with several threads): one image, its outputs split.
      let task = TeamTask { part in
        convolutionForward(
          isa, window, filters: filters, packedWeights: packedWeights, image: x, bias: bias,
          outputs: parts[part], output: y, workspace: packing + part * workspaceStride)
      }
      return {
        packA(
          isa, transpose: false, m: filters, k: g.patchSize, a: weight, lda: g.patchSize,
          into: packedWeights)
        task.run(on: b.team, parts: parts.count)
      }
    }
    return {
      packA(
        isa, transpose: false, m: filters, k: g.patchSize, a: weight, lda: g.patchSize,
        into: packedWeights)
      for n in 0..<b.batch {
        convolutionForward(
          isa, window, filters: filters, packedWeights: packedWeights, image: x + n * inputCount,
          bias: bias, outputs: 0..<g.outputPlane, output: y + n * outputCount, workspace: packing)
      }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    let (x, weight, weightGradient) = (b.inputs[0], b.parameters[0], b.parameterGradients[0])
    let biasGradient = hasBias ? b.parameterGradients[1] : nil
    let packing = b.requiredScratch(Scratch.backwardPacking, as: Float.self)
    let packedWeights = b.optionalScratch(Scratch.backwardWeights)
    let columns = b.optionalScratch(Scratch.backwardColumns)
    let columnGradient = b.optionalScratch(Scratch.columnGradient)
    let (inputCount, outputCount, filters, isa) = (b.inputCount, b.outputCount, self.filters, b.isa)
    let dy = b.requiredOutputGradient
    let (dx, accumulate) = (b.inputGradients[0], b.accumulate[0])
    return {
      if let packedWeights, dx != nil {
        packA(
          isa, transpose: true, m: g.patchSize, k: filters, a: weight, lda: g.patchSize,
          into: packedWeights)
      }
      for n in 0..<b.batch {
        let image = x + n * inputCount
        let outGradient = dy + n * outputCount
        let cols = unfold(image, into: columns, g)
        gemm(
          isa, transposeA: false, transposeB: true, m: filters, n: g.patchSize, k: g.outputPlane,
          a: outGradient, lda: g.outputPlane, b: cols, ldb: g.outputPlane, beta: n == 0 ? 0 : 1,
          c: weightGradient, ldc: g.patchSize, workspace: packing)
        guard let dx, let packedWeights else { continue }
        let imageGradient = dx + n * inputCount
        // dX[n] = col2im(Wᵀ · dY[n]); a pointwise window's columns are the image itself.
        let target = columnGradient ?? imageGradient
        gemm(
          isa, packedA: packedWeights, transposeB: false, m: g.patchSize, n: g.outputPlane,
          k: filters, b: outGradient, ldb: g.outputPlane,
          beta: columnGradient == nil && accumulate ? 1 : 0, c: target, ldc: g.outputPlane,
          workspace: packing)
        if let columnGradient {
          if !accumulate { imageGradient.update(repeating: 0, count: inputCount) }
          col2imAdding(columnGradient, imageGradient, g)
        }
      }
      if let biasGradient {
        biasBackward(dy, biasGradient, samples: b.batch, channels: filters, plane: g.outputPlane)
      }
    }
  }
}
