// AVX-512F microkernel: up to 12 rows × 32 columns of C in 24 zmm accumulators (of 32
// registers); per step of k, two loads of B's row and one broadcast per row of A feed two FMAs
// per row. A tile with fewer rows (the bottom edge of C) runs a kernel compiled for exactly
// that many rows instead of computing padding; fewer columns are stored under a mask.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
enum { MR = 12, NR = 32 };

// Stores an accumulated tile (rows × nr of C) with the epilogue: biases, then beta · C.
TARGET static inline __attribute__((always_inline)) void store_tile(const int rows,
                                                                    const __m512 *left,
                                                                    const __m512 *right, float *c,
                                                                    size_t ldc,
                                                                    const cnnc_epilogue *e,
                                                                    size_t nr) {
  const float beta = e->beta;
  // Columns past nr are neither read nor written.
  __mmask16 left_mask = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
  __mmask16 right_mask = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
  __m512 scale = _mm512_set1_ps(beta);
  __m512 column_left = _mm512_setzero_ps(), column_right = _mm512_setzero_ps();
  if (e->column_bias) {
    column_left = _mm512_maskz_loadu_ps(left_mask, e->column_bias);
    column_right = _mm512_maskz_loadu_ps(right_mask, e->column_bias + 16);
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    float *row = c + i * ldc;
    __m512 x = left[i], y = right[i];
    if (e->row_bias) {
      __m512 bias = _mm512_set1_ps(e->row_bias[i]);
      x = _mm512_add_ps(x, bias);
      y = _mm512_add_ps(y, bias);
    }
    if (e->column_bias) {
      x = _mm512_add_ps(x, column_left);
      y = _mm512_add_ps(y, column_right);
    }
    if (beta == 1.0f) {
      x = _mm512_add_ps(_mm512_maskz_loadu_ps(left_mask, row), x);
      y = _mm512_add_ps(_mm512_maskz_loadu_ps(right_mask, row + 16), y);
    } else if (beta != 0.0f) {
      x = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(left_mask, row), x);
      y = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(right_mask, row + 16), y);
    }
    if (e->relu) {
      // cnnc_relu: keep where not 0 >= value (true for NaN), else zero.
      const __m512 zero = _mm512_setzero_ps();
      x = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero, _CMP_NLE_UQ), x);
      y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, zero, _CMP_NLE_UQ), y);
    }
    _mm512_mask_storeu_ps(row, left_mask, x);
    _mm512_mask_storeu_ps(row + 16, right_mask, y);
  }
}

// `rows` is a constant in every caller, so the loops unroll and the accumulators stay in
// registers. A's panel keeps its MR stride whatever `rows` is. B's row p is at b + p·NR
// (packed), or, with `offsets`, at b + offsets[p] (direct convolution: a row of the image).
TARGET static inline __attribute__((always_inline)) void tile(const int rows, size_t kc,
                                                              const float *a, const float *b,
                                                              const int32_t *offsets, float *c,
                                                              size_t ldc, const cnnc_epilogue *e,
                                                              size_t nr) {
  __m512 left[MR], right[MR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    left[i] = _mm512_setzero_ps();
    right[i] = _mm512_setzero_ps();
  }
  for (size_t p = 0; p < kc; p++) {
    const float *row = offsets ? b + offsets[p] : b + p * NR;
    // The direct path's next tile (32 columns on) reads these rows' next lines.
    if (offsets) _mm_prefetch((const char *)(row + 2 * NR), _MM_HINT_T0);
    __m512 b0 = _mm512_loadu_ps(row);
    __m512 b1 = _mm512_loadu_ps(row + 16);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
      left[i] = _mm512_fmadd_ps(ai, b0, left[i]);
      right[i] = _mm512_fmadd_ps(ai, b1, right[i]);
    }
    a += MR;
  }
  store_tile(rows, left, right, c, ldc, e, nr);
}

// `offsets` is a constant NULL in kernel_R and never NULL in direct_R, so each compiles to
// one loop without a branch.
#define ROWS(R)                                                                              \
  TARGET static void kernel_##R(size_t kc, const float *a, const float *b, float *c,          \
                                size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {   \
    (void)mr;                                                                                \
    tile(R, kc, a, b, NULL, c, ldc, e, nr);                                                  \
  }                                                                                          \
  TARGET static void direct_##R(size_t kc, const float *a, const float *b,                   \
                                const int32_t *offsets, float *c, size_t ldc,                \
                                const cnnc_epilogue *e, size_t nr) {                         \
    tile(R, kc, a, b, offsets, c, ldc, e, nr);                                               \
  }
ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8) ROWS(9) ROWS(10) ROWS(11)
ROWS(12)

static const cnnc_microkernel by_rows[MR + 1] = {
    NULL,      kernel_1, kernel_2, kernel_3,  kernel_4,  kernel_5, kernel_6,
    kernel_7,  kernel_8, kernel_9, kernel_10, kernel_11, kernel_12};

static void kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                   const cnnc_epilogue *e, size_t mr, size_t nr) {
  by_rows[mr](kc, a, b, c, ldc, e, mr, nr);
}

typedef void (*direct_rows)(size_t kc, const float *a, const float *b, const int32_t *offsets,
                            float *c, size_t ldc, const cnnc_epilogue *e, size_t nr);
static const direct_rows direct_by_rows[MR + 1] = {
    NULL,      direct_1, direct_2, direct_3,  direct_4,  direct_5, direct_6,
    direct_7,  direct_8, direct_9, direct_10, direct_11, direct_12};

static void direct(size_t kc, const float *a, const float *b, const int32_t *offsets, float *c,
                   size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {
  direct_by_rows[mr](kc, a, b, offsets, c, ldc, e, nr);
}

// A rows × `cols` columns of C as dot products of A's rows with B's rows, 16 lanes at a time;
// the last partial vector of k under a mask.
TARGET static inline __attribute__((always_inline)) void dot_tile(
    const int rows, const int cols, size_t k, const float *a, size_t lda, const float *b,
    size_t ldb, const cnnc_epilogue *e, float *c, size_t ldc, size_t j0) {
  __m512 acc[SMALL_M][4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) acc[i][q] = _mm512_setzero_ps();
  }
  for (size_t p = 0; p < k; p += 16) {
    __mmask16 mask = k - p >= 16 ? 0xFFFF : (__mmask16)((1u << (k - p)) - 1);
    __m512 bv[4];
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) bv[q] = _mm512_maskz_loadu_ps(mask, b + q * ldb + p);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      __m512 av = _mm512_maskz_loadu_ps(mask, a + i * lda + p);
      _Pragma("clang loop unroll(full)")
      for (int q = 0; q < cols; q++) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) {
      cnnc_store_one(c + i * ldc + j0 + q, _mm512_reduce_add_ps(acc[i][q]), e, i, j0 + q);
    }
  }
}

#define NARROW 2
#include "small_nt.h"

TARGET static double fma_loop(uint64_t iterations, float *sink) {
  __m512 acc[24];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (uint64_t n = 0; n < iterations; n++) {
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 total = acc[0];
  _Pragma("clang loop unroll(full)")
  for (int i = 1; i < 24; i++) total = _mm512_add_ps(total, acc[i]);
  *sink = _mm512_reduce_add_ps(total);
  return (double)iterations * 24 * 16 * 2;
}

const cnnc_gemm_path cnnc_path_avx512 = {.mr = MR,
                                         .nr = NR,
                                         .kernel = kernel,
                                         .transpose_pack = cnnc_transpose_pack_avx2,
                                         .small_nt = small_nt,
                                         .fma_loop = fma_loop,
                                         .direct = direct};
#else
// Not an x86 CPU: never chosen (cnnc_isa_supported says no); the portable path stands in.
const cnnc_gemm_path cnnc_path_avx512 = {0};
#endif
