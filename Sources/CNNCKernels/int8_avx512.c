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

#if defined(__x86_64__)
// One output row of 2×2, stride-2 max pooling: out[j] = max of top and bottom's 2j, 2j + 1.
TARGET void cnnc_int8_max_pool_row_avx512(const uint8_t *top, const uint8_t *bottom,
                                          size_t count, uint8_t *out) {
  for (size_t j = 0; j < count; j += 32) {
    const size_t n = min_size(32, count - j);
    const __mmask64 load = n == 32 ? ~(__mmask64)0 : (((__mmask64)1 << (2 * n)) - 1);
    const __m512i m = _mm512_max_epu8(_mm512_maskz_loadu_epi8(load, top + 2 * j),
                                      _mm512_maskz_loadu_epi8(load, bottom + 2 * j));
    const __m512i pairs = _mm512_max_epu16(_mm512_and_si512(m, _mm512_set1_epi16(0xff)),
                                           _mm512_srli_epi16(m, 8));
    _mm256_mask_storeu_epi8(out + j, (__mmask32)(n == 32 ? 0xffffffffu : (1u << n) - 1),
                            _mm512_cvtepi16_epi8(pairs));
  }
}
#endif

#if defined(__x86_64__)
// cnnc_int8_pack_patches for stride-1 rows: sixteen output positions at a time, from one to a
// few row segments of each of a group's four patch rows (masked loads put each segment in its
// lanes), interleaved into one 64-byte store per group.
TARGET void cnnc_int8_pack_rows_avx512(const cnnc_window *window, const uint8_t *source,
                                       size_t height, size_t width, uint8_t *b) {
  const size_t out_w = window->out_w, n = window->out_h * out_w, stride_h = window->stride_h;
  const size_t kw = window->kernel_w, kh = window->kernel_h;
  const size_t k = window->channels * kh * kw, groups = (k + 3) / 4;
  const size_t columns = cnnc_int8_padded_columns(n);
  // How a patch row's start moves to the next k: the next tap, the next window row, the next
  // channel.
  const ptrdiff_t next_row = (ptrdiff_t)width - (ptrdiff_t)(kw - 1);
  const ptrdiff_t next_channel = (ptrdiff_t)(height * width) - (ptrdiff_t)((kh - 1) * width) -
                                 (ptrdiff_t)(kw - 1);
  for (size_t p0 = 0; p0 < n; p0 += 16) {
    // The chunk's row segments: each a lane mask, and where lane l reads (start − lane + l),
    // so that the segment's bytes land in its lanes.
    __mmask16 masks[16];
    ptrdiff_t from[16];
    size_t segments = 0;
    const size_t end = min_size(n, p0 + 16);
    for (size_t p = p0, oy = p0 / out_w, ox = p0 % out_w; p < end; oy++, ox = 0) {
      const size_t count = min_size(out_w - ox, end - p);
      masks[segments] = (__mmask16)(((1u << count) - 1) << (p - p0));
      from[segments] = (ptrdiff_t)(oy * stride_h * width + ox) - (ptrdiff_t)(p - p0);
      segments++;
      p += count;
    }
    const size_t filled = end - p0;
    const __mmask64 store = filled == 16 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * filled)) - 1);
    // Patch row kk starts at offset (channel, ky, kx); past k the last row repeats (its
    // weights are zero).
    size_t kx = 0, ky = 0;
    ptrdiff_t offset = 0;
    for (size_t g = 0; g < groups; g++) {
      __m128i r[4];
      for (int q = 0; q < 4; q++) {
        r[q] = _mm_setzero_si128();
        for (size_t s = 0; s < segments; s++) {
          r[q] = _mm_mask_loadu_epi8(r[q], masks[s], source + offset + from[s]);
        }
        if (4 * g + q + 1 < k) {
          if (++kx < kw) {
            offset += 1;
          } else if (kx = 0, ++ky < kh) {
            offset += next_row;
          } else {
            ky = 0;
            offset += next_channel;
          }
        }
      }
      const __m128i low01 = _mm_unpacklo_epi8(r[0], r[1]), high01 = _mm_unpackhi_epi8(r[0], r[1]);
      const __m128i low23 = _mm_unpacklo_epi8(r[2], r[3]), high23 = _mm_unpackhi_epi8(r[2], r[3]);
      __m512i all = _mm512_castsi128_si512(_mm_unpacklo_epi16(low01, low23));
      all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(low01, low23), 1);
      all = _mm512_inserti32x4(all, _mm_unpacklo_epi16(high01, high23), 2);
      all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(high01, high23), 3);
      _mm512_mask_storeu_epi8(b + (g * columns + p0) * 4, store, all);
    }
  }
}

// cnnc_int8_quantize, sixteen floats at a time: the same operations in the same order.
TARGET void cnnc_int8_quantize_avx512(const float *x, size_t count, float scale,
                                      int32_t zero_point, uint8_t *out) {
  const __m512 scales = _mm512_set1_ps(scale), zero = _mm512_set1_ps((float)zero_point);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u), one = _mm512_set1_epi32(0x3f800000);
  for (size_t i = 0; i < count; i += 16) {
    const __mmask16 mask = count - i >= 16 ? 0xffff : (__mmask16)((1u << (count - i)) - 1);
    const __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(mask, x + i), scales);
    const __m512 t = _mm512_roundscale_ps(q, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 fraction = _mm512_castsi512_ps(
        _mm512_andnot_si512(sign, _mm512_castps_si512(_mm512_sub_ps(q, t))));
    const __m512 step = _mm512_castsi512_ps(  // copysign(1, q)
        _mm512_or_si512(one, _mm512_and_si512(sign, _mm512_castps_si512(q))));
    const __mmask16 away = _mm512_cmp_ps_mask(fraction, half, _CMP_GE_OQ);
    const __m512 value = _mm512_add_ps(_mm512_mask_add_ps(t, away, t, step), zero);
    // NaN → −128; the clamp in float, then the exact conversion of an integral value.
    const __mmask16 number = _mm512_cmp_ps_mask(value, value, _CMP_ORD_Q);
    __m512 clamped = _mm512_min_ps(_mm512_max_ps(value, _mm512_set1_ps(-128.0f)),
                                   _mm512_set1_ps(127.0f));
    clamped = _mm512_mask_blend_ps(number, _mm512_set1_ps(-128.0f), clamped);
    const __m512i bytes = _mm512_add_epi32(_mm512_cvttps_epi32(clamped), _mm512_set1_epi32(128));
    _mm_mask_storeu_epi8(out + i, mask, _mm512_cvtepi32_epi8(bytes));
  }
}
#endif
