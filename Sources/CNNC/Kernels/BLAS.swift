#if canImport(Accelerate)
  import Accelerate
#else
  import COpenBLAS
#endif

/// Single-precision matrix product on row-major matrices through the system BLAS:
/// C (m×n) = alpha · op(A) (m×k) · op(B) (k×n) + beta · C.
///
/// OpenBLAS 0.3.21's small-matrix kernel for untransposed products on AVX-512 machines
/// (`sgemm_small_kernel_nn`, taken when m·n·k ≤ 10⁶) calls malloc on every product whose n is
/// not a multiple of 16 (measured here; the other three orientations do not). A plan's step
/// must not allocate, so such a product is split: the first multiple of 16 columns in one
/// sgemm, and each of the last few columns as a matrix-vector product.
func gemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  #if !canImport(Accelerate)
    if !transposeA, !transposeB, n % 16 != 0, m * n <= 1_000_000 / max(k, 1) {
      let wide = n - n % 16
      if wide > 0 {
        sgemm(false, false, m, wide, k, alpha, a, lda, b, ldb, beta, c, ldc)
      }
      for column in wide..<n {
        cblas_sgemv(
          CblasRowMajor, CblasNoTrans, Int32(m), Int32(k), alpha, a, Int32(lda), b + column,
          Int32(ldb), beta, c + column, Int32(ldc))
      }
      return
    }
  #endif
  sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

@inline(__always)
private func sgemm(
  _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
  _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
  _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
  cblas_sgemm(
    CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

public enum BLAS {
  /// Sets how many threads OpenBLAS uses inside one matrix product.
  public static func setThreads(_ count: Int) {
    #if !canImport(Accelerate)
      openblas_set_num_threads(Int32(max(1, count)))
    #endif
  }
}
