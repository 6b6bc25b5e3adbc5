// AVX2 tile of the int8 product: INT8_MR = 6 rows × 8 columns in 12 ymm accumulators. Each
// group of four k of eight columns (32 bytes of B) is widened to two vectors of 16-bit values,
// and vpmaddwd multiplies them by the row's four weights (packed as int16) and adds pairs: each
// accumulator lane holds one column's sum over two of the four k, the two halves added at the
// end. Exact: every product and pair sum fits 32 bits. Requantization is scalar
// (cnnc_int8_requantize): AVX2 has no 64-bit arithmetic shift.
#include "int8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2")))

TARGET void cnnc_int8_gemm_avx2(size_t m, size_t n, size_t k, const void *packed,
                                const uint8_t *b, const cnnc_int8_requantization *r,
                                void *c, size_t row_stride, size_t column_stride,
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
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, sums);
        const size_t row = t * INT8_MR + i;
        cnnc_int8_store_row(lanes, min_size(8, n - j), row, r, c,
                            row * row_stride + j * column_stride, column_stride);
      }
    }
  }
}
#endif
