import CNNCKernels

/// A convolution's backward pass. Per group, with W (F, C·kh·kw) that group's filters and X[n]
/// its channels: dW = Σ_n dY[n] · im2col(X[n])ᵀ, db = Σ dY, dX[n] = col2im(Wᵀ · dY[n]), each
/// product by GEMM, image by image (`lowering: gemm`, and stride > 1). An `auto` plan instead
/// takes, for stride-1 layers:
/// - dW by a direct correlation of dY with the zero-padded image (`weight_gradient.c`), for
///   stride-1 windows at least 3 wide on rows of 24 outputs or more; else by one GEMM over the
///   whole batch (`weight_gradient_gemm.c`), its columns packed straight from the images: no
///   column matrix either way;
/// - dX by Winograd: dX = conv(dY, W̃) with W̃[c][f] = W[f][c] turned 180° and padding
///   k − 1 − p (each output position's gradient reaches exactly the inputs its window read), a
///   convolution of F/groups channels into C/groups filters, of the output plane back onto the
///   input's: no col2im.
extension Convolution {
  /// How dW is computed.
  enum WeightGradientLowering: String {
    /// A direct correlation of dY with the zero-padded images.
    case direct
    /// One GEMM over the whole batch, its columns packed from the images.
    case batchGEMM = "batch GEMM"
    /// A GEMM per image over its im2col columns (`lowering: gemm`).
    case perImageGEMM = "GEMM"
  }

  func weightGradientLowering(_ g: WindowGeometry) -> WeightGradientLowering {
    guard lowering == .auto else { return .perImageGEMM }
    var window = g.window
    if cnnc_weight_gradient_applies(&window) != 0 { return .direct }
    return cnnc_weight_gradient_gemm_applies(&window) != 0 ? .batchGEMM : .perImageGEMM
  }

  /// dX by Winograd, when the lowering allows it and the shape suits it: at least "same"
  /// padding (p ≥ (k − 1)/2), so that the turned convolution's padding, k − 1 − p, is no wider:
  /// LeNet's conv2 (5×5, no pad, 8×8 outputs) would transform dY padded to 16×16, three
  /// quarters zeros, and its backward took 8.8 ms against the GEMM's 7.1 per step of 64 on
  /// AMD EPYC Zen 3 (avx2), where ResNet-20's 3×3 pad-1 layers gain 1.5–2 ms each.
  func inputGradientWinograd(_ g: WindowGeometry, batch: Int) -> WinogradConvolution? {
    let w = g.window
    guard lowering == .auto, w.stride_h == 1, w.stride_w == 1, w.pad_h < w.kernel_h,
      w.pad_w < w.kernel_w, 2 * w.pad_h + 1 >= w.kernel_h, 2 * w.pad_w + 1 >= w.kernel_w
    else { return nil }
    let turned = g.turnedForInputGradient(filters: filters / groups)
    return WinogradConvolution(turned.window, filters: w.channels, batch: batch)
  }

  /// How the plan computes this layer, as `cnnc check --plan` shows it: "by GEMM", or each
  /// gradient's lowering (dW alone when no input gradient is wanted).
  public func loweringNames(
    batch: Int, inputs: [Shape], output: Shape, training: Bool, inputGradient: Bool
  ) -> (forward: String, backward: String)? {
    let g = geometry(inputs[0], output)
    if isDepthwise(g) {
      let backward =
        inputGradient ? "dW direct depthwise, dX direct depthwise" : "dW direct depthwise"
      return ("direct depthwise" + (appliesReLU ? " + relu" : ""), backward)
    }
    let forward =
      (forwardWinograd(g, batch: batch) == nil ? "by GEMM" : "by Winograd")
      + (addsIntoOutput ? " + add" : "") + (appliesReLU ? " + relu" : "")
    let weightLowering = weightGradientLowering(g)
    let winograd = inputGradientWinograd(g, batch: batch) != nil
    let weights = "dW \(weightLowering.rawValue)"
    guard inputGradient else { return (forward, weights) }
    guard weightLowering != .perImageGEMM || winograd else { return (forward, "by GEMM") }
    return (forward, "\(weights), dX \(winograd ? "Winograd" : "GEMM")")
  }

  /// Backward's scratch: the padded image (direct dW), the batch GEMM's packing, or the columns
  /// (dW by GEMM per image, unless the window is pointwise: then the image is its own column
  /// matrix); Winograd's turned and
  /// transformed weights and workspace (dX by Winograd) or Wᵀ packed and the columns' gradient
  /// (dX by GEMM); the GEMMs' packing. Columns are one group's, reused group after group.
  func backwardScratch(_ g: WindowGeometry, batch: Int) -> [ScratchRequest] {
    let (f, k, p) = (filters / groups, g.patchSize, g.outputPlane)
    var requests: [ScratchRequest] = []
    var products: [(m: Int, n: Int, k: Int)] = []
    let columns = g.isPointwise ? nil : checkedProduct([k, p])
    var window = g.window
    let weightLowering = weightGradientLowering(g)
    // Both direct-from-image kernels hold at most a batch of padded images (and the GEMM's
    // packing, a bounded size): checked here, before C multiplies them in size_t.
    let paddedBatch = checkedProduct([
      batch, g.channels, g.inputHeight + 2 * g.padHeight, g.inputWidth + 2 * g.padWidth,
    ])
    switch weightLowering {
    case .direct:
      requests.append(
        ScratchRequest(
          name: ScratchKey.paddedImage,
          elements: paddedBatch.map { _ in cnnc_weight_gradient_workspace_floats(&window, batch) },
          lifetime: .backward))
    case .batchGEMM:
      requests.append(
        ScratchRequest(
          name: ScratchKey.weightGradientPacking,
          elements: paddedBatch.map { _ in
            cnnc_weight_gradient_gemm_workspace_floats(&window, f, batch)
          },
          lifetime: .backward))
    case .perImageGEMM:
      products.append((f, k, p))
      if let columns {
        requests.append(
          ScratchRequest(name: ScratchKey.backwardColumns, elements: columns, lifetime: .backward))
      }
    }
    if let winograd = inputGradientWinograd(g, batch: batch) {
      requests += [
        ScratchRequest(
          name: ScratchKey.turnedWeights, elements: checkedProduct([filters, k]),
          lifetime: .backward,
          forInputGradient: true),
        ScratchRequest(
          name: ScratchKey.inputGradientWeights,
          elements: winograd.weightFloats.flatMap { checkedProduct([$0, groups]) },
          lifetime: .backward, forInputGradient: true),
        ScratchRequest(
          name: ScratchKey.inputGradientWorkspace, elements: winograd.workspaceFloats,
          lifetime: .backward, forInputGradient: true),
      ]
    } else {
      products.append((k, p, f))
      requests.append(
        ScratchRequest(
          name: ScratchKey.backwardWeights,
          elements: packedAFloats(m: k, k: f).flatMap { checkedProduct([$0, groups]) },
          lifetime: .backward, forInputGradient: true))
      if let columns {
        requests.append(
          ScratchRequest(
            name: ScratchKey.columnGradient, elements: columns, lifetime: .backward,
            forInputGradient: true))
      }
    }
    guard !products.isEmpty else { return requests }
    return requests + [
      ScratchRequest(
        name: ScratchKey.backwardPacking, elements: gemmWorkspaceFloats(products),
        lifetime: .backward, forInputGradient: weightLowering != .perImageGEMM)
    ]
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    if isDepthwise(g) {
      let direct = depthwiseBackward(g, b)
      guard hasBias else { return direct }
      let (dy, biasGradient, batch, plane) = (
        b.requiredOutputGradient, b.parameterGradients[1], b.batch, g.outputPlane
      )
      let filters = self.filters
      return {
        direct()
        biasBackward(dy, biasGradient, samples: batch, channels: filters, plane: plane)
      }
    }
    let (x, weight, weightGradient) = (b.inputs[0], b.parameters[0], b.parameterGradients[0])
    let biasGradient = hasBias ? b.parameterGradients[1] : nil
    let packedWeights = b.optionalScratch(ScratchKey.backwardWeights)
    let columns = b.optionalScratch(ScratchKey.backwardColumns)
    let columnGradient = b.optionalScratch(ScratchKey.columnGradient)
    let (inputCount, outputCount, groups, isa) = (b.inputCount, b.outputCount, groups, b.isa)
    let filters = self.filters / groups
    let packedStride = packedAFloats(m: g.patchSize, k: filters) ?? 0
    let offsets = (0..<groups).map { GroupOffsets($0, g, filtersPerGroup: filters) }
    let groupInputCount = inputCount / groups
    let dy = b.requiredOutputGradient
    let (dx, accumulate) = (b.inputGradients[0], b.accumulate[0])
    let wholeBatchWeights = weightGradientOverTheBatch(g, b, offsets)
    let winogradInput = dx == nil ? nil : winogradInputGradient(g, b, offsets: offsets)
    // The GEMMs' part, image by image: dW by the `gemm` lowering, dX unless by Winograd.
    let weightsByGEMM = wholeBatchWeights == nil
    let inputByGEMM = dx != nil && winogradInput == nil
    let packing =
      weightsByGEMM || inputByGEMM
      ? b.requiredScratch(ScratchKey.backwardPacking, as: Float.self) : nil
    return {
      if let packedWeights, inputByGEMM {
        for (group, at) in offsets.enumerated() {
          packA(
            isa, transpose: true, m: g.patchSize, k: filters, a: weight + at.weights,
            lda: g.patchSize, into: packedWeights + group * packedStride)
        }
      }
      if let packing {
        for n in 0..<b.batch {
          for (group, at) in offsets.enumerated() {
            let image = x + n * inputCount + at.input
            let outGradient = dy + n * outputCount + at.output
            if weightsByGEMM {
              let cols = unfold(image, into: columns, g)
              gemm(
                isa, transposeA: false, transposeB: true, m: filters, n: g.patchSize,
                k: g.outputPlane, a: outGradient, lda: g.outputPlane, b: cols,
                ldb: g.outputPlane, beta: n == 0 ? 0 : 1, c: weightGradient + at.weights,
                ldc: g.patchSize, workspace: packing)
            }
            guard inputByGEMM, let dx, let packedWeights else { continue }
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
      }
      wholeBatchWeights?()
      winogradInput?()
      if let biasGradient {
        biasBackward(
          dy, biasGradient, samples: b.batch, channels: self.filters, plane: g.outputPlane)
      }
    }
  }

  /// The whole batch's dW straight from the images, group by group (directly or by one GEMM), or
  /// nil when the plan computes it image by image.
  private func weightGradientOverTheBatch(
    _ g: WindowGeometry, _ b: LayerBinding, _ offsets: [GroupOffsets]
  ) -> Kernel? {
    let lowering = weightGradientLowering(g)
    guard lowering != .perImageGEMM else { return nil }
    let workspace = b.requiredScratch(
      lowering == .direct ? ScratchKey.paddedImage : ScratchKey.weightGradientPacking,
      as: Float.self)
    let (x, dy, weightGradient, isa) = (
      b.inputs[0], b.requiredOutputGradient, b.parameterGradients[0], b.isa
    )
    let (inputCount, outputCount, batch, filters) = (
      b.inputCount, b.outputCount, b.batch, self.filters / groups
    )
    let window = g.window
    return {
      withUnsafePointer(to: window) { window in
        for at in offsets {
          let (images, gradients, dw) = (x + at.input, dy + at.output, weightGradient + at.weights)
          if lowering == .direct {
            cnnc_conv_weight_gradient(
              isa.path, window, filters, images, inputCount, gradients, outputCount, batch, dw,
              workspace)
          } else {
            cnnc_conv_weight_gradient_gemm(
              isa.path, window, filters, images, inputCount, gradients, outputCount, batch, dw,
              workspace)
          }
        }
      }
    }
  }

  /// The whole batch's dX by Winograd, or nil when the plan computes it by GEMM: per group, the
  /// weights turned and transposed, then one call over every image's tiles of dY.
  private func winogradInputGradient(
    _ g: WindowGeometry, _ b: LayerBinding, offsets: [GroupOffsets]
  ) -> Kernel? {
    guard let winograd = inputGradientWinograd(g, batch: b.batch), let dx = b.inputGradients[0]
    else { return nil }
    let turned = b.requiredScratch(ScratchKey.turnedWeights, as: Float.self)
    let packed = b.requiredScratch(ScratchKey.inputGradientWeights, as: Float.self)
    let workspace = b.requiredScratch(ScratchKey.inputGradientWorkspace, as: Float.self)
    let (weight, dy, isa, accumulate) = (
      b.parameters[0], b.requiredOutputGradient, b.isa, b.accumulate[0]
    )
    let (inputCount, outputCount, filters, channels) = (
      b.inputCount, b.outputCount, self.filters / groups, g.channels
    )
    let taps = g.window.kernel_h * g.window.kernel_w
    let packedStride = winograd.weightFloats ?? 0
    let tiles = b.batch * winograd.tiles
    return {
      for (group, at) in offsets.enumerated() {
        // W̃[c][f][y][x] = W[f][c][kh − 1 − y][kw − 1 − x], this group's filters and channels.
        let source = weight + at.weights
        for f in 0..<filters {
          for c in 0..<channels {
            let from = source + (f * channels + c) * taps
            let to = turned + (c * filters + f) * taps
            for i in 0..<taps { to[i] = from[taps - 1 - i] }
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
