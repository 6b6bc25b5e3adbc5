// Portable microkernel: plain C over a 4×16 tile that the compiler vectorises for the build's
// baseline (SSE2 on x86-64, NEON on arm64). No target attributes: any CPU runs it.
#include "internal.h"

enum { MR = 4, NR = 16 };

static void kernel_4x16(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                        const cnnc_epilogue *epilogue, size_t mr, size_t nr) {
  float tile[MR * NR] = {0};
  for (size_t p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++) {
      float ai = a[i];
      for (int j = 0; j < NR; j++) tile[i * NR + j] += ai * b[j];
    }
    a += MR;
    b += NR;
  }
  cnnc_store_partial(tile, NR, c, ldc, epilogue, mr, nr);
}

void cnnc_gather_pack_portable(const float *const *rows, size_t count, size_t kc, size_t width,
                               float *out) {
  for (size_t r = 0; r < count; r++) {
    for (size_t p = 0; p < kc; p++) out[p * width + r] = rows[r][p];
  }
  for (size_t p = 0; p < kc; p++) {
    for (size_t r = count; r < width; r++) out[p * width + r] = 0;
  }
}

void cnnc_transpose_pack_portable(const float *source, size_t ld, size_t count, size_t kc,
                                  size_t width, float *out) {
  const float *rows[NR];
  for (size_t r = 0; r < count; r++) rows[r] = source + r * ld;
  cnnc_gather_pack_portable(rows, count, kc, width, out);
}

// Multiply and add in separate instructions here (no FMA in the baseline); 8 independent
// 4-lane chains.
static double fma_loop(uint64_t iterations, float *sink) {
  float acc[32];
  for (int i = 0; i < 32; i++) acc[i] = (float)i * 1e-3f;
  for (uint64_t n = 0; n < iterations; n++) {
    for (int i = 0; i < 32; i++) acc[i] = acc[i] * 0.999999f + 1e-7f;
  }
  float total = 0;
  for (int i = 0; i < 32; i++) total += acc[i];
  *sink = total;
  return (double)iterations * 32 * 2;
}

// No small-product or direct kernel: every product packs.
const cnnc_gemm_path cnnc_path_portable = {.mr = MR,
                                           .nr = NR,
                                           .kernel = kernel_4x16,
                                           .transpose_pack = cnnc_transpose_pack_portable,
                                           .fma_loop = fma_loop};
