// AVX2 tile of the int8 product: INT8_MR = 6 rows × 8 columns in 12 ymm accumulators. Each
// group of four k of eight columns (32 bytes of B) is widened to two vectors of 16-bit values,
// and vpmaddwd multiplies them by the row's four weights (packed as int16) and adds pairs: each
// accumulator lane holds one column's sum over two of the four k, the two halves added at the
// end. Exact: every product and pair sum fits 32 bits. Requantization takes eight sums at a
// time in 64-bit lanes, the arithmetic of cnnc_int8_requantize (AVX2 lacks a 64-bit arithmetic
// shift and 64-bit min and max: a logical shift of the value with its sign bit flipped, and
// compares).
#include "int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2")))

// Eight sums of row `row` requantized to bytes (+ 128), in the low 8 bytes.
TARGET static inline __m128i requantize(__m256i sums, size_t row,
                                        const cnnc_int8_requantization *r) {
  sums = _mm256_add_epi32(sums, _mm256_set1_epi32(r->bias[row]));
  const __m256i multiplier = _mm256_set1_epi64x(r->multiplier[row]);
  const __m128i shift = _mm_cvtsi32_si128(r->shift[row]);
  const __m256i half = _mm256_set1_epi64x((int64_t)1 << (r->shift[row] - 1));
  const __m256i low = _mm256_set1_epi64x((int64_t)r->low - r->zero_point);
  const __m256i high = _mm256_set1_epi64x((int64_t)r->high - r->zero_point);
  const __m256i sign_bit = _mm256_set1_epi64x(INT64_MIN);
  // sra(v, s) = srl(v ^ 2^63, s) − 2^(63 − s)
  const __m256i sign_shifted = _mm256_srl_epi64(sign_bit, shift);
  __m256i halves[2] = {_mm256_mul_epi32(sums, multiplier),  // even lanes, sign-extended
                       _mm256_mul_epi32(_mm256_srli_epi64(sums, 32), multiplier)};
  for (int h = 0; h < 2; h++) {
    const __m256i product = halves[h];
    const __m256i negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), product);
    __m256i value = _mm256_add_epi64(_mm256_add_epi64(product, half), negative);
    value = _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(value, sign_bit), shift),
                             sign_shifted);
    value = _mm256_blendv_epi8(value, low, _mm256_cmpgt_epi64(low, value));
    halves[h] = _mm256_blendv_epi8(value, high, _mm256_cmpgt_epi64(value, high));
  }
  __m256i values = _mm256_blend_epi32(halves[0], _mm256_slli_epi64(halves[1], 32), 0xAA);
  values = _mm256_add_epi32(values, _mm256_set1_epi32(r->zero_point + 128));  // 0 ..< 256
  // Bytes 0–3 of each 128-bit lane after the two packs hold that lane's four values.
  const __m256i words = _mm256_packus_epi32(values, values);
  const __m256i bytes = _mm256_packus_epi16(words, words);
  return _mm256_castsi256_si128(
      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)));
}

TARGET void cnnc_int8_gemm_avx2(size_t m, size_t n, size_t k, const void *packed,
                                const uint8_t *b, const cnnc_int8_requantization *r,
                                uint8_t *c, size_t row_stride, size_t column_stride,
                                size_t first, size_t tiles) {
  const size_t groups = (k + 3) / 4, columns = cnnc_int8_padded_columns(n);
  for (size_t t = first; t < first + tiles; t++) {
    const int16_t *a = (const int16_t *)packed + t * groups * INT8_MR * 4;
    const size_t rows = min_size(INT8_MR, m - t * INT8_MR);
    for (size_t j = 0; j < n; j += 8) {
      __m256i low[INT8_MR], high[INT8_MR];
      for (int i = 0; i < INT8_MR; i++) low[i] = high[i] = _mm256_setzero_si256();
      for (size_t g = 0; g < groups; g++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(b + (g * columns + j) * 4));
        const __m256i x0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));
        const __m256i x1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1));
        for (int i = 0; i < INT8_MR; i++) {
          int64_t w;
          memcpy(&w, a + (g * INT8_MR + i) * 4, 8);
          const __m256i weights = _mm256_set1_epi64x(w);
          low[i] = _mm256_add_epi32(low[i], _mm256_madd_epi16(x0, weights));
          high[i] = _mm256_add_epi32(high[i], _mm256_madd_epi16(x1, weights));
        }
      }
      const __m256i order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
      for (size_t i = 0; i < rows; i++) {
        // hadd gives columns 0 1 4 5 | 2 3 6 7; the permutation puts them in order.
        const __m256i sums = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(low[i], high[i]), order);
        const size_t row = t * INT8_MR + i, count = min_size(8, n - j);
        uint8_t lanes[16];
        _mm_storeu_si128((__m128i *)lanes, requantize(sums, row, r));
        uint8_t *to = c + row * row_stride + j * column_stride;
        if (column_stride == 1 && count == 8) {
          memcpy(to, lanes, 8);
        } else {
          for (size_t q = 0; q < count; q++) to[q * column_stride] = lanes[q];
        }
      }
    }
  }
}
#endif
