#if canImport(Accelerate)
  import Accelerate
#else
  import COpenBLAS
#endif

/// Single-precision matrix product on row-major matrices through the system BLAS:
/// C (m×n) = alpha · op(A) (m×k) · op(B) (k×n) + beta · C.
@inline(__always)
func gemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
  beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
  cblas_sgemm(
    CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The largest matrix dimension a BLAS call accepts (its integers are 32-bit).
let maximumBLASDimension = Int(Int32.max)

public enum BLAS {
  /// Sets how many threads OpenBLAS uses inside one matrix product.
  public static func setThreads(_ count: Int) {
    #if !canImport(Accelerate)
      openblas_set_num_threads(Int32(max(1, count)))
    #endif
  }
}
