// Shared between the int8 driver (int8.c) and its per-instruction-set tiles.
#ifndef CNNC_INT8_INTERNAL_H
#define CNNC_INT8_INTERNAL_H

#include "internal.h"

// Rows of C per tile on every path; weights are packed in tiles of this many rows, zero-padded.
enum { INT8_MR = 6 };

// The requantization of one sum, exactly as Swift's Requantization.int8 computes it: the 64-bit
// product shifted with one rounding, halves away from zero ((p + half − [p < 0]) >> shift is
// −((−p + half) >> shift) for negative p), then the zero point and the clamp; stored + 128.
static inline uint8_t cnnc_int8_requantize(int32_t sum, int32_t multiplier, int32_t shift,
                                           const cnnc_int8_requantization *r) {
  const int64_t product = (int64_t)sum * multiplier;
  const int64_t half = (int64_t)1 << (shift - 1);
  int64_t value = ((product + half + (product >> 63)) >> shift) + r->zero_point;
  value = value < r->low ? r->low : value > r->high ? r->high : value;
  return (uint8_t)(value + 128);
}

// Stores the requantized sums of row i, columns j ..< j + count of C.
static inline void cnnc_int8_store_row(const int32_t *sums, size_t count, size_t i,
                                       const cnnc_int8_requantization *r, uint8_t *c,
                                       size_t column_stride) {
  for (size_t j = 0; j < count; j++) {
    c[j * column_stride] =
        cnnc_int8_requantize(sums[j] + r->bias[i], r->multiplier[i], r->shift[i], r);
  }
}

// One path's whole product over row tiles first ..< first + tiles (arguments as cnnc_int8_gemm).
typedef void (*cnnc_int8_product)(size_t m, size_t n, size_t k, const void *packed,
                                  const uint8_t *b, const cnnc_int8_requantization *r,
                                  uint8_t *c, size_t row_stride, size_t column_stride,
                                  size_t first, size_t tiles);

void cnnc_int8_gemm_avx512(size_t m, size_t n, size_t k, const void *packed, const uint8_t *b,
                           const cnnc_int8_requantization *r, uint8_t *c, size_t row_stride,
                           size_t column_stride, size_t first, size_t tiles);
void cnnc_int8_gemm_avx2(size_t m, size_t n, size_t k, const void *packed, const uint8_t *b,
                         const cnnc_int8_requantization *r, uint8_t *c, size_t row_stride,
                         size_t column_stride, size_t first, size_t tiles);

// AVX-512 (BW, VL): one output row of 2×2 stride-2 max pooling.
void cnnc_int8_max_pool_row_avx512(const uint8_t *top, const uint8_t *bottom, size_t count,
                                   uint8_t *out);

// AVX-512 patch packing of stride-1 windows from a (padded) image of height × width, and input
// quantization.
void cnnc_int8_pack_rows_avx512(const cnnc_window *window, const uint8_t *source, size_t height,
                                size_t width, uint8_t *b);
void cnnc_int8_quantize_avx512(const float *x, size_t count, float scale, int32_t zero_point,
                               uint8_t *out);

// A stride-1 convolution with a fused 2×2 stride-2 max pooling (cnnc_int8_conv_max_pool).
void cnnc_int8_pack_pooled_avx512(const cnnc_window *window, const uint8_t *source, size_t height,
                                  size_t width, size_t pooled_h, size_t pooled_w, uint8_t *b);
void cnnc_int8_gemm_pooled_avx512(size_t m, size_t windows, size_t k, const void *packed,
                                  const uint8_t *b, const cnnc_int8_requantization *r,
                                  uint8_t *y);

#endif
