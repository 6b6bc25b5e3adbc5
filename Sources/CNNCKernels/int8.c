// Int8 inference: the product driver and its portable path, the packing of weights, patches and
// vectors into VNNI's groups of four bytes, pooling and input quantization.
//
// B's layout serves vpdpbusd, which multiplies four consecutive bytes of one lane by four bytes
// of another and adds the four products to the lane's int32: four consecutive k of one column
// are adjacent, so sixteen columns' groups fill a 512-bit vector. A's rows are packed the same
// way, INT8_MR rows per tile, each row's group of four broadcast against B's vectors.
#include "cnnc_kernels.h"
#include "int8_internal.h"

static size_t groups_of(size_t k) { return (k + 3) / 4; }

size_t cnnc_int8_padded_columns(size_t n) { return round_up(n == 0 ? 1 : n, 16); }
size_t cnnc_int8_row_tiles(size_t m) { return (m + INT8_MR - 1) / INT8_MR; }

// AVX2 multiplies 16-bit pairs (vpmaddwd): its weights are stored widened to int16, because
// vpmaddubsw's 16-bit sums of two u8 × s8 products saturate (2 · 255 · 127 > 32,767) and
// would break exactness.
static size_t weight_width(cnnc_isa isa) { return isa == CNNC_ISA_AVX2 ? 2 : 1; }

size_t cnnc_int8_packed_weights_bytes(cnnc_isa isa, size_t m, size_t k) {
  return cnnc_int8_row_tiles(m) * INT8_MR * groups_of(k) * 4 * weight_width(isa);
}

// Tile t, group g, row r, byte q at ((t · groups + g) · MR + r) · 4 + q.
void cnnc_int8_pack_weights(cnnc_isa isa, size_t m, size_t k, const int8_t *weights,
                            void *packed) {
  const size_t groups = groups_of(k);
  for (size_t t = 0; t < cnnc_int8_row_tiles(m); t++) {
    for (size_t g = 0; g < groups; g++) {
      for (size_t r = 0; r < INT8_MR; r++) {
        for (size_t q = 0; q < 4; q++) {
          const size_t row = t * INT8_MR + r, column = g * 4 + q;
          const int8_t value = row < m && column < k ? weights[row * k + column] : 0;
          const size_t index = ((t * groups + g) * INT8_MR + r) * 4 + q;
          if (isa == CNNC_ISA_AVX2) {
            ((int16_t *)packed)[index] = value;
          } else {
            ((int8_t *)packed)[index] = value;
          }
        }
      }
    }
  }
}

static void gemm_portable(size_t m, size_t n, size_t k, const void *packed, const uint8_t *b,
                          const cnnc_int8_requantization *r, uint8_t *c, size_t row_stride,
                          size_t column_stride, size_t first, size_t tiles) {
  const size_t groups = groups_of(k), columns = cnnc_int8_padded_columns(n);
  int32_t sums[INT8_MR][16];
  for (size_t t = first; t < first + tiles; t++) {
    const int8_t *a = (const int8_t *)packed + t * groups * INT8_MR * 4;
    const size_t rows = min_size(INT8_MR, m - t * INT8_MR);
    for (size_t j0 = 0; j0 < n; j0 += 16) {
      memset(sums, 0, sizeof sums);
      for (size_t g = 0; g < groups; g++) {
        const uint8_t *bg = b + (g * columns + j0) * 4;
        for (size_t i = 0; i < INT8_MR; i++) {
          const int8_t *w = a + (g * INT8_MR + i) * 4;
          for (size_t j = 0; j < 16; j++) {
            const uint8_t *x = bg + j * 4;
            sums[i][j] += x[0] * w[0] + x[1] * w[1] + x[2] * w[2] + x[3] * w[3];
          }
        }
      }
      for (size_t i = 0; i < rows; i++) {
        const size_t row = t * INT8_MR + i;
        cnnc_int8_store_row(sums[i], min_size(16, n - j0), row, r,
                            c + row * row_stride + j0 * column_stride, column_stride);
      }
    }
  }
}

int cnnc_int8_isa_supported(cnnc_isa isa) {
  switch (isa) {
    case CNNC_ISA_PORTABLE: return 1;
#if defined(__x86_64__)
    case CNNC_ISA_AVX2: return __builtin_cpu_supports("avx2");
    case CNNC_ISA_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
  }
}

void cnnc_int8_gemm(cnnc_isa isa, size_t m, size_t n, size_t k, const void *packed_weights,
                    const uint8_t *b, const cnnc_int8_requantization *requantization,
                    uint8_t *c, size_t row_stride, size_t column_stride, size_t first_tile,
                    size_t tiles) {
  cnnc_int8_product product = gemm_portable;
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) product = cnnc_int8_gemm_avx512;
  if (isa == CNNC_ISA_AVX2) product = cnnc_int8_gemm_avx2;
#endif
  product(m, n, k, packed_weights, b, requantization, c, row_stride, column_stride, first_tile,
          tiles);
}

size_t cnnc_int8_padded_image_bytes(const cnnc_window *g) {
  return g->channels * (g->height + 2 * g->pad_h) * (g->width + 2 * g->pad_w);
}

// Four rows interleaved byte by byte: out[4j + q] = rows[q][j] (vectorised by the compiler).
static void interleave4(const uint8_t *restrict r0, const uint8_t *restrict r1,
                        const uint8_t *restrict r2, const uint8_t *restrict r3, size_t count,
                        uint8_t *restrict out) {
  for (size_t j = 0; j < count; j++) {
    out[4 * j] = r0[j];
    out[4 * j + 1] = r1[j];
    out[4 * j + 2] = r2[j];
    out[4 * j + 3] = r3[j];
  }
}

// The image with its padding (in `padded`), or the image itself when the window has none.
static const uint8_t *padded_image(const cnnc_window *g, const uint8_t *image,
                                   uint8_t pad_value, uint8_t *padded) {
  if (g->pad_h == 0 && g->pad_w == 0) return image;
  const size_t height = g->height + 2 * g->pad_h, width = g->width + 2 * g->pad_w;
  memset(padded, pad_value, cnnc_int8_padded_image_bytes(g));
  for (size_t ch = 0; ch < g->channels; ch++) {
    for (size_t y = 0; y < g->height; y++) {
      memcpy(padded + (ch * height + y + g->pad_h) * width + g->pad_w,
             image + (ch * g->height + y) * g->width, g->width);
    }
  }
  return padded;
}

int cnnc_int8_pools_in_product(cnnc_isa isa, const cnnc_window *g, const cnnc_window *pool) {
  return isa == CNNC_ISA_AVX512 && g->stride_w == 1 && pool->kernel_h == 2 &&
         pool->kernel_w == 2 && pool->stride_h == 2 && pool->stride_w == 2 &&
         pool->pad_h == 0 && pool->pad_w == 0 && pool->out_h * 2 <= pool->height &&
         pool->out_w * 2 <= pool->width && pool->height == g->out_h && pool->width == g->out_w;
}

size_t cnnc_int8_pooled_patch_bytes(const cnnc_window *g, const cnnc_window *pool) {
  const size_t k = g->channels * g->kernel_h * g->kernel_w;
  return (k + 3) / 4 * 4 * 64 * ((pool->out_h * pool->out_w + 15) / 16);
}

void cnnc_int8_conv_max_pool(cnnc_isa isa, const cnnc_window *g, const cnnc_window *pool,
                             const uint8_t *image, uint8_t pad_value, uint8_t *padded,
                             uint8_t *patches, size_t m, const void *packed_weights,
                             const cnnc_int8_requantization *requantization, uint8_t *y) {
  (void)isa;
#if defined(__x86_64__)
  const uint8_t *source = padded_image(g, image, pad_value, padded);
  cnnc_int8_pack_pooled_avx512(g, source, g->height + 2 * g->pad_h, g->width + 2 * g->pad_w,
                               pool->out_h, pool->out_w, patches);
  cnnc_int8_gemm_pooled_avx512(m, pool->out_h * pool->out_w,
                               g->channels * g->kernel_h * g->kernel_w, packed_weights, patches,
                               requantization, y);
#else
  (void)g, (void)pool, (void)image, (void)pad_value, (void)padded, (void)patches, (void)m;
  (void)packed_weights, (void)requantization, (void)y;
#endif
}

void cnnc_int8_pack_patches(cnnc_isa isa, const cnnc_window *g, const uint8_t *image,
                            uint8_t pad_value, uint8_t *padded, uint8_t *b) {
  const size_t height = g->height + 2 * g->pad_h, width = g->width + 2 * g->pad_w;
  const uint8_t *source = padded_image(g, image, pad_value, padded);
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512 && g->stride_w == 1) {
    cnnc_int8_pack_rows_avx512(g, source, height, width, b);
    return;
  }
#endif
  const size_t taps = g->kernel_h * g->kernel_w, k = g->channels * taps;
  const size_t columns = cnnc_int8_padded_columns(g->out_h * g->out_w);
  for (size_t group = 0; group < groups_of(k); group++) {
    // Each of the group's four k: its channel and tap; past k, a copy of the first (its
    // weights are zero).
    size_t offsets[4];
    for (size_t q = 0; q < 4; q++) {
      const size_t kk = group * 4 + q < k ? group * 4 + q : group * 4;
      const size_t ch = kk / taps, ky = kk % taps / g->kernel_w, kx = kk % g->kernel_w;
      offsets[q] = (ch * height + ky) * width + kx;
    }
    uint8_t *out = b + group * columns * 4;
    for (size_t oy = 0; oy < g->out_h; oy++) {
      const size_t row = oy * g->stride_h * width;
      uint8_t *to = out + oy * g->out_w * 4;
      if (g->stride_w == 1) {
        interleave4(source + offsets[0] + row, source + offsets[1] + row,
                    source + offsets[2] + row, source + offsets[3] + row, g->out_w, to);
        continue;
      }
      for (size_t ox = 0; ox < g->out_w; ox++) {
        for (size_t q = 0; q < 4; q++) to[4 * ox + q] = source[offsets[q] + row + ox * g->stride_w];
      }
    }
  }
}

void cnnc_int8_pack_vectors(size_t k, size_t n, const uint8_t *vectors, size_t stride,
                            uint8_t *b) {
  const size_t columns = cnnc_int8_padded_columns(n), whole = k / 4;
  for (size_t j = 0; j < n; j++) {
    const uint8_t *x = vectors + j * stride;
    for (size_t group = 0; group < whole; group++) memcpy(b + (group * columns + j) * 4, x + group * 4, 4);
    if (k % 4 != 0) {
      uint8_t last[4] = {0, 0, 0, 0};
      memcpy(last, x + whole * 4, k % 4);
      memcpy(b + (whole * columns + j) * 4, last, 4);
    }
  }
}

// The float kernels' window along one axis: inputs start ..< end, and how many positions
// (padding included) an average divides by.
static void window_span(size_t index, size_t stride, size_t pad, size_t kernel, size_t input,
                        long *start, long *end, long *padded) {
  const long first = (long)(index * stride) - (long)pad;
  const long padded_end = first + (long)kernel < (long)(input + pad) ? first + (long)kernel
                                                                     : (long)(input + pad);
  *start = first > 0 ? first : 0;
  *end = padded_end < (long)input ? padded_end : (long)input;
  if (*end < *start) *end = *start;
  *padded = padded_end - first;
}

// n / d (d > 0) rounded halves away from zero.
static int32_t rounded_division(int32_t n, int32_t d) {
  const int64_t n64 = n, d64 = d;
  return (int32_t)(n64 >= 0 ? (2 * n64 + d64) / (2 * d64) : -((2 * -n64 + d64) / (2 * d64)));
}

void cnnc_int8_pool(cnnc_isa isa, const cnnc_window *g, int average, const uint8_t *x,
                    int32_t zero_point, uint8_t *y) {
  const int32_t zero = zero_point + 128;
  const int two_by_two = !average && g->kernel_h == 2 && g->kernel_w == 2 && g->stride_h == 2 &&
                         g->stride_w == 2 && g->pad_h == 0 && g->pad_w == 0 &&
                         g->out_h * 2 <= g->height && g->out_w * 2 <= g->width;
  for (size_t ch = 0; ch < g->channels; ch++) {
    const uint8_t *plane = x + ch * g->height * g->width;
    uint8_t *out = y + ch * g->out_h * g->out_w;
    if (two_by_two) {  // LeNet's pooling, in a loop the compiler vectorises
      for (size_t oy = 0; oy < g->out_h; oy++) {
#if defined(__x86_64__)
        if (isa == CNNC_ISA_AVX512) {
          cnnc_int8_max_pool_row_avx512(plane + 2 * oy * g->width,
                                        plane + (2 * oy + 1) * g->width, g->out_w,
                                        out + oy * g->out_w);
          continue;
        }
#endif
        const uint8_t *restrict top = plane + 2 * oy * g->width, *restrict bottom = top + g->width;
        for (size_t ox = 0; ox < g->out_w; ox++) {
          const uint8_t a = top[2 * ox] > top[2 * ox + 1] ? top[2 * ox] : top[2 * ox + 1];
          const uint8_t c = bottom[2 * ox] > bottom[2 * ox + 1] ? bottom[2 * ox] : bottom[2 * ox + 1];
          out[oy * g->out_w + ox] = a > c ? a : c;
        }
      }
      continue;
    }
    for (size_t oy = 0; oy < g->out_h; oy++) {
      long y0, y1, height;
      window_span(oy, g->stride_h, g->pad_h, g->kernel_h, g->height, &y0, &y1, &height);
      for (size_t ox = 0; ox < g->out_w; ox++) {
        long x0, x1, width;
        window_span(ox, g->stride_w, g->pad_w, g->kernel_w, g->width, &x0, &x1, &width);
        int32_t best = -1, sum = 0;
        for (long iy = y0; iy < y1; iy++) {
          for (long ix = x0; ix < x1; ix++) {
            const int32_t value = plane[iy * (long)g->width + ix];
            best = value > best ? value : best;
            sum += value - zero;
          }
        }
        int32_t result = best < 0 ? zero : best;
        if (average) {
          const int32_t span = (int32_t)(height * width);
          result = span > 0 ? rounded_division(sum, span) + zero : zero;
          result = result < 0 ? 0 : result > 255 ? 255 : result;
        }
        out[oy * g->out_w + ox] = (uint8_t)result;
      }
    }
  }
}

void cnnc_int8_quantize(cnnc_isa isa, const float *x, size_t count, float scale,
                        int32_t zero_point, uint8_t *out) {
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) {
    cnnc_int8_quantize_avx512(x, count, scale, zero_point, out);
    return;
  }
#endif
  for (size_t i = 0; i < count; i++) {
    const float q = x[i] / scale;
    // Halves away from zero, as Swift's .toNearestOrAwayFromZero (q − trunc(q) is exact).
    const float t = __builtin_truncf(q);
    const float rounded = t + (__builtin_fabsf(q - t) >= 0.5f ? __builtin_copysignf(1.0f, q) : 0.0f);
    const float value = rounded + (float)zero_point;
    int32_t v;
    if (value != value) v = -128;  // NaN
    else v = value < -128.0f ? -128 : value > 127.0f ? 127 : (int32_t)value;
    out[i] = (uint8_t)(v + 128);
  }
}
