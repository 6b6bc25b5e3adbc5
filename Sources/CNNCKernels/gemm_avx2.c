// AVX2 + FMA microkernel: up to 6 rows × 16 columns of C in 12 ymm accumulators (of 16
// registers). The kernels themselves are gemm_microkernel.h's, compiled here for AVX2; this file
// defines the operations they use.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
enum { MR = 6, NR = 16, LANES = 8 };
#define EACH_ROW_COUNT(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define NARROW 1

typedef __m256 vec;
#define ZERO _mm256_setzero_ps
#define SET1 _mm256_set1_ps
#define LOAD _mm256_loadu_ps
#define STORE _mm256_storeu_ps
#define ADD _mm256_add_ps
#define FMA _mm256_fmadd_ps

// cnnc_relu: zero where 0 >= value (false for NaN).
TARGET static inline __attribute__((always_inline)) vec relu(vec v) {
  const __m256 zero = _mm256_setzero_ps();
  return _mm256_andnot_ps(_mm256_cmp_ps(v, zero, _CMP_LE_OQ), v);
}

// Whole vectors only: a tile narrower than NR goes through a buffer (cnnc_store_partial), and
// a dot product adds its last k % 8 products one by one, so the masks below are never used.
#define MASKED 0
typedef int lane_mask;
#define first_lanes(n) 0
#define LOAD_LANES(mask, p) ((void)(mask), LOAD(p))
#define STORE_LANES(p, mask, v) ((void)(mask), STORE(p, v))

// A dot product's 8 lanes, in this order (its results depend on it).
TARGET static inline __attribute__((always_inline)) float sum_lanes(vec v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
         ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

// fma_loop's sink only keeps the loop from being optimised away; its sum keeps the order it had.
TARGET static inline __attribute__((always_inline)) float sum_sink(vec v) {
  float lanes[8];
  _mm256_storeu_ps(lanes, v);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

// No direct kernel: on AVX2 convolutions always pack (cnnc_gemm_path.direct is NULL).
#define DIRECT 0

#include "gemm_microkernel.h"

const cnnc_gemm_path cnnc_path_avx2 = {.mr = MR,
                                       .nr = NR,
                                       .kernel = kernel,
                                       .transpose_pack = cnnc_transpose_pack_avx2,
                                       .small_nt = small_nt,
                                       .fma_loop = fma_loop};
#else
const cnnc_gemm_path cnnc_path_avx2 = {0};
#endif
