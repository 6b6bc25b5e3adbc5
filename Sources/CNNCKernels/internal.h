// Shared between the GEMM driver and the per-instruction-set microkernels.
#ifndef CNNC_KERNELS_INTERNAL_H
#define CNNC_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

// The microkernel: C[0..mr)[0..nc) = A_panel · B_panel + beta · C, where A_panel is
// MR rows packed column by column (kc columns of MR floats) and B_panel is kc rows of NR floats.
// mr ≤ MR and nr ≤ NR; a partial tile is computed whole and only its mr×nr corner is stored.
typedef void (*cnnc_microkernel)(size_t kc, const float *a, const float *b, float *c,
                                 size_t ldc, float beta, size_t mr, size_t nr);

typedef struct {
  size_t mr;
  size_t nr;
  cnnc_microkernel kernel;
  double (*fma_loop)(uint64_t iterations, float *sink);
} cnnc_gemm_path;

extern const cnnc_gemm_path cnnc_path_portable;
extern const cnnc_gemm_path cnnc_path_avx2;
extern const cnnc_gemm_path cnnc_path_avx512;

// Stores a computed MR×NR tile (row stride `tile_columns`) into C's mr×nr corner:
// c = tile when beta == 0 (C is not read), c + tile when beta == 1, else fma(beta, c, tile).
static inline void cnnc_store_partial(const float *tile, size_t tile_columns, float *c,
                                      size_t ldc, float beta, size_t mr, size_t nr) {
  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nr; j++) {
      float value = tile[i * tile_columns + j];
      float *target = &c[i * ldc + j];
      if (beta == 0.0f) {
        *target = value;
      } else if (beta == 1.0f) {
        *target += value;
      } else {
        *target = __builtin_fmaf(beta, *target, value);
      }
    }
  }
}

#endif
