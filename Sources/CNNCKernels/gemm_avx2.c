// AVX2 + FMA microkernel: up to 6 rows × 16 columns of C in 12 ymm accumulators (of 16
// registers); per step of k, two loads of B's row and one broadcast per row of A feed two FMAs
// per row. A tile with fewer rows runs a kernel compiled for exactly that many rows.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
enum { MR = 6, NR = 16 };

// `rows` is a constant in every caller, so the loops unroll and the accumulators stay in
// registers. A's panel keeps its MR stride whatever `rows` is.
TARGET static inline __attribute__((always_inline)) void tile(const int rows, size_t kc,
                                                              const float *a, const float *b,
                                                              float *c, size_t ldc,
                                                              const cnnc_epilogue *e, size_t nr) {
  const float beta = e->beta;
  __m256 left[MR], right[MR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    left[i] = _mm256_setzero_ps();
    right[i] = _mm256_setzero_ps();
  }
  for (size_t p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b);
    __m256 b1 = _mm256_loadu_ps(b + 8);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      left[i] = _mm256_fmadd_ps(ai, b0, left[i]);
      right[i] = _mm256_fmadd_ps(ai, b1, right[i]);
    }
    a += MR;
    b += NR;
  }
  if (nr == NR) {
    __m256 scale = _mm256_set1_ps(beta);
    __m256 column_left = _mm256_setzero_ps(), column_right = _mm256_setzero_ps();
    if (e->column_bias) {
      column_left = _mm256_loadu_ps(e->column_bias);
      column_right = _mm256_loadu_ps(e->column_bias + 8);
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      float *row = c + i * ldc;
      __m256 x = left[i], y = right[i];
      if (e->row_bias) {
        __m256 bias = _mm256_set1_ps(e->row_bias[i]);
        x = _mm256_add_ps(x, bias);
        y = _mm256_add_ps(y, bias);
      }
      if (e->column_bias) {
        x = _mm256_add_ps(x, column_left);
        y = _mm256_add_ps(y, column_right);
      }
      if (beta == 1.0f) {
        x = _mm256_add_ps(_mm256_loadu_ps(row), x);
        y = _mm256_add_ps(_mm256_loadu_ps(row + 8), y);
      } else if (beta != 0.0f) {
        x = _mm256_fmadd_ps(scale, _mm256_loadu_ps(row), x);
        y = _mm256_fmadd_ps(scale, _mm256_loadu_ps(row + 8), y);
      }
      if (e->relu) {
        // cnnc_relu: zero where 0 >= value (false for NaN).
        const __m256 zero = _mm256_setzero_ps();
        x = _mm256_andnot_ps(_mm256_cmp_ps(x, zero, _CMP_LE_OQ), x);
        y = _mm256_andnot_ps(_mm256_cmp_ps(y, zero, _CMP_LE_OQ), y);
      }
      _mm256_storeu_ps(row, x);
      _mm256_storeu_ps(row + 8, y);
    }
    return;
  }
  float partial[MR * NR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _mm256_storeu_ps(partial + i * NR, left[i]);
    _mm256_storeu_ps(partial + i * NR + 8, right[i]);
  }
  cnnc_store_partial(partial, NR, c, ldc, e, (size_t)rows, nr);
}

#define ROWS(R)                                                                              \
  TARGET static void kernel_##R(size_t kc, const float *a, const float *b, float *c,          \
                                size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {   \
    (void)mr;                                                                                \
    tile(R, kc, a, b, c, ldc, e, nr);                                                        \
  }
ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)

static const cnnc_microkernel by_rows[MR + 1] = {NULL,     kernel_1, kernel_2, kernel_3,
                                                 kernel_4, kernel_5, kernel_6};

static void kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                   const cnnc_epilogue *e, size_t mr, size_t nr) {
  by_rows[mr](kc, a, b, c, ldc, e, mr, nr);
}

// A rows × `cols` columns of C as dot products of A's rows with B's rows, 8 lanes at a time;
// the last k % 8 products are added one by one after the vector sum.
TARGET static inline __attribute__((always_inline)) void dot_tile(
    const int rows, const int cols, size_t k, const float *a, size_t lda, const float *b,
    size_t ldb, const cnnc_epilogue *e, float *c, size_t ldc, size_t j0) {
  __m256 acc[SMALL_M][4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) acc[i][q] = _mm256_setzero_ps();
  }
  size_t p = 0;
  for (; p + 8 <= k; p += 8) {
    __m256 bv[4];
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) bv[q] = _mm256_loadu_ps(b + q * ldb + p);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      __m256 av = _mm256_loadu_ps(a + i * lda + p);
      _Pragma("clang loop unroll(full)")
      for (int q = 0; q < cols; q++) acc[i][q] = _mm256_fmadd_ps(av, bv[q], acc[i][q]);
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) {
      float lanes[8];
      _mm256_storeu_ps(lanes, acc[i][q]);
      float sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
                  ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
      for (size_t t = p; t < k; t++) sum = __builtin_fmaf(a[i * lda + t], b[q * ldb + t], sum);
      cnnc_store_one(c + i * ldc + j0 + q, sum, e, i, j0 + q);
    }
  }
}

#define NARROW 1
#include "small_nt.h"

TARGET static double fma_loop(uint64_t iterations, float *sink) {
  __m256 acc[12];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i * 1e-3f);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (uint64_t n = 0; n < iterations; n++) {
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 total = acc[0];
  _Pragma("clang loop unroll(full)")
  for (int i = 1; i < 12; i++) total = _mm256_add_ps(total, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, total);
  *sink = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
  return (double)iterations * 12 * 8 * 2;
}

// No direct kernel: on AVX2 convolutions always pack (cnnc_gemm_path.direct is NULL).
const cnnc_gemm_path cnnc_path_avx2 = {.mr = MR,
                                       .nr = NR,
                                       .kernel = kernel,
                                       .transpose_pack = cnnc_transpose_pack_avx2,
                                       .small_nt = small_nt,
                                       .fma_loop = fma_loop};
#else
const cnnc_gemm_path cnnc_path_avx2 = {0};
#endif
