// AVX-512F microkernel: up to 12 rows × 32 columns of C in 24 zmm accumulators (of 32
// registers). The kernels themselves are gemm_microkernel.h's, compiled here for AVX-512; this
// file defines the operations they use.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
enum { MR = 12, NR = 32, LANES = 16 };
#define EACH_ROW_COUNT(X) \
  X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12)
#define NARROW 2

typedef __m512 vec;
#define ZERO _mm512_setzero_ps
#define SET1 _mm512_set1_ps
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define ADD _mm512_add_ps
#define FMA _mm512_fmadd_ps

// cnnc_relu: keep where not 0 >= value (true for NaN), else zero.
TARGET static inline __attribute__((always_inline)) vec relu(vec v) {
  const __m512 zero = _mm512_setzero_ps();
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), v);
}

// Lanes past C's edge (a tile's last columns, a dot product's last k) are neither read nor
// written: loads and stores go under a mask.
#define MASKED 1
typedef __mmask16 lane_mask;
static inline lane_mask first_lanes(size_t n) {
  return n >= LANES ? 0xFFFF : (lane_mask)((1u << n) - 1);
}
#define LOAD_LANES _mm512_maskz_loadu_ps
#define STORE_LANES _mm512_mask_storeu_ps

#define sum_lanes _mm512_reduce_add_ps
#define sum_sink _mm512_reduce_add_ps

#define DIRECT 1

#include "gemm_microkernel.h"

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
