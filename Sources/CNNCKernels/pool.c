// Max pooling over 2×2 windows with stride 2 and no padding, values only (inference): plain
// loops that the compiler vectorises (a vertical max, then the max of each pair).
#include "cnnc_kernels.h"

static inline float larger(float a, float b) { return b > a ? b : a; }

void cnnc_max_pool_2x2(const float *input, float *output, size_t planes, size_t height,
                       size_t width, size_t out_h, size_t out_w) {
  // Only windows wholly inside the input; the caller takes any clipped last row or column.
  size_t rows = height / 2 < out_h ? height / 2 : out_h;
  size_t columns = width / 2 < out_w ? width / 2 : out_w;
  for (size_t plane = 0; plane < planes; plane++) {
    const float *source = input + plane * height * width;
    float *target = output + plane * out_h * out_w;
    for (size_t oy = 0; oy < rows; oy++) {
      const float *restrict top = source + 2 * oy * width;
      const float *restrict bottom = top + width;
      float *restrict row = target + oy * out_w;
      for (size_t ox = 0; ox < columns; ox++) {
        row[ox] = larger(larger(top[2 * ox], top[2 * ox + 1]),
                         larger(bottom[2 * ox], bottom[2 * ox + 1]));
      }
    }
  }
}
