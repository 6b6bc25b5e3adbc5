// The register-tiled microkernel, written once and compiled per instruction set (as winograd.c
// compiles its transforms): gemm_avx2.c and gemm_avx512.c each define what follows and then
// include this file, which builds their kernels, the small-product route (small_nt.h) and the
// FMA peak loop from it.
//
//   TARGET                the functions' target attribute
//   MR, NR, LANES         rows and columns of a tile, floats in a vector (NR = 2 · LANES)
//   EACH_ROW_COUNT(X)     X(1) ... X(MR): a kernel is compiled for each row count
//   NARROW                small_nt.h's columns per dot tile above 4 rows
//   vec                   the vector type; ZERO(), SET1(x), LOAD(p), STORE(p, v), ADD(x, y),
//                         FMA(x, y, z) = x·y + z, relu(v) as cnnc_relu on each lane
//   MASKED                1: loads and stores past C's edge go under a mask of type lane_mask
//                         (first_lanes(n): the first n lanes; LOAD_LANES and STORE_LANES);
//                         0: only whole vectors, an edge tile is stored through a buffer and a
//                         dot product's last k % LANES products are added one by one
//   sum_lanes(v)          a dot product's lanes summed, in the instruction set's fixed order
//   sum_sink(v)           fma_loop's lanes summed
//   DIRECT                1: also the direct-convolution kernel (B's rows at offsets)

// Stores an accumulated tile (rows × nr of C) with the epilogue, in the order cnnc_store_partial
// has: row bias, column bias, beta · C, ReLU.
TARGET static inline __attribute__((always_inline)) void store_tile(const int rows,
                                                                    const vec *left,
                                                                    const vec *right, float *c,
                                                                    size_t ldc,
                                                                    const cnnc_epilogue *e,
                                                                    size_t nr) {
  const float beta = e->beta;
  // Without masks only a whole tile is stored from the registers; a narrower one goes through
  // a buffer (below).
  if (MASKED || nr == NR) {
    // Columns past nr are neither read nor written: the right vector holds all its lanes, none,
    // or the first nr − LANES.
    const lane_mask left_mask = first_lanes(nr);
    const lane_mask right_mask =
        nr >= NR ? first_lanes(LANES) : nr <= LANES ? 0 : first_lanes(nr - LANES);
    const vec scale = SET1(beta);
    vec column_left = ZERO(), column_right = ZERO();
    if (e->column_bias) {
      column_left = LOAD_LANES(left_mask, e->column_bias);
      column_right = LOAD_LANES(right_mask, e->column_bias + LANES);
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      float *row = c + i * ldc;
      vec x = left[i], y = right[i];
      if (e->row_bias) {
        const vec bias = SET1(e->row_bias[i]);
        x = ADD(x, bias);
        y = ADD(y, bias);
      }
      if (e->column_bias) {
        x = ADD(x, column_left);
        y = ADD(y, column_right);
      }
      if (beta == 1.0f) {
        x = ADD(LOAD_LANES(left_mask, row), x);
        y = ADD(LOAD_LANES(right_mask, row + LANES), y);
      } else if (beta != 0.0f) {
        x = FMA(scale, LOAD_LANES(left_mask, row), x);
        y = FMA(scale, LOAD_LANES(right_mask, row + LANES), y);
      }
      if (e->relu) {
        x = relu(x);
        y = relu(y);
      }
      STORE_LANES(row, left_mask, x);
      STORE_LANES(row + LANES, right_mask, y);
    }
    return;
  }
  float partial[MR * NR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    STORE(partial + i * NR, left[i]);
    STORE(partial + i * NR + LANES, right[i]);
  }
  cnnc_store_partial(partial, NR, c, ldc, e, (size_t)rows, nr);
}

// `rows` is a constant in every caller, so the loops unroll and the accumulators stay in
// registers. A's panel keeps its MR stride whatever `rows` is. Per step of k, two loads of B's
// row and one broadcast per row of A feed two FMAs per row. B's row p is at b + p·NR (packed),
// or, with `offsets`, at b + offsets[p] (direct convolution: a row of the image).
TARGET static inline __attribute__((always_inline)) void tile(const int rows, size_t kc,
                                                              const float *a, const float *b,
                                                              const int32_t *offsets, float *c,
                                                              size_t ldc, const cnnc_epilogue *e,
                                                              size_t nr) {
  vec left[MR], right[MR];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    left[i] = ZERO();
    right[i] = ZERO();
  }
  for (size_t p = 0; p < kc; p++) {
    const float *row = offsets ? b + offsets[p] : b + p * NR;
    // The direct path's next tile (NR columns on) reads these rows' next lines.
    if (offsets) _mm_prefetch((const char *)(row + 2 * NR), _MM_HINT_T0);
    const vec b0 = LOAD(row);
    const vec b1 = LOAD(row + LANES);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      const vec ai = SET1(a[i]);
      left[i] = FMA(ai, b0, left[i]);
      right[i] = FMA(ai, b1, right[i]);
    }
    a += MR;
  }
  store_tile(rows, left, right, c, ldc, e, nr);
}

// A kernel per row count, so a tile at C's bottom edge computes no padding rows. `offsets` is a
// constant NULL in kernel_R and never NULL in direct_R, so each compiles to one loop without a
// branch.
#define KERNEL_ROWS(R)                                                                       \
  TARGET static void kernel_##R(size_t kc, const float *a, const float *b, float *c,          \
                                size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {   \
    (void)mr;                                                                                \
    tile(R, kc, a, b, NULL, c, ldc, e, nr);                                                  \
  }
#define KERNEL_ENTRY(R) kernel_##R,
EACH_ROW_COUNT(KERNEL_ROWS)

static const cnnc_microkernel by_rows[MR + 1] = {NULL, EACH_ROW_COUNT(KERNEL_ENTRY)};

static void kernel(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                   const cnnc_epilogue *e, size_t mr, size_t nr) {
  by_rows[mr](kc, a, b, c, ldc, e, mr, nr);
}

#if DIRECT
#define DIRECT_ROWS(R)                                                                       \
  TARGET static void direct_##R(size_t kc, const float *a, const float *b,                   \
                                const int32_t *offsets, float *c, size_t ldc,                \
                                const cnnc_epilogue *e, size_t nr) {                         \
    tile(R, kc, a, b, offsets, c, ldc, e, nr);                                               \
  }
#define DIRECT_ENTRY(R) direct_##R,
EACH_ROW_COUNT(DIRECT_ROWS)

typedef void (*direct_rows)(size_t kc, const float *a, const float *b, const int32_t *offsets,
                            float *c, size_t ldc, const cnnc_epilogue *e, size_t nr);
static const direct_rows direct_by_rows[MR + 1] = {NULL, EACH_ROW_COUNT(DIRECT_ENTRY)};

static void direct(size_t kc, const float *a, const float *b, const int32_t *offsets, float *c,
                   size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {
  direct_by_rows[mr](kc, a, b, offsets, c, ldc, e, nr);
}
#endif

#include "small_nt.h"

// The FMA peak: as many independent chains as the microkernel has accumulators (2 · MR), on
// registers only.
TARGET static double fma_loop(uint64_t iterations, float *sink) {
  enum { CHAINS = 2 * MR };
  vec acc[CHAINS];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i * 1e-3f);
  const vec x = SET1(0.999999f), y = SET1(1e-7f);
  for (uint64_t n = 0; n < iterations; n++) {
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], x, y);
  }
  vec total = acc[0];
  _Pragma("clang loop unroll(full)")
  for (int i = 1; i < CHAINS; i++) total = ADD(total, acc[i]);
  *sink = sum_sink(total);
  return (double)iterations * CHAINS * LANES * 2;
}
