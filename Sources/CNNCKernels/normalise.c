// The memory-bound passes of batchnorm, add and ReLU, compiled for each instruction set.
//
// Swift's own loops are compiled for the build's baseline (SSE2 on x86-64: four lanes), so these
// passes ran at a quarter of an AVX-512 core's width; here each is the same C compiled three
// times (portable, AVX2, AVX-512) with per-function target attributes, chosen at run time like
// the GEMM. A batchnorm channel's planes are (planes, stride, count): plane n at x + n·stride.
//
// Sums keep a fixed order (sixteen float lanes per plane, reduced in a fixed tree, the planes'
// sums added in double), so results repeat bit for bit on one path.
#include "cnnc_kernels.h"
#include "internal.h"
#include "vectors.h"

#include <string.h>

// g where y > 0, else 0 (a ReLU's mask from its output).
#define MASKED(g, y) ((f16)((i16)(g) & (i16)((y) > 0.0f)))

static inline float masked(float g, float y) { return y > 0 ? g : 0.0f; }

// Σ x over the planes.
static inline __attribute__((always_inline)) double sum_planes(const float *x, size_t planes,
                                                               size_t stride, size_t count) {
  double total = 0;
  for (size_t n = 0; n < planes; n++) {
    const float *p = x + n * stride;
    f16 lanes = 0;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) lanes += VLOAD(f16, p + i);
    float sum = VSUM16(lanes);
    for (; i < count; i++) sum += p[i];
    total += sum;
  }
  return total;
}

// Σ (x − mean)² over the planes.
static inline __attribute__((always_inline)) double squares_planes(const float *x, size_t planes,
                                                                   size_t stride, size_t count,
                                                                   float mean) {
  double total = 0;
  for (size_t n = 0; n < planes; n++) {
    const float *p = x + n * stride;
    f16 lanes = 0;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
      const f16 d = VLOAD(f16, p + i) - mean;
      lanes += d * d;
    }
    float sum = VSUM16(lanes);
    for (; i < count; i++) sum += (p[i] - mean) * (p[i] - mean);
    total += sum;
  }
  return total;
}

// y = (x − mean)·scale + shift, then max(·, 0) with `relu`.
static inline __attribute__((always_inline)) void affine_planes(const float *x, float *y,
                                                                size_t planes, size_t stride,
                                                                size_t count, float mean,
                                                                float scale, float shift,
                                                                int relu) {
  for (size_t n = 0; n < planes; n++) {
    const float *p = x + n * stride;
    float *q = y + n * stride;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
      f16 v = (VLOAD(f16, p + i) - mean) * scale + shift;
      VSTORE(q + i, relu ? VRELU(v, i16) : v);
    }
    for (; i < count; i++) {
      const float v = (p[i] - mean) * scale + shift;
      q[i] = relu ? cnnc_relu(v) : v;
    }
  }
}

// Σ g and Σ g·(x − mean), with g = dy, or dy where y > 0 when `mask` (a fused ReLU's output).
static inline __attribute__((always_inline)) void gradient_sums_planes(
    const float *dy, const float *x, const float *mask, size_t planes, size_t stride,
    size_t count, float mean, double *gradient, double *product) {
  double gradients = 0, products = 0;
  for (size_t n = 0; n < planes; n++) {
    const size_t at = n * stride;
    f16 g_lanes = 0, p_lanes = 0;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
      f16 g = VLOAD(f16, dy + at + i);
      if (mask) g = MASKED(g, VLOAD(f16, mask + at + i));
      g_lanes += g;
      p_lanes += g * (VLOAD(f16, x + at + i) - mean);
    }
    float g_sum = VSUM16(g_lanes), p_sum = VSUM16(p_lanes);
    for (; i < count; i++) {
      const float g = mask ? masked(dy[at + i], mask[at + i]) : dy[at + i];
      g_sum += g;
      p_sum += g * (x[at + i] - mean);
    }
    gradients += g_sum;
    products += p_sum;
  }
  *gradient = gradients;
  *product = products;
}

// dx = a·g + slope·x + constant (added to dx with `accumulate`), g as in gradient_sums_planes.
static inline __attribute__((always_inline)) void input_gradient_planes(
    const float *dy, const float *x, const float *mask, float *dx, size_t planes, size_t stride,
    size_t count, float a, float slope, float constant, int accumulate) {
  for (size_t n = 0; n < planes; n++) {
    const size_t at = n * stride;
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
      f16 g = VLOAD(f16, dy + at + i);
      if (mask) g = MASKED(g, VLOAD(f16, mask + at + i));
      f16 v = a * g + slope * VLOAD(f16, x + at + i) + constant;
      if (accumulate) v += VLOAD(f16, dx + at + i);
      VSTORE(dx + at + i, v);
    }
    for (; i < count; i++) {
      const float g = mask ? masked(dy[at + i], mask[at + i]) : dy[at + i];
      const float v = a * g + slope * x[at + i] + constant;
      dx[at + i] = accumulate ? dx[at + i] + v : v;
    }
  }
}

// y = a + b, then max(·, 0) with `relu`.
static inline __attribute__((always_inline)) void add(const float *a, const float *b, float *y,
                                                      size_t count, int relu) {
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const f16 v = VLOAD(f16, a + i) + VLOAD(f16, b + i);
    VSTORE(y + i, relu ? VRELU(v, i16) : v);
  }
  for (; i < count; i++) y[i] = relu ? cnnc_relu(a[i] + b[i]) : a[i] + b[i];
}

// y = max(x, 0).
static inline __attribute__((always_inline)) void relu_forward(const float *x, float *y,
                                                               size_t count) {
  size_t i = 0;
  for (; i + 16 <= count; i += 16) VSTORE(y + i, VRELU(VLOAD(f16, x + i), i16));
  for (; i < count; i++) y[i] = cnnc_relu(x[i]);
}

// dx = dy where y > 0, else 0 (added to dx with `accumulate`).
static inline __attribute__((always_inline)) void relu_backward(const float *y, const float *dy,
                                                                float *dx, size_t count,
                                                                int accumulate) {
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    f16 v = MASKED(VLOAD(f16, dy + i), VLOAD(f16, y + i));
    if (accumulate) v += VLOAD(f16, dx + i);
    VSTORE(dx + i, v);
  }
  for (; i < count; i++) {
    const float v = masked(dy[i], y[i]);
    dx[i] = accumulate ? dx[i] + v : v;
  }
}

// relu_backward into two targets in one pass (an add's two inputs): dy and y read once.
// The targets may be one buffer (an add of a value to itself): each vector is stored to the
// first before the second is read.
static inline __attribute__((always_inline)) void relu_backward_two(
    const float *y, const float *dy, float *dx0, int accumulate0, float *dx1, int accumulate1,
    size_t count) {
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const f16 v = MASKED(VLOAD(f16, dy + i), VLOAD(f16, y + i));
    VSTORE(dx0 + i, accumulate0 ? VLOAD(f16, dx0 + i) + v : v);
    VSTORE(dx1 + i, accumulate1 ? VLOAD(f16, dx1 + i) + v : v);
  }
  for (; i < count; i++) {
    const float v = masked(dy[i], y[i]);
    dx0[i] = accumulate0 ? dx0[i] + v : v;
    dx1[i] = accumulate1 ? dx1[i] + v : v;
  }
}

typedef struct {
  double (*sum)(const float *, size_t, size_t, size_t);
  double (*squares)(const float *, size_t, size_t, size_t, float);
  void (*affine)(const float *, float *, size_t, size_t, size_t, float, float, float, int);
  void (*gradient_sums)(const float *, const float *, const float *, size_t, size_t, size_t,
                        float, double *, double *);
  void (*input_gradient)(const float *, const float *, const float *, float *, size_t, size_t,
                         size_t, float, float, float, int);
  void (*add)(const float *, const float *, float *, size_t, int);
  void (*relu_forward)(const float *, float *, size_t);
  void (*relu_backward)(const float *, const float *, float *, size_t, int);
  void (*relu_backward_two)(const float *, const float *, float *, int, float *, int, size_t);
} passes;

// Every pass compiled for one instruction set (the same C, vectorised for its width).
#define PASSES(SUFFIX, ATTRIBUTES)                                                                \
  ATTRIBUTES static double sum_##SUFFIX(const float *x, size_t planes, size_t stride,           \
                                          size_t count) {                                         \
    return sum_planes(x, planes, stride, count);                                                  \
  }                                                                                               \
  ATTRIBUTES static double squares_##SUFFIX(const float *x, size_t planes, size_t stride,       \
                                              size_t count, float mean) {                         \
    return squares_planes(x, planes, stride, count, mean);                                        \
  }                                                                                               \
  ATTRIBUTES static void affine_##SUFFIX(const float *x, float *y, size_t planes, size_t stride, \
                                         size_t count, float mean, float scale, float shift,      \
                                         int relu) {                                              \
    affine_planes(x, y, planes, stride, count, mean, scale, shift, relu);                         \
  }                                                                                               \
  ATTRIBUTES static void gradient_sums_##SUFFIX(const float *dy, const float *x,                 \
                                                const float *mask, size_t planes, size_t stride,  \
                                                size_t count, float mean, double *gradient,       \
                                                double *product) {                                \
    gradient_sums_planes(dy, x, mask, planes, stride, count, mean, gradient, product);            \
  }                                                                                               \
  ATTRIBUTES static void input_gradient_##SUFFIX(                                                 \
      const float *dy, const float *x, const float *mask, float *dx, size_t planes,               \
      size_t stride, size_t count, float a, float slope, float constant, int accumulate) {        \
    input_gradient_planes(dy, x, mask, dx, planes, stride, count, a, slope, constant,             \
                          accumulate);                                                            \
  }                                                                                               \
  ATTRIBUTES static void add_##SUFFIX(const float *a, const float *b, float *y, size_t count,    \
                                      int relu) {                                                 \
    add(a, b, y, count, relu);                                                                    \
  }                                                                                               \
  ATTRIBUTES static void relu_forward_##SUFFIX(const float *x, float *y, size_t count) {       \
    relu_forward(x, y, count);                                                                    \
  }                                                                                               \
  ATTRIBUTES static void relu_backward_##SUFFIX(const float *y, const float *dy, float *dx,      \
                                                size_t count, int accumulate) {                   \
    relu_backward(y, dy, dx, count, accumulate);                                                  \
  }                                                                                               \
  ATTRIBUTES static void relu_backward_two_##SUFFIX(const float *y, const float *dy, float *dx0, \
                                                    int accumulate0, float *dx1,                \
                                                    int accumulate1, size_t count) {            \
    relu_backward_two(y, dy, dx0, accumulate0, dx1, accumulate1, count);                          \
  }                                                                                               \
  static const passes SUFFIX##_passes = {sum_##SUFFIX,           squares_##SUFFIX,                \
                                         affine_##SUFFIX,        gradient_sums_##SUFFIX,          \
                                         input_gradient_##SUFFIX, add_##SUFFIX,                   \
                                         relu_forward_##SUFFIX,  relu_backward_##SUFFIX,          \
                                         relu_backward_two_##SUFFIX};

PASSES(portable, )
#if defined(__x86_64__)
PASSES(avx2, __attribute__((target("avx2,fma"))))
PASSES(avx512, __attribute__((target("avx512f"))))
#endif

static const passes *passes_for(cnnc_isa isa) {
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) return &avx512_passes;
  if (isa == CNNC_ISA_AVX2) return &avx2_passes;
#endif
  (void)isa;
  return &portable_passes;
}

double cnnc_planes_sum(cnnc_isa isa, const float *x, size_t planes, size_t stride,
                       size_t count) {
  return passes_for(isa)->sum(x, planes, stride, count);
}

double cnnc_planes_squared_deviation(cnnc_isa isa, const float *x, size_t planes, size_t stride,
                                     size_t count, float mean) {
  return passes_for(isa)->squares(x, planes, stride, count, mean);
}

void cnnc_planes_affine(cnnc_isa isa, const float *x, float *y, size_t planes, size_t stride,
                        size_t count, float mean, float scale, float shift, int relu) {
  passes_for(isa)->affine(x, y, planes, stride, count, mean, scale, shift, relu);
}

void cnnc_batchnorm_gradient_sums(cnnc_isa isa, const float *dy, const float *x,
                                  const float *mask, size_t planes, size_t stride, size_t count,
                                  float mean, double *gradient, double *product) {
  passes_for(isa)->gradient_sums(dy, x, mask, planes, stride, count, mean, gradient, product);
}

void cnnc_batchnorm_input_gradient(cnnc_isa isa, const float *dy, const float *x,
                                   const float *mask, float *dx, size_t planes, size_t stride,
                                   size_t count, float a, float slope, float constant,
                                   int accumulate) {
  passes_for(isa)->input_gradient(dy, x, mask, dx, planes, stride, count, a, slope, constant,
                                  accumulate);
}

void cnnc_add(cnnc_isa isa, const float *a, const float *b, float *y, size_t count, int relu) {
  passes_for(isa)->add(a, b, y, count, relu);
}

void cnnc_relu_forward(cnnc_isa isa, const float *x, float *y, size_t count) {
  passes_for(isa)->relu_forward(x, y, count);
}

void cnnc_relu_backward(cnnc_isa isa, const float *y, const float *dy, float *dx, size_t count,
                        int accumulate) {
  passes_for(isa)->relu_backward(y, dy, dx, count, accumulate);
}

void cnnc_relu_backward_two(cnnc_isa isa, const float *y, const float *dy, float *dx0,
                            int accumulate0, float *dx1, int accumulate1, size_t count) {
  passes_for(isa)->relu_backward_two(y, dy, dx0, accumulate0, dx1, accumulate1, count);
}
