// AVX2 + FMA microkernel: a 6×16 tile of C in 12 ymm accumulators (of 16 registers); per step
// of k, two loads of B's row and 6 broadcasts of A's column feed 12 FMAs.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
enum { MR = 6, NR = 16 };

TARGET static void kernel_6x16(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                               float beta, size_t mr, size_t nr) {
  __m256 left[MR], right[MR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < MR; i++) {
    left[i] = _mm256_setzero_ps();
    right[i] = _mm256_setzero_ps();
  }
  for (size_t p = 0; p < kc; p++) {
    __m256 b0 = _mm256_loadu_ps(b);
    __m256 b1 = _mm256_loadu_ps(b + 8);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) {
      __m256 ai = _mm256_broadcast_ss(a + i);
      left[i] = _mm256_fmadd_ps(ai, b0, left[i]);
      right[i] = _mm256_fmadd_ps(ai, b1, right[i]);
    }
    a += MR;
    b += NR;
  }
  if (mr == MR && nr == NR) {
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < MR; i++) {
      float *row = c + i * ldc;
      if (beta == 0.0f) {
        _mm256_storeu_ps(row, left[i]);
        _mm256_storeu_ps(row + 8, right[i]);
      } else if (beta == 1.0f) {
        _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), left[i]));
        _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), right[i]));
      } else {
        __m256 scale = _mm256_set1_ps(beta);
        _mm256_storeu_ps(row, _mm256_fmadd_ps(scale, _mm256_loadu_ps(row), left[i]));
        _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(scale, _mm256_loadu_ps(row + 8), right[i]));
      }
    }
    return;
  }
  float tile[MR * NR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < MR; i++) {
    _mm256_storeu_ps(tile + i * NR, left[i]);
    _mm256_storeu_ps(tile + i * NR + 8, right[i]);
  }
  cnnc_store_partial(tile, NR, c, ldc, beta, mr, nr);
}

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
  for (int i = 1; i < 12; i++) total = _mm256_add_ps(total, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, total);
  *sink = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
  return (double)iterations * 12 * 8 * 2;
}

const cnnc_gemm_path cnnc_path_avx2 = {MR, NR, kernel_6x16, fma_loop};
#else
const cnnc_gemm_path cnnc_path_avx2 = {0};
#endif
