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
  __m128i bytes = _mm512_cvtepi32_epi8(values);
  // Keeps the narrowing in a register: folded into a masked store it becomes vpmovdb to
  // memory, which AMD's Zen 4 and 5 run many times slower than vpmovdb and a masked vmovdqu8.
  __asm__("" : "+v"(bytes));
  return bytes;
}

// sums[i][v] += the products of tile rows i and columns 16v ..< 16v + 16 over every group.
TARGET INLINE void accumulate(int vectors, size_t groups, const int8_t *a, const uint8_t *b,
                              size_t columns, __m512i sums[INT8_MR][4]) {
  for (int i = 0; i < INT8_MR; i++)
    for (int v = 0; v < vectors; v++) sums[i][v] = _mm512_setzero_si512();
  for (size_t g = 0; g < groups; g++) {
    __m512i x[4];
    for (int v = 0; v < vectors; v++) x[v] = _mm512_loadu_si512(b + (g * columns + 16 * v) * 4);
    for (int i = 0; i < INT8_MR; i++) {
      int32_t w;
      memcpy(&w, a + (g * INT8_MR + i) * 4, 4);
      const __m512i weights = _mm512_set1_epi32(w);
      for (int v = 0; v < vectors; v++)
        sums[i][v] = _mm512_dpbusd_epi32(sums[i][v], x[v], weights);
    }
  }
}

// One tile: rows t·6 ..< t·6 + rows, columns j ..< j + count (count ≤ 16 · VECTORS).
#define TILE(VECTORS)                                                                          \
  TARGET static void tile##VECTORS(size_t groups, const int8_t *a, const uint8_t *b,          \
                                   size_t columns, size_t rows, size_t count, size_t first_row, \
                                   const cnnc_int8_requantization *r, uint8_t *c,             \
                                   size_t row_stride, size_t column_stride) {                 \
    __m512i sums[INT8_MR][4];                                                                  \
    accumulate(VECTORS, groups, a, b, columns, sums);                                          \
    for (size_t i = 0; i < rows; i++) {                                                        \
      for (int v = 0; v < VECTORS && 16 * (size_t)v < count; v++) {                            \
        const size_t n = min_size(16, count - 16 * v);                                         \
        const size_t first = (first_row + i) * row_stride + 16 * v * column_stride;            \
        const __m128i bytes = requantize(sums[i][v], first_row + i, r);                        \
        uint8_t *to = c + first;                                                               \
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

TARGET void cnnc_int8_gemm_pooled_avx512(size_t m, size_t windows, size_t k, const void *packed,
                                         const uint8_t *b, const cnnc_int8_requantization *r,
                                         uint8_t *y) {
  const size_t groups = (k + 3) / 4, chunks = (windows + 15) / 16, columns = 64 * chunks;
  for (size_t t = 0; t < cnnc_int8_row_tiles(m); t++) {
    const int8_t *a = (const int8_t *)packed + t * groups * INT8_MR * 4;
    const size_t rows = min_size(INT8_MR, m - t * INT8_MR);
    for (size_t chunk = 0; chunk < chunks; chunk++) {
      __m512i sums[INT8_MR][4];
      accumulate(4, groups, a, b + chunk * 64 * 4, columns, sums);
      const size_t n = min_size(16, windows - 16 * chunk);
      for (size_t i = 0; i < rows; i++) {
        // The four members of sixteen windows: the largest sum of each, requantized once.
        const __m512i largest = _mm512_max_epi32(_mm512_max_epi32(sums[i][0], sums[i][1]),
                                                 _mm512_max_epi32(sums[i][2], sums[i][3]));
        _mm_mask_storeu_epi8(y + (t * INT8_MR + i) * windows + 16 * chunk,
                             (__mmask16)((1u << n) - 1), requantize(largest, t * INT8_MR + i, r));
      }
    }
  }
}

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
// Where each patch row (each k: a channel, a window row, a tap) starts in a padded image,
// stepped k by k without divisions; past k the last row repeats (its weights are zero).
typedef struct {
  size_t k, kx, ky, kw, kh;
  ptrdiff_t offset, next_row, next_channel;
} patch_rows;

static inline patch_rows first_patch_row(const cnnc_window *window, size_t height, size_t width) {
  const size_t kw = window->kernel_w, kh = window->kernel_h;
  return (patch_rows){
      .k = window->channels * kh * kw, .kw = kw, .kh = kh,
      .next_row = (ptrdiff_t)width - (ptrdiff_t)(kw - 1),
      .next_channel = (ptrdiff_t)(height * width) - (ptrdiff_t)((kh - 1) * width) -
                      (ptrdiff_t)(kw - 1)};
}

// Moves from row kk to the next.
static inline void next_patch_row(patch_rows *rows, size_t kk) {
  if (kk + 1 >= rows->k) return;
  if (++rows->kx < rows->kw) {
    rows->offset += 1;
  } else if (rows->kx = 0, ++rows->ky < rows->kh) {
    rows->offset += rows->next_row;
  } else {
    rows->ky = 0;
    rows->offset += rows->next_channel;
  }
}

// Four rows of sixteen bytes interleaved byte by byte (out[4j + q] = rows[q][j]), stored under
// a byte mask.
TARGET INLINE void interleave_store(const __m128i r[4], __mmask64 store, uint8_t *to) {
  const __m128i low01 = _mm_unpacklo_epi8(r[0], r[1]), high01 = _mm_unpackhi_epi8(r[0], r[1]);
  const __m128i low23 = _mm_unpacklo_epi8(r[2], r[3]), high23 = _mm_unpackhi_epi8(r[2], r[3]);
  __m512i all = _mm512_castsi128_si512(_mm_unpacklo_epi16(low01, low23));
  all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(low01, low23), 1);
  all = _mm512_inserti32x4(all, _mm_unpacklo_epi16(high01, high23), 2);
  all = _mm512_inserti32x4(all, _mm_unpackhi_epi16(high01, high23), 3);
  _mm512_mask_storeu_epi8(to, store, all);
}

// cnnc_int8_pack_patches for stride-1 rows: sixteen output positions at a time, from one to a
// few row segments of each of a group's four patch rows (masked loads put each segment in its
// lanes), interleaved into one 64-byte store per group.
TARGET void cnnc_int8_pack_rows_avx512(const cnnc_window *window, const uint8_t *source,
                                       size_t height, size_t width, uint8_t *b) {
  const size_t out_w = window->out_w, n = window->out_h * out_w, stride_h = window->stride_h;
  const size_t groups = (window->channels * window->kernel_h * window->kernel_w + 3) / 4;
  const size_t columns = cnnc_int8_padded_columns(n);
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
    patch_rows rows = first_patch_row(window, height, width);
    for (size_t g = 0; g < groups; g++) {
      __m128i r[4];
      for (size_t q = 0; q < 4; q++) {
        r[q] = _mm_setzero_si128();
        for (size_t s = 0; s < segments; s++) {
          r[q] = _mm_mask_loadu_epi8(r[q], masks[s], source + rows.offset + from[s]);
        }
        next_patch_row(&rows, 4 * g + q);
      }
      interleave_store(r, store, b + (g * columns + p0) * 4);
    }
  }
}

// cnnc_int8_pack_pooled: for sixteen windows at a time, a pooled row segment's pixels of one
// convolution output row are every other byte of a source run: one masked load of the run,
// then its even bytes (dx = 0) and odd bytes (dx = 1).
TARGET void cnnc_int8_pack_pooled_avx512(const cnnc_window *window, const uint8_t *source,
                                         size_t height, size_t width, size_t pooled_h,
                                         size_t pooled_w, uint8_t *b) {
  const size_t stride_h = window->stride_h;
  const size_t groups = (window->channels * window->kernel_h * window->kernel_w + 3) / 4;
  const size_t windows = pooled_h * pooled_w, columns = 64 * ((windows + 15) / 16);
  const __m256i low_bytes = _mm256_set1_epi16(0xff);
  for (size_t w0 = 0; w0 < windows; w0 += 16) {
    // Segments: windows in one pooled row; lane pair 2l, 2l + 1 reads (start − 2·lane) + 2l.
    __mmask32 masks[16];
    ptrdiff_t from[16];
    size_t segments = 0;
    const size_t end = min_size(windows, w0 + 16);
    for (size_t w = w0, py = w0 / pooled_w, px = w0 % pooled_w; w < end; py++, px = 0) {
      const size_t count = min_size(pooled_w - px, end - w);
      masks[segments] = (__mmask32)(((1ull << (2 * count)) - 1) << (2 * (w - w0)));
      from[segments] = (ptrdiff_t)(2 * py * stride_h * width + 2 * px) - (ptrdiff_t)(2 * (w - w0));
      segments++;
      w += count;
    }
    patch_rows rows = first_patch_row(window, height, width);
    for (size_t g = 0; g < groups; g++) {
      __m128i members[4][4];  // [dy · 2 + dx][q]
      for (size_t q = 0; q < 4; q++) {
        for (size_t dy = 0; dy < 2; dy++) {
          __m256i run = _mm256_setzero_si256();
          const uint8_t *row = source + rows.offset + (ptrdiff_t)(dy * stride_h * width);
          for (size_t s = 0; s < segments; s++) {
            run = _mm256_mask_loadu_epi8(run, masks[s], row + from[s]);
          }
          members[2 * dy][q] = _mm256_cvtepi16_epi8(_mm256_and_si256(run, low_bytes));
          members[2 * dy + 1][q] = _mm256_cvtepi16_epi8(_mm256_srli_epi16(run, 8));
        }
        next_patch_row(&rows, 4 * g + q);
      }
      for (int v = 0; v < 4; v++) {
        interleave_store(members[v], ~(__mmask64)0, b + (g * columns + 4 * w0 + 16 * v) * 4);
      }
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
