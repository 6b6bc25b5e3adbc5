import CNNCKernels

/// The instruction-set path cnnc's kernels run on, chosen by CPU features when a plan is made.
public enum KernelISA: String, Sendable, CaseIterable {
  /// Plain C that the compiler vectorises for the build's baseline; every CPU has it.
  case portable
  /// AVX2 with FMA (x86-64 since Haswell and Zen).
  case avx2
  /// AVX-512F (Intel since Skylake-SP, AMD since Zen 4).
  case avx512

  var path: cnnc_isa {
    switch self {
    case .portable: CNNC_ISA_PORTABLE
    case .avx2: CNNC_ISA_AVX2
    case .avx512: CNNC_ISA_AVX512
    }
  }

  /// Whether this CPU and its operating system run the path.
  public var isSupported: Bool { cnnc_isa_supported(path) != 0 }

  /// Every path this machine runs, in the order declared: lowest first.
  public static var supported: [KernelISA] { allCases.filter(\.isSupported) }

  /// The fastest path this machine runs.
  public static var best: KernelISA { supported.last ?? .portable }

  /// The path a new plan uses: `CNNC_ISA` (portable, avx2 or avx512) when it is set, which may
  /// only ask for a path this CPU has, else the best one.
  public static func fromEnvironment(_ environment: [String: String]) throws(PlanError)
    -> KernelISA
  {
    guard let name = environment["CNNC_ISA"], !name.isEmpty else { return best }
    guard let isa = KernelISA(rawValue: name) else {
      throw PlanError(
        message: "CNNC_ISA=\(name) is not a kernel path; use one of "
          + allCases.map(\.rawValue).joined(separator: ", "))
    }
    try isa.checkSupported(asked: "CNNC_ISA=\(name)")
    return isa
  }

  func checkSupported(asked: String) throws(PlanError) {
    guard isSupported else {
      throw PlanError(
        message: "\(asked): this CPU lacks the \(rawValue) instructions; it runs "
          + KernelISA.supported.map(\.rawValue).joined(separator: ", "))
    }
  }
}

/// Floats of packing workspace `gemm` needs for an m×n×k product on any path.
func gemmWorkspaceFloats(m: Int, n: Int, k: Int) -> Int {
  cnnc_gemm_workspace_floats(m, n, k)
}

/// Workspace for `convolutionForward` over a whole plane of outputs: the direct path (stride 1,
/// few filters) may need more than the implicit GEMM's packing.
func convolutionWorkspaceFloats(_ window: cnnc_window, filters: Int) -> Int? {
  let patch = window.channels * window.kernel_h * window.kernel_w
  guard gemmWorkspaceFloats([(filters, window.out_h * window.out_w, patch)]) != nil else {
    return nil
  }
  return withUnsafePointer(to: window) { cnnc_conv_workspace_floats($0, filters) }
}

/// The largest workspace among several products, as a scratch request's element count.
func gemmWorkspaceFloats(_ products: [(m: Int, n: Int, k: Int)]) -> Int? {
  var largest = 0
  for (m, n, k) in products {
    // Inputs beyond this never reach a kernel: the planner refuses such buffers first.
    guard let size = checkedProduct([m, n]), checkedProduct([size, k]) != nil else { return nil }
    largest = max(largest, gemmWorkspaceFloats(m: m, n: n, k: k))
  }
  return largest
}

/// Single-precision matrix product on row-major matrices with cnnc's own kernels:
/// C (m×n) = op(A) (m×k) · op(B) (k×n) + beta · C. With beta 0, C is only written.
/// `workspace` holds `gemmWorkspaceFloats(m:n:k:)` floats; nothing is allocated.
@inline(__always)
func gemm(
  _ isa: KernelISA, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, workspace: UnsafeMutablePointer<Float>
) {
  cnnc_sgemm(
    isa.path, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, beta, c, ldc,
    workspace)
}

/// C (m×n) = op(A) · op(B) + a bias per column of C (a dense layer's forward); C is only
/// written.
@inline(__always)
func gemm(
  _ isa: KernelISA, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  columnBias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
  workspace: UnsafeMutablePointer<Float>
) {
  cnnc_sgemm_bias(
    isa.path, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, nil, columnBias, c,
    ldc, workspace)
}

/// The machine's FMA peak on one core, measured by a register-only FMA loop on `isa`.
public func measuredFMAPeakGFLOPS(_ isa: KernelISA, seconds: Double = 0.2) -> Double {
  var sink: Float = 0
  var iterations: UInt64 = 1 << 16
  while true {
    let start = monotonicNanoseconds()
    let flops = cnnc_fma_peak_loop(isa.path, iterations, &sink)
    let elapsed = Double(monotonicNanoseconds() - start) / 1e9
    if elapsed >= seconds { return flops / elapsed / 1e9 }
    iterations *= 2
  }
}

/// Floats `packA` writes for an m×k op(A), on any path.
func packedAFloats(m: Int, k: Int) -> Int? {
  guard checkedProduct([m + CNNC_MR_BOUND, k]) != nil else { return nil }
  return cnnc_packed_a_floats(m, k)
}

/// Packs op(A) (m×k) once for several products that share it (a layer's weights across the
/// samples of a batch); `gemm(_:packedA:...)` reads it.
@inline(__always)
func packA(
  _ isa: KernelISA, transpose: Bool, m: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
  into packed: UnsafeMutablePointer<Float>
) {
  cnnc_pack_a(isa.path, transpose ? 1 : 0, m, k, a, lda, packed)
}

/// C (m×n) = A (packed by `packA`) · op(B) (k×n) + beta · C.
@inline(__always)
func gemm(
  _ isa: KernelISA, packedA: UnsafePointer<Float>, transposeB: Bool, m: Int, n: Int, k: Int,
  b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
  workspace: UnsafeMutablePointer<Float>
) {
  cnnc_sgemm_packed_a(
    isa.path, m, n, k, packedA, transposeB ? 1 : 0, b, ldb, beta, c, ldc, workspace)
}

/// Convolution forward of one image as an implicit GEMM: out (F × oh·ow) = W · im2col(image) +
/// bias (one per filter, if any), then max(·, 0) with `relu`, with W packed by `packA`; the
/// columns go straight from the image into the microkernel's panels. `workspace` holds `gemmWorkspaceFloats(m: F, n: oh·ow, k: patch)`.
@inline(__always)
func convolutionForward(
  _ isa: KernelISA, _ window: cnnc_window, filters: Int,
  packedWeights: UnsafePointer<Float>, image: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
  relu: Bool = false, outputs: Range<Int>, output: UnsafeMutablePointer<Float>,
  workspace: UnsafeMutablePointer<Float>
) {
  withUnsafePointer(to: window) {
    cnnc_conv_forward(
      isa.path, $0, filters, packedWeights, image, bias, relu ? 1 : 0, outputs.lowerBound,
      outputs.count, output, workspace)
  }
}

/// `count` split into `threads` consecutive ranges in whole multiples of `unit` (by default
/// the widest microkernel tile, CNNC_NR_BOUND), so that no tile straddles two threads; fewer ranges when
/// there is less.
func outputRanges(_ count: Int, threads: Int, unit: Int = CNNC_NR_BOUND) -> [Range<Int>] {
  guard threads > 1 else { return [0..<count] }
  let units = (count + unit - 1) / unit
  let perThread = max(1, (units + threads - 1) / threads) * unit
  return stride(from: 0, to: count, by: perThread).map { $0..<min($0 + perThread, count) }
}
