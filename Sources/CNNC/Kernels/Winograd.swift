import CNNCKernels

/// Convolution by Winograd's F(4×4, 3×3), F(2×2, 3×3) or F(2×2, 5×5) (see `winograd.c`): a
/// forward pass, or in training the input gradient of a stride-1 layer (itself a convolution).
/// Taken for stride-1 3×3 and 5×5 windows with at least 16 channels and 16 filters, and only
/// when a batch's tiles cover at least 1,024 outputs: the weights are transformed on every call,
/// which a batch-1 LeNet (16 tiles of 2×2) does not earn back.
/// `Benchmarks/scripts/winograd-thresholds.sh` measures both rules (3×3 with 16–64 channels
/// 1.02–2.05× the direct or GEMM path; ResNet-20: see docs/kernels.md).
/// Its results differ from the GEMM's by rounding, and are the same on every run.
struct WinogradConvolution {
  let window: cnnc_window
  let filters: Int

  /// nil when the window does not qualify.
  init?(_ window: cnnc_window, filters: Int, batch: Int) {
    let applies = withUnsafePointer(to: window) { cnnc_winograd_applies($0, filters) != 0 }
    guard applies, window.channels >= 16, filters >= 16 else { return nil }
    self.window = window
    self.filters = filters
    let side = withUnsafePointer(to: window) { cnnc_winograd_tile_side($0) }
    guard batch * tiles * side * side >= 1024 else { return nil }
  }

  /// Output tiles (4×4 or 2×2, `cnnc_winograd_tile_side`) of one image.
  var tiles: Int { withUnsafePointer(to: window) { cnnc_winograd_tiles($0) } }

  /// Floats of transformed, packed weights; nil if they would overflow.
  var weightFloats: Int? {
    guard let packed = packedAFloats(m: filters, k: window.channels),
      checkedProduct([packed, CNNC_WINOGRAD_MAX_POSITIONS]) != nil
    else { return nil }
    return withUnsafePointer(to: window) { cnnc_winograd_weights_floats($0, filters) }
  }

  /// Floats of one thread's workspace.
  var workspaceFloats: Int {
    withUnsafePointer(to: window) { cnnc_winograd_workspace_floats($0, filters) }
  }

  /// Tile ranges for `threads` threads sharing `count` tiles, in whole blocks.
  func tileRanges(_ count: Int, threads: Int) -> [Range<Int>] {
    outputRanges(count, threads: threads, unit: cnnc_winograd_block_tiles())
  }

  func packWeights(
    _ isa: KernelISA, _ weights: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>
  ) {
    withUnsafePointer(to: window) {
      cnnc_winograd_pack_weights(isa.path, $0, filters, weights, packed)
    }
  }

  /// Tiles numbered across the images at `images` (image n at n·imageStride), outputs likewise;
  /// added to the outputs' values with `accumulate`; max(·, 0) last with `relu`.
  func forward(
    _ isa: KernelISA, packedWeights: UnsafePointer<Float>, images: UnsafePointer<Float>,
    imageStride: Int, bias: UnsafePointer<Float>?, tiles: Range<Int>,
    output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool = false,
    relu: Bool = false, workspace: UnsafeMutablePointer<Float>
  ) {
    withUnsafePointer(to: window) {
      cnnc_winograd_forward(
        isa.path, $0, filters, packedWeights, images, imageStride, bias, tiles.lowerBound,
        tiles.count, output, outputStride, accumulate ? 1 : 0, relu ? 1 : 0, workspace)
    }
  }
}
