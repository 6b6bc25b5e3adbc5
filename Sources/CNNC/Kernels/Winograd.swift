import CNNCKernels

/// Convolution forward by Winograd's F(2×2, 3×3) (see `winograd.c`): taken for 3×3 stride-1
/// windows with at least 64 channels and 64 filters, where it measured faster than the
/// implicit GEMM (VGG-16, AlexNet's conv3–5).
struct WinogradConvolution {
  let window: cnnc_window
  let filters: Int

  /// nil when the window does not qualify.
  init?(_ window: cnnc_window, filters: Int) {
    let applies = withUnsafePointer(to: window) { cnnc_winograd_applies($0, filters) != 0 }
    guard applies else { return nil }
    self.window = window
    self.filters = filters
  }

  /// Output tiles (2×2) of one image.
  var tiles: Int { withUnsafePointer(to: window) { cnnc_winograd_tiles($0) } }

  /// Floats of transformed, packed weights; nil if they would overflow.
  var weightFloats: Int? {
    guard packedAFloats(m: filters, k: window.channels) != nil else { return nil }
    let floats = cnnc_winograd_weights_floats(window.channels, filters)
    return floats <= Int.max / 2 ? floats : nil
  }

  /// Floats of one thread's workspace.
  var workspaceFloats: Int {
    withUnsafePointer(to: window) { cnnc_winograd_workspace_floats($0, filters) }
  }

  /// Tile ranges for `threads` threads sharing one image, in whole blocks.
  func tileRanges(threads: Int) -> [Range<Int>] {
    let block = cnnc_winograd_block_tiles()
    let blocks = (tiles + block - 1) / block
    let perThread = max(1, (blocks + threads - 1) / max(threads, 1)) * block
    return stride(from: 0, to: tiles, by: perThread).map { $0..<min($0 + perThread, tiles) }
  }

  func packWeights(
    _ isa: KernelISA, _ weights: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>
  ) {
    cnnc_winograd_pack_weights(isa.path, window.channels, filters, weights, packed)
  }

  func forward(
    _ isa: KernelISA, packedWeights: UnsafePointer<Float>, image: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, tiles: Range<Int>, output: UnsafeMutablePointer<Float>,
    workspace: UnsafeMutablePointer<Float>
  ) {
    withUnsafePointer(to: window) {
      cnnc_winograd_forward(
        isa.path, $0, filters, packedWeights, image, bias, tiles.lowerBound, tiles.count, output,
        workspace)
    }
  }
}
