import CNNCKernels

/// A depthwise convolution (groups = channels = filters) computed directly, channel by channel
/// (`depthwise.c`), forward and backward: as a GEMM per group each product had one row and
/// k = kh·kw, and MobileNet's depthwise layers took more than half of its training step. The
/// `gemm` lowering keeps the GEMM per group (the numerics of earlier releases).
extension Convolution {
  func isDepthwise(_ g: WindowGeometry) -> Bool {
    lowering == .auto && groups > 1 && filters == groups && g.channels == 1
  }

  /// Image by image, channel by channel; threads sharing an image (batch 1) take ranges of
  /// channels.
  func depthwiseForward(_ g: WindowGeometry, _ b: LayerBinding) -> Kernel {
    let (x, y, weight) = (b.inputs[0], b.output, b.parameters[0])
    let bias = hasBias ? UnsafePointer(b.parameters[1]) : nil
    let (isa, inputCount, outputCount, batch, relu) = (
      b.isa, b.inputCount, b.outputCount, b.batch, Int32(appliesReLU ? 1 : 0)
    )
    let (taps, inputPlane, outputPlane, window) = (
      g.kernelHeight * g.kernelWidth, g.inputPlane, g.outputPlane, g.window
    )
    let channels = filters
    let workspace = b.requiredScratch(ScratchKey.depthwisePadded, as: Float.self)
    let stride = withUnsafePointer(to: window) { cnnc_depthwise_forward_workspace_floats($0) }
    let run = { (range: Range<Int>, workspace: UnsafeMutablePointer<Float>) in
      withUnsafePointer(to: window) { window in
        cnnc_depthwise_forward(
          isa.path, window, range.count, weight + range.lowerBound * taps,
          bias.map { $0 + range.lowerBound }, relu, x + range.lowerBound * inputPlane,
          inputCount, batch, y + range.lowerBound * outputPlane, outputCount, workspace)
      }
    }
    let parts = outputRanges(channels, threads: b.threads, unit: 1)
    guard parts.count > 1 else { return { run(0..<channels, workspace) } }
    let task = TeamTask { part in run(parts[part], workspace + part * stride) }
    return { task.run(on: b.team, parts: parts.count) }
  }

  /// dW and dX image by image over the batch (the bias gradient is the caller's).
  func depthwiseBackward(_ g: WindowGeometry, _ b: LayerBinding) -> Kernel {
    let (x, weight, weightGradient) = (b.inputs[0], b.parameters[0], b.parameterGradients[0])
    let (dy, dx, accumulate) = (
      b.requiredOutputGradient, b.inputGradients[0], Int32(b.accumulate[0] ? 1 : 0)
    )
    let workspace = b.requiredScratch(ScratchKey.depthwiseBackward, as: Float.self)
    let (isa, inputCount, outputCount, batch, window) = (
      b.isa, b.inputCount, b.outputCount, b.batch, g.window
    )
    let channels = filters
    return {
      withUnsafePointer(to: window) { window in
        cnnc_depthwise_backward(
          isa.path, window, channels, weight, x, inputCount, dy, outputCount, batch,
          weightGradient, dx, accumulate, workspace)
      }
    }
  }

  /// Forward: a zero-padded plane per thread. Backward: the weight gradient's per-tap row sums
  /// and a padded plane (the input gradient reuses it).
  func depthwiseScratch(_ g: WindowGeometry) -> (forward: ScratchRequest, backward: ScratchRequest)
  {
    var window = g.window
    // The padded plane and the sums are bounded by these products (checked before C
    // multiplies them in size_t).
    let padded = checkedProduct([g.inputHeight + 2 * g.padHeight, g.inputWidth + 2 * g.padWidth])
    let sums = checkedProduct([filters, g.kernelHeight * g.kernelWidth, g.outputWidth])
    let backward = padded.flatMap { p in sums.flatMap { s in checkedSum([p, s]) } }
    return (
      ScratchRequest(
        name: ScratchKey.depthwisePadded,
        elements: padded.map { _ in cnnc_depthwise_forward_workspace_floats(&window) },
        lifetime: .forward, perThread: true),
      ScratchRequest(
        name: ScratchKey.depthwiseBackward,
        elements: backward.map { _ in
          cnnc_depthwise_backward_workspace_floats(&window, filters)
        },
        lifetime: .backward)
    )
  }
}
