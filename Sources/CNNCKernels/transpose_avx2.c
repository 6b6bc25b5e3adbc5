// The transposing copy that packing needs when a matrix's rows run along k (a non-transposed
// A, a transposed B: a dense layer's weights, a conv's columns in backward), in 8×8 blocks
// through AVX registers and 4×4 blocks through SSE ones instead of one float at a time.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2")))

// The most rows a panel has (every path's MR and NR are at most this).
enum { NR_LIMIT = 32 };

TARGET static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
  }
}

// out[p·width + r] = rows[r][p] for r < count and p < kc; rows count..width are zeros.
TARGET void cnnc_gather_pack_avx2(const float *const *rows, size_t count, size_t kc, size_t width,
                                  float *out) {
  size_t r = 0;
  for (; r + 8 <= count; r += 8) {
    size_t p = 0;
    for (; p + 8 <= kc; p += 8) {
      __m256 block[8];
      for (int i = 0; i < 8; i++) block[i] = _mm256_loadu_ps(rows[r + i] + p);
      transpose8(block);
      for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + (p + i) * width + r, block[i]);
    }
    for (; p < kc; p++) {
      for (size_t i = 0; i < 8; i++) out[p * width + r + i] = rows[r + i][p];
    }
  }
  for (; r + 4 <= count; r += 4) {
    size_t p = 0;
    for (; p + 4 <= kc; p += 4) {
      __m128 a = _mm_loadu_ps(rows[r] + p), b = _mm_loadu_ps(rows[r + 1] + p);
      __m128 c = _mm_loadu_ps(rows[r + 2] + p), d = _mm_loadu_ps(rows[r + 3] + p);
      _MM_TRANSPOSE4_PS(a, b, c, d);
      _mm_storeu_ps(out + p * width + r, a);
      _mm_storeu_ps(out + (p + 1) * width + r, b);
      _mm_storeu_ps(out + (p + 2) * width + r, c);
      _mm_storeu_ps(out + (p + 3) * width + r, d);
    }
    for (; p < kc; p++) {
      for (size_t i = 0; i < 4; i++) out[p * width + r + i] = rows[r + i][p];
    }
  }
  for (; r < count; r++) {
    for (size_t p = 0; p < kc; p++) out[p * width + r] = rows[r][p];
  }
  for (size_t p = 0; p < kc; p++) {
    for (size_t i = count; i < width; i++) out[p * width + i] = 0;
  }
}

// out[p·width + r] = source[r·ld + p] for r < count and p < kc; rows count..width are zeros.
TARGET void cnnc_transpose_pack_avx2(const float *source, size_t ld, size_t count, size_t kc,
                                     size_t width, float *out) {
  const float *rows[NR_LIMIT];
  for (size_t r = 0; r < count; r++) rows[r] = source + r * ld;
  cnnc_gather_pack_avx2(rows, count, kc, width, out);
}
#endif
