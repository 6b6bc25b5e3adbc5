// AVX-512 VNNI tile of the int8 product: INT8_MR = 6 rows × up to 64 columns of C in 24 zmm
// accumulators, one vpdpbusd per row and 16 columns for every group of four k (64 products).
// The epilogue requantizes sixteen sums at a time in 64-bit lanes, the same arithmetic as
// cnnc_int8_requantize.
#include "int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

// Sixteen sums of row `row` requantized to bytes (+ 128).
TARGET INLINE __m128i requantize(__m512i sums, size_t row, const cnnc_int8_requantization *r) {
  sums = _mm512_add_epi32(sums, _mm512_set1_epi32(r->bias[row]));
  const __m512i multiplier = _mm512_set1_epi64(r->multiplier[row]);
  const __m128i shift = _mm_cvtsi32_si128(r->shift[row]);
  const __m512i half = _mm512_set1_epi64((int64_t)1 << (r->shift[row] - 1));
  const __m512i low = _mm512_set1_epi64((int64_t)r->low - r->zero_point);
  const __m512i high = _mm512_set1_epi64((int64_t)r->high - r->zero_point);
  __m512i halves[2] = {_mm512_mul_epi32(sums, multiplier),  // even lanes, sign-extended
                       _mm512_mul_epi32(_mm512_srli_epi64(sums, 32), multiplier)};
  for (int h = 0; h < 2; h++) {
    const __m512i product = halves[h];
    __m512i value = _mm512_add_epi64(_mm512_add_epi64(product, half),
                                     _mm512_srai_epi64(product, 63));
    value = _mm512_sra_epi64(value, shift);
    halves[h] = _mm512_min_epi64(_mm512_max_epi64(value, low), high);
  }
  __m512i values = _mm512_mask_blend_epi32(0xAAAA, halves[0], _mm512_slli_epi64(halves[1], 32));
  values = _mm512_add_epi32(values, _mm512_set1_epi32(r->zero_point + 128));
  return _mm512_cvtepi32_epi8(values);
}

// One tile: rows t·6 ..< t·6 + rows, columns j ..< j + count (count ≤ 16 · VECTORS).
#define TILE(VECTORS)                                                                          \
  TARGET static void tile##VECTORS(size_t groups, const int8_t *a, const uint8_t *b,          \
                                   size_t columns, size_t rows, size_t count, size_t first_row, \
                                   const cnnc_int8_requantization *r, uint8_t *c,             \
                                   size_t row_stride, size_t column_stride) {                 \
    __m512i sums[INT8_MR][VECTORS];                                                            \
    for (int i = 0; i < INT8_MR; i++)                                                          \
      for (int v = 0; v < VECTORS; v++) sums[i][v] = _mm512_setzero_si512();                   \
    for (size_t g = 0; g < groups; g++) {                                                      \
      __m512i x[VECTORS];                                                                      \
      for (int v = 0; v < VECTORS; v++)                                                        \
        x[v] = _mm512_loadu_si512(b + (g * columns + 16 * v) * 4);                              \
      for (int i = 0; i < INT8_MR; i++) {                                                      \
        int32_t w;                                                                             \
        memcpy(&w, a + (g * INT8_MR + i) * 4, 4);                                              \
        const __m512i weights = _mm512_set1_epi32(w);                                          \
        for (int v = 0; v < VECTORS; v++)                                                      \
          sums[i][v] = _mm512_dpbusd_epi32(sums[i][v], x[v], weights);                         \
      }                                                                                        \
    }                                                                                          \
    for (size_t i = 0; i < rows; i++) {                                                        \
      for (int v = 0; v < VECTORS && 16 * (size_t)v < count; v++) {                            \
        const size_t n = min_size(16, count - 16 * v);                                         \
        const __m128i bytes = requantize(sums[i][v], first_row + i, r);                        \
        uint8_t *to = c + (first_row + i) * row_stride + 16 * v * column_stride;               \
        if (column_stride == 1) {                                                              \
          _mm_mask_storeu_epi8(to, (__mmask16)((1u << n) - 1), bytes);                          \
        } else {                                                                               \
          uint8_t lanes[16];                                                                   \
          _mm_storeu_si128((__m128i *)lanes, bytes);                                           \
          for (size_t j = 0; j < n; j++) to[j * column_stride] = lanes[j];                     \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }
TILE(1)
TILE(2)
TILE(3)
TILE(4)

TARGET void cnnc_int8_gemm_avx512(size_t m, size_t n, size_t k, const void *packed,
                                  const uint8_t *b, const cnnc_int8_requantization *r,
                                  uint8_t *c, size_t row_stride, size_t column_stride,
                                  size_t first, size_t tiles) {
  const size_t groups = (k + 3) / 4, columns = cnnc_int8_padded_columns(n);
  for (size_t t = first; t < first + tiles; t++) {
    const int8_t *a = (const int8_t *)packed + t * groups * INT8_MR * 4;
    const size_t rows = min_size(INT8_MR, m - t * INT8_MR);
    for (size_t j = 0; j < n; j += 64) {
      const size_t count = min_size(64, n - j);
      const uint8_t *bj = b + j * 4;
      uint8_t *cj = c + j * column_stride;
      const size_t first_row = t * INT8_MR;
      switch ((count + 15) / 16) {
        case 1: tile1(groups, a, bj, columns, rows, count, first_row, r, cj, row_stride, column_stride); break;
        case 2: tile2(groups, a, bj, columns, rows, count, first_row, r, cj, row_stride, column_stride); break;
        case 3: tile3(groups, a, bj, columns, rows, count, first_row, r, cj, row_stride, column_stride); break;
        default: tile4(groups, a, bj, columns, rows, count, first_row, r, cj, row_stride, column_stride); break;
      }
    }
  }
}
#endif
