// Shared between the GEMM driver and the per-instruction-set microkernels.
#ifndef CNNC_KERNELS_INTERNAL_H
#define CNNC_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cnnc_kernels.h"

// What a tile adds to A·B when it stores it: beta · C, and a bias per row or per column of C
// (NULL: none), already offset to the tile's first row and column; then, with `relu`, the
// stored value is max(value, 0) (a convolution whose ReLU an inference plan fused into it).
typedef struct {
  float beta;
  const float *row_bias;
  const float *column_bias;
  int relu;
} cnnc_epilogue;

// ReLU exactly as the Swift kernel computes it, max(v, 0) = 0 >= v ? 0 : v: −0 becomes +0 and
// NaN stays NaN, so a fused ReLU gives the unfused plan's bits.
static inline float cnnc_relu(float v) { return 0.0f >= v ? 0.0f : v; }

// The microkernel: C[0..mr)[0..nc) = A_panel · B_panel + epilogue, where A_panel is
// MR rows packed column by column (kc columns of MR floats) and B_panel is kc rows of NR floats.
// mr ≤ MR and nr ≤ NR; a partial tile is computed whole and only its mr×nr corner is stored.
typedef void (*cnnc_microkernel)(size_t kc, const float *a, const float *b, float *c,
                                 size_t ldc, const cnnc_epilogue *epilogue, size_t mr,
                                 size_t nr);

// out[p·width + r] = source[r·ld + p] for r < count, p < kc; rows count..width are zeros.
typedef void (*cnnc_transpose_pack)(const float *source, size_t ld, size_t count, size_t kc,
                                    size_t width, float *out);

// C (m×n) = A · Bᵀ + beta·C for m ≤ SMALL_M rows, straight from A's and B's rows (dot
// products, no packing): a dense layer at a small batch reads its weights once instead of
// packing (transposing) them on every call.
enum { SMALL_M = 8 };
typedef void (*cnnc_small_nt)(size_t m, size_t n, size_t k, const float *a, size_t lda,
                              const float *b, size_t ldb, const cnnc_epilogue *epilogue,
                              float *c, size_t ldc);

// The microkernel with B's row p at b + offsets[p] instead of packed: direct convolution
// reads the rows of the column matrix straight from a zero-padded image.
typedef void (*cnnc_direct_kernel)(size_t kc, const float *a, const float *b,
                                   const int32_t *offsets, float *c, size_t ldc,
                                   const cnnc_epilogue *epilogue, size_t mr, size_t nr);

typedef struct {
  size_t mr;
  size_t nr;
  cnnc_microkernel kernel;
  cnnc_transpose_pack transpose_pack;
  cnnc_small_nt small_nt;  // NULL: small products take the packed route

  double (*fma_loop)(uint64_t iterations, float *sink);
  cnnc_direct_kernel direct;  // NULL: convolutions always pack
} cnnc_gemm_path;

// out[p·width + r] = rows[r][p] for r < count ≤ 32, p < kc; rows count..width are zeros: the
// transposing copy from rows anywhere (a column matrix's rows read from a padded image).
void cnnc_gather_pack_avx2(const float *const *rows, size_t count, size_t kc, size_t width,
                           float *out);
void cnnc_gather_pack_portable(const float *const *rows, size_t count, size_t kc, size_t width,
                               float *out);
void cnnc_transpose_pack_avx2(const float *source, size_t ld, size_t count, size_t kc,
                              size_t width, float *out);
void cnnc_transpose_pack_portable(const float *source, size_t ld, size_t count, size_t kc,
                                  size_t width, float *out);

static inline size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t round_up(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Copies a short run of floats (a row of outputs, 8 to 32 long): fixed-size memcpys compile to
// single vector moves, where a loop of unknown length stays scalar and a call to memcpy costs
// more than the copy.
static inline void cnnc_copy_floats(float *restrict to, const float *restrict from, size_t count) {
  size_t t = 0;
  for (; t + 8 <= count; t += 8) memcpy(to + t, from + t, 8 * sizeof(float));
  if (t + 4 <= count) {
    memcpy(to + t, from + t, 4 * sizeof(float));
    t += 4;
  }
  for (; t < count; t++) to[t] = from[t];
}

// Floats of an image zero-padded by pad_h rows and pad_w columns on each side.
static inline size_t cnnc_padded_floats(const cnnc_window *g) {
  return g->channels * (g->height + 2 * g->pad_h) * (g->width + 2 * g->pad_w);
}

// The image (channels × height × width) copied into the middle of its zero-padded plane.
void cnnc_pad_image(const cnnc_window *g, const float *image, float *padded);

// The path that runs `isa`.
const cnnc_gemm_path *cnnc_path(cnnc_isa isa);

// Where cnnc_pack_a puts element (i, p) of an m×k op(A): A's panels are cut in slices of
// cnnc_gemm_slice columns, and the microkernel multiplies one slice at a time.
size_t cnnc_packed_a_index(cnnc_isa isa, size_t m, size_t k, size_t i, size_t p);
enum { cnnc_gemm_slice = 256 };
// The GEMM's blocks (gemm.c): rows of A (MC) and columns of B (NC) packed at a time.
enum { cnnc_gemm_block_rows = 96, cnnc_gemm_block_columns = 512 };

extern const cnnc_gemm_path cnnc_path_portable;
extern const cnnc_gemm_path cnnc_path_avx2;
extern const cnnc_gemm_path cnnc_path_avx512;

// Stores one value of C (row i, column j of a tile) with the epilogue, whose beta the caller
// read: value plus the biases, then c + value when beta == 1, fma(beta, c, value) for another
// nonzero beta (C is not read when beta == 0), then the ReLU. The vector microkernels' epilogue
// (gemm_microkernel.h) adds in this order too.
static inline void cnnc_store_one(float *target, float value, float beta, const cnnc_epilogue *e,
                                  size_t i, size_t j) {
  if (e->row_bias) value += e->row_bias[i];
  if (e->column_bias) value += e->column_bias[j];
  if (beta == 1.0f) {
    value += *target;
  } else if (beta != 0.0f) {
    value = __builtin_fmaf(beta, *target, value);
  }
  *target = e->relu ? cnnc_relu(value) : value;
}

// Stores a computed MR×NR tile (row stride `tile_columns`) into C's mr×nr corner.
static inline void cnnc_store_partial(const float *tile, size_t tile_columns, float *c,
                                      size_t ldc, const cnnc_epilogue *e, size_t mr, size_t nr) {
  const float beta = e->beta;
  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nr; j++) {
      const float value = tile[i * tile_columns + j];
      cnnc_store_one(&c[i * ldc + j], value, beta, e, i, j);
    }
  }
}

#endif
