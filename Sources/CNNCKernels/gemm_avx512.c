// AVX-512F microkernel: a 12×32 tile of C in 24 zmm accumulators (of 32 registers); per step
// of k, two loads of B's row and 12 broadcasts of A's column feed 24 FMAs.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))
enum { MR = 12, NR = 32 };

TARGET static void kernel_12x32(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                                float beta, size_t mr, size_t nr) {
  __m512 left[MR], right[MR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < MR; i++) {
    left[i] = _mm512_setzero_ps();
    right[i] = _mm512_setzero_ps();
  }
  for (size_t p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(b);
    __m512 b1 = _mm512_loadu_ps(b + 16);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) {
      __m512 ai = _mm512_set1_ps(a[i]);
      left[i] = _mm512_fmadd_ps(ai, b0, left[i]);
      right[i] = _mm512_fmadd_ps(ai, b1, right[i]);
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR) {
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) {
      float *row = c + i * ldc;
      if (beta == 0.0f) {
        _mm512_storeu_ps(row, left[i]);
        _mm512_storeu_ps(row + 16, right[i]);
      } else if (beta == 1.0f) {
        _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), left[i]));
        _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), right[i]));
      } else {
        __m512 scale = _mm512_set1_ps(beta);
        _mm512_storeu_ps(row, _mm512_fmadd_ps(scale, _mm512_loadu_ps(row), left[i]));
        _mm512_storeu_ps(row + 16, _mm512_fmadd_ps(scale, _mm512_loadu_ps(row + 16), right[i]));
      }
    }
    return;
  }
  float tile[MR * NR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < MR; i++) {
    _mm512_storeu_ps(tile + i * NR, left[i]);
    _mm512_storeu_ps(tile + i * NR + 16, right[i]);
  }
  cnnc_store_partial(tile, NR, c, ldc, beta, mr, nr);
}

// 24 independent accumulators: enough to cover FMA latency × throughput on current cores.
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
  for (int i = 1; i < 24; i++) total = _mm512_add_ps(total, acc[i]);
  *sink = _mm512_reduce_add_ps(total);
  return (double)iterations * 24 * 16 * 2;
}

const cnnc_gemm_path cnnc_path_avx512 = {MR, NR, kernel_12x32, fma_loop};
#else
// Not an x86 CPU: never chosen (cnnc_isa_supported says no); the portable path stands in.
const cnnc_gemm_path cnnc_path_avx512 = {0};
#endif
