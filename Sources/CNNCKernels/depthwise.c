// Depthwise convolution (groups = channels = filters: each channel convolved with its own
// kh × kw window) directly on one channel's planes, forward and both gradients. As a GEMM per
// group it was a 1-row product of k = kh·kw (MobileNet's 3×3 layers ran at 3–4 GFLOP/s and
// took more than half of a training step); here every tap is a multiply-add along a row of
// outputs, which the compiler vectorises at each instruction set's width.
//
// Each image's plane is zero-padded first, so every tap covers a whole row of outputs and the
// loops along it test nothing (eight lanes at a time at stride 1).
// Sums run in a fixed order (bias, then the taps row by row), so results repeat on one path.
#include "cnnc_kernels.h"
#include "internal.h"
#include "vectors.h"

#include <string.h>

// The plane zero-padded into `padded` ((height + 2·pad_h) × (width + 2·pad_w)): every tap then
// reads inside it, so the loops along a row test nothing.
static inline __attribute__((always_inline)) void pad_plane(const cnnc_window *g, const float *x,
                                                            float *padded) {
  const size_t wp = g->width + 2 * g->pad_w, hp = g->height + 2 * g->pad_h;
  for (size_t i = 0; i < g->pad_h * wp; i++) padded[i] = 0;
  for (size_t y = 0; y < g->height; y++) {
    float *row = padded + (y + g->pad_h) * wp;
    for (size_t i = 0; i < g->pad_w; i++) row[i] = 0;
    for (size_t i = 0; i < g->width; i++) row[g->pad_w + i] = x[y * g->width + i];
    for (size_t i = g->pad_w + g->width; i < wp; i++) row[i] = 0;
  }
  for (size_t i = (g->pad_h + g->height) * wp; i < hp * wp; i++) padded[i] = 0;
}

// o[i] += a · b[i·stride] for i < n: eight lanes at a time when the stride is 1.
static inline __attribute__((always_inline)) void add_scaled(float *restrict o, float a,
                                                             const float *restrict b, size_t n,
                                                             size_t stride) {
  size_t i = 0;
  if (stride == 1) {
    for (; i + 8 <= n; i += 8) VSTORE(o + i, VLOAD(f8, o + i) + a * VLOAD(f8, b + i));
  }
  for (; i < n; i++) o[i] += a * b[i * stride];
}

// o[i·stride] += a · b[i] for i < n (a scatter along a row when the stride is 2 or more).
static inline __attribute__((always_inline)) void scatter_scaled(float *restrict o, float a,
                                                                 const float *restrict b,
                                                                 size_t n, size_t stride) {
  size_t i = 0;
  if (stride == 1) {
    for (; i + 8 <= n; i += 8) VSTORE(o + i, VLOAD(f8, o + i) + a * VLOAD(f8, b + i));
  }
  for (; i < n; i++) o[i * stride] += a * b[i];
}

// o[i] += a[i] · b[i·stride] for i < n.
static inline __attribute__((always_inline)) void add_products(float *restrict o,
                                                               const float *restrict a,
                                                               const float *restrict b, size_t n,
                                                               size_t stride) {
  size_t i = 0;
  if (stride == 1) {
    for (; i + 8 <= n; i += 8) {
      VSTORE(o + i, VLOAD(f8, o + i) + VLOAD(f8, a + i) * VLOAD(f8, b + i));
    }
  }
  for (; i < n; i++) o[i] += a[i] * b[i * stride];
}

// out (out_h × out_w) = bias + Σ taps w·x, then max(·, 0) with `relu`, for one plane.
static inline __attribute__((always_inline)) void forward_plane(const cnnc_window *g,
                                                                const float *w, const float *x,
                                                                float bias, int relu, float *out,
                                                                float *padded) {
  const size_t wp = g->width + 2 * g->pad_w, ow = g->out_w;
  pad_plane(g, x, padded);
  for (size_t oy = 0; oy < g->out_h; oy++) {
    float *o = out + oy * ow;
    for (size_t ox = 0; ox < ow; ox++) o[ox] = bias;
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      const float *row = padded + (oy * g->stride_h + ky) * wp;
      for (size_t kx = 0; kx < g->kernel_w; kx++) {
        add_scaled(o, w[ky * g->kernel_w + kx], row + kx, ow, g->stride_w);
      }
    }
    if (relu) {
      for (size_t ox = 0; ox < ow; ox++) o[ox] = cnnc_relu(o[ox]);
    }
  }
}

// dx (height × width) = Σ over outputs and taps of w·dy at the input each tap read (added to
// dx with `accumulate`), for one plane, through a padded plane of sums.
static inline __attribute__((always_inline)) void input_gradient_plane(const cnnc_window *g,
                                                                       const float *w,
                                                                       const float *dy,
                                                                       float *dx, int accumulate,
                                                                       float *padded) {
  const size_t wp = g->width + 2 * g->pad_w, hp = g->height + 2 * g->pad_h, ow = g->out_w;
  for (size_t i = 0; i < hp * wp; i++) padded[i] = 0;
  for (size_t oy = 0; oy < g->out_h; oy++) {
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      float *row = padded + (oy * g->stride_h + ky) * wp;
      for (size_t kx = 0; kx < g->kernel_w; kx++) {
        scatter_scaled(row + kx, w[ky * g->kernel_w + kx], dy + oy * ow, ow, g->stride_w);
      }
    }
  }
  for (size_t y = 0; y < g->height; y++) {
    const float *from = padded + (y + g->pad_h) * wp + g->pad_w;
    float *to = dx + y * g->width;
    for (size_t i = 0; i < g->width; i++) to[i] = accumulate ? to[i] + from[i] : from[i];
  }
}

// sums[tap][ox] += dy·x along each output row of one plane pair, for every tap.
static inline __attribute__((always_inline)) void weight_sums_plane(const cnnc_window *g,
                                                                    const float *dy,
                                                                    const float *x,
                                                                    float *sums,
                                                                    float *padded) {
  const size_t wp = g->width + 2 * g->pad_w, ow = g->out_w;
  pad_plane(g, x, padded);
  for (size_t oy = 0; oy < g->out_h; oy++) {
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      const float *row = padded + (oy * g->stride_h + ky) * wp;
      for (size_t kx = 0; kx < g->kernel_w; kx++) {
        add_products(sums + (ky * g->kernel_w + kx) * ow, dy + oy * ow, row + kx, ow,
                     g->stride_w);
      }
    }
  }
}

typedef struct {
  void (*forward)(const cnnc_window *, const float *, const float *, float, int, float *,
                  float *);
  void (*input_gradient)(const cnnc_window *, const float *, const float *, float *, int,
                         float *);
  void (*weight_sums)(const cnnc_window *, const float *, const float *, float *, float *);
} depthwise_passes;

#define DEPTHWISE(SUFFIX, ATTRIBUTES)                                                            \
  ATTRIBUTES static void forward_##SUFFIX(const cnnc_window *g, const float *w, const float *x, \
                                          float bias, int relu, float *out, float *padded) {   \
    forward_plane(g, w, x, bias, relu, out, padded);                                           \
  }                                                                                            \
  ATTRIBUTES static void input_gradient_##SUFFIX(const cnnc_window *g, const float *w,         \
                                                 const float *dy, float *dx, int accumulate,   \
                                                 float *padded) {                              \
    input_gradient_plane(g, w, dy, dx, accumulate, padded);                                    \
  }                                                                                            \
  ATTRIBUTES static void weight_sums_##SUFFIX(const cnnc_window *g, const float *dy,           \
                                              const float *x, float *sums, float *padded) {    \
    weight_sums_plane(g, dy, x, sums, padded);                                                 \
  }                                                                                            \
  static const depthwise_passes SUFFIX##_depthwise = {forward_##SUFFIX, input_gradient_##SUFFIX, \
                                                      weight_sums_##SUFFIX};

DEPTHWISE(portable, )
#if defined(__x86_64__)
DEPTHWISE(avx2, __attribute__((target("avx2,fma"))))
DEPTHWISE(avx512, __attribute__((target("avx512f"))))
#endif

static const depthwise_passes *depthwise_for(cnnc_isa isa) {
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) return &avx512_depthwise;
  if (isa == CNNC_ISA_AVX2) return &avx2_depthwise;
#endif
  (void)isa;
  return &portable_depthwise;
}

static size_t padded_floats(const cnnc_window *g) {
  return (g->height + 2 * g->pad_h) * (g->width + 2 * g->pad_w);
}

// Images in the outer loop and channels inside, so memory is read and written in order (a
// channel's planes over the batch are one page each, a batch-length stride apart, and ran at a
// few GB/s).

size_t cnnc_depthwise_forward_workspace_floats(const cnnc_window *g) { return padded_floats(g); }

void cnnc_depthwise_forward(cnnc_isa isa, const cnnc_window *g, size_t channels,
                            const float *weights, const float *bias, int relu,
                            const float *images, size_t image_stride, size_t batch, float *out,
                            size_t out_stride, float *workspace) {
  const depthwise_passes *p = depthwise_for(isa);
  const size_t taps = g->kernel_h * g->kernel_w;
  const size_t in_plane = g->height * g->width, out_plane = g->out_h * g->out_w;
  for (size_t n = 0; n < batch; n++) {
    for (size_t c = 0; c < channels; c++) {
      p->forward(g, weights + c * taps, images + n * image_stride + c * in_plane,
                 bias ? bias[c] : 0.0f, relu, out + n * out_stride + c * out_plane, workspace);
    }
  }
}

size_t cnnc_depthwise_backward_workspace_floats(const cnnc_window *g, size_t channels) {
  return channels * g->kernel_h * g->kernel_w * g->out_w + padded_floats(g);
}

void cnnc_depthwise_backward(cnnc_isa isa, const cnnc_window *g, size_t channels,
                             const float *weights, const float *images, size_t image_stride,
                             const float *gradients, size_t gradient_stride, size_t batch,
                             float *dw, float *dx, int accumulate, float *workspace) {
  const depthwise_passes *p = depthwise_for(isa);
  const size_t taps = g->kernel_h * g->kernel_w, ow = g->out_w;
  const size_t in_plane = g->height * g->width, out_plane = g->out_h * g->out_w;
  float *sums = workspace, *padded = workspace + channels * taps * ow;
  for (size_t i = 0; i < channels * taps * ow; i++) sums[i] = 0;
  for (size_t n = 0; n < batch; n++) {
    for (size_t c = 0; c < channels; c++) {
      const float *x = images + n * image_stride + c * in_plane;
      const float *dy = gradients + n * gradient_stride + c * out_plane;
      p->weight_sums(g, dy, x, sums + c * taps * ow, padded);
      if (dx) {
        p->input_gradient(g, weights + c * taps, dy, dx + n * image_stride + c * in_plane,
                          accumulate, padded);
      }
    }
  }
  for (size_t i = 0; i < channels * taps; i++) {
    float sum = 0;
    for (size_t ox = 0; ox < ow; ox++) sum += sums[i * ow + ox];
    dw[i] = sum;
  }
}
