// The weight gradient of a stride-1 convolution as a direct correlation:
//
//   dW[f][c][ky][kx] = Σ_n Σ_oy Σ_ox dY[n][f][oy][ox] · x[n][c][oy + ky − pad_h][ox + kx − pad_w]
//
// With the image zero-padded once, row oy of dY[f] meets a contiguous run of the padded image's
// row oy + ky starting at column kx, so each term is a dot product of two rows: no column matrix
// is written (the im2col route writes channels·kh·kw times the image per image, 590 KB for a
// 16-channel 32×32 3×3 layer, more than a Zen 3 core's L2) and nothing is packed. Registers hold
// a tile of 3 filters × 3 horizontal taps, eight output columns at a time (sixteen on AVX-512),
// over a pass of a few images: enough rows (128 vectors of eight) that summing the registers at
// the end of the pass costs little (per image, an 8×8 plane's 9 sums cost as much as its 72
// multiply-adds). Tiles go filters first, then channels and taps: the three filters' dY rows
// stay in L1 while every channel's image rows stream past (channels first re-read all of dY
// from L2 for each channel: 2.85 against 2.42 ms for a 16-channel 32×32 layer over 64 images,
// AMD EPYC Zen 5).
#include "cnnc_kernels.h"
#include "internal.h"
#include "vectors.h"

#include <string.h>

enum { FILTER_TILE = 3, TAP_TILE = 3 };

// A 1×1 or 1×2 window would load a row of the image for every one or two products; the batch
// GEMM (weight_gradient_gemm.c) serves those (for pointwise windows it gathers from the image
// what the per-image GEMM read unpacked: not measured on MobileNet's layers). Rows of
// fewer than three vectors leave too little work per loaded row: on AMD EPYC Zen 3 (avx2, one
// thread, `cnnc bench Models/resnet20.yaml`), ResNet-20's layers' backward (dW direct, dX by
// Winograd) took 10.4 ms against 12.5 with dW by GEMM at 32×32 (16 channels), but 10.3 against
// 9.8 at 16×16 (32 channels) and 13.8 against 10.8 at 8×8 (64 channels), per step of 64 images.
int cnnc_weight_gradient_applies(const cnnc_window *g) {
  return g->stride_h == 1 && g->stride_w == 1 && g->kernel_w >= 3 && g->out_h > 0 &&
         g->out_w >= 24 && g->channels > 0;
}

// Images padded and summed over together.
static size_t images_per_pass(const cnnc_window *g, size_t batch) {
  const size_t vectors = g->out_h * ((g->out_w + 7) / 8);
  const size_t images = (128 + vectors - 1) / vectors;
  return images < batch ? images : batch;
}

size_t cnnc_weight_gradient_workspace_floats(const cnnc_window *g, size_t batch) {
  return images_per_pass(g, batch) * cnnc_padded_floats(g);
}



// dW[f0 + i][c][ky][kx0 + j] += the pass's share from output columns [from, to), for i < ft
// filters and j < kt taps: whole vectors of LANES columns in registers, then any last columns
// one by one. Written once, as a macro, for eight lanes and for sixteen (the AVX-512 path's
// width): one vector type per function, so clang keeps every accumulator in a register (a
// function with both kinds spilled them).
// With stride 1, out_w + kernel_w − 1 is the padded row's width: every tap's run of out_w
// columns stays inside its row.
// Image m of the pass is at padded + m·padded_floats, its output gradient at dy + m·dy_stride.
#define TILE(NAME, VECTOR, LANES, SUM)                                                          \
  static inline __attribute__((always_inline)) void NAME(                                       \
      const int ft, const int kt, const cnnc_window *g, size_t images, const float *dy,         \
      size_t dy_stride, const float *padded, size_t f0, size_t c, size_t ky, size_t kx0,        \
      size_t from, size_t to, float *dw) {                                                      \
    const size_t plane = g->out_h * g->out_w, wp = g->width + 2 * g->pad_w;                     \
    const size_t hp = g->height + 2 * g->pad_h, whole = from + (to - from) / LANES * LANES;     \
    VECTOR acc[FILTER_TILE][TAP_TILE];                                                          \
    float tail[FILTER_TILE][TAP_TILE];                                                          \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < ft; i++) {                           \
      _Pragma("clang loop unroll(full)") for (int j = 0; j < kt; j++) {                         \
        acc[i][j] = 0;                                                                          \
        tail[i][j] = 0;                                                                         \
      }                                                                                         \
    }                                                                                           \
    const size_t image_floats = cnnc_padded_floats(g);                                          \
    for (size_t m = 0; m < images; m++) {                                                       \
      const float *x = padded + m * image_floats + (c * hp + ky) * wp + kx0;                    \
      const float *d = dy + m * dy_stride + f0 * plane;                                         \
      for (size_t oy = 0; oy < g->out_h; oy++, x += wp, d += g->out_w) {                        \
        for (size_t ox = from; ox < whole; ox += LANES) {                                       \
          VECTOR dv[FILTER_TILE];                                                               \
          _Pragma("clang loop unroll(full)") for (int i = 0; i < ft; i++) {                     \
            dv[i] = VLOAD(VECTOR, d + i * plane + ox);                                          \
          }                                                                                     \
          _Pragma("clang loop unroll(full)") for (int j = 0; j < kt; j++) {                     \
            const VECTOR xv = VLOAD(VECTOR, x + ox + j);                                        \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < ft; i++) {                   \
              acc[i][j] += dv[i] * xv;                                                          \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
        for (size_t ox = whole; ox < to; ox++) {                                                \
          _Pragma("clang loop unroll(full)") for (int i = 0; i < ft; i++) {                     \
            _Pragma("clang loop unroll(full)") for (int j = 0; j < kt; j++) {                   \
              tail[i][j] += d[i * plane + ox] * x[ox + j];                                      \
            }                                                                                   \
          }                                                                                     \
        }                                                                                       \
      }                                                                                         \
    }                                                                                           \
    const size_t taps = g->kernel_h * g->kernel_w, patch = g->channels * taps;                  \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < ft; i++) {                           \
      _Pragma("clang loop unroll(full)") for (int j = 0; j < kt; j++) {                         \
        dw[(f0 + i) * patch + c * taps + ky * g->kernel_w + kx0 + j] +=                         \
            SUM(acc[i][j]) + tail[i][j];                                                        \
      }                                                                                         \
    }                                                                                           \
  }
TILE(tile8, f8, 8, VSUM8)
TILE(tile16, f16, 16, VSUM16)

// Both widths over one row's columns: sixteen lanes first when `wide`, eight for the rest.
static inline __attribute__((always_inline)) void tile(
    const int wide, const int ft, const int kt, const cnnc_window *g, size_t images,
    const float *dy, size_t dy_stride, const float *padded, size_t f0, size_t c, size_t ky,
    size_t kx0, float *dw) {
  const size_t sixteens = wide ? g->out_w / 16 * 16 : 0;
  if (sixteens > 0) {
    tile16(ft, kt, g, images, dy, dy_stride, padded, f0, c, ky, kx0, 0, sixteens, dw);
  }
  if (sixteens < g->out_w) {
    tile8(ft, kt, g, images, dy, dy_stride, padded, f0, c, ky, kx0, sixteens, g->out_w, dw);
  }
}

// One pass's share of every weight's gradient, added to dw.
static inline __attribute__((always_inline)) void pass_share(const int wide,
                                                             const cnnc_window *g,
                                                             size_t filters, size_t images,
                                                             const float *dy, size_t dy_stride,
                                                             const float *padded, float *dw) {
  for (size_t f0 = 0; f0 < filters; f0 += FILTER_TILE) {
    const size_t ft = min_size(FILTER_TILE, filters - f0);
    for (size_t c = 0; c < g->channels; c++) {
      for (size_t ky = 0; ky < g->kernel_h; ky++) {
        for (size_t kx0 = 0; kx0 < g->kernel_w; kx0 += TAP_TILE) {
          const size_t kt = min_size(TAP_TILE, g->kernel_w - kx0);
          // Constant tile sizes, so each case keeps its accumulators in registers.
          switch (ft * 4 + kt) {
            case 15: tile(wide, 3, 3, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 14: tile(wide, 3, 2, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 13: tile(wide, 3, 1, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 11: tile(wide, 2, 3, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 10: tile(wide, 2, 2, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 9: tile(wide, 2, 1, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 7: tile(wide, 1, 3, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            case 6: tile(wide, 1, 2, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
            default: tile(wide, 1, 1, g, images, dy, dy_stride, padded, f0, c, ky, kx0, dw); break;
          }
        }
      }
    }
  }
}

typedef void (*pass_function)(const cnnc_window *, size_t, size_t, const float *, size_t,
                              const float *, float *);
#define PASS_SHARE(SUFFIX, WIDE, ATTRIBUTES)                                                       \
  ATTRIBUTES static void pass_share_##SUFFIX(const cnnc_window *g, size_t filters,          \
                                             size_t images, const float *dy,               \
                                             size_t dy_stride, const float *padded,        \
                                             float *dw) {                                  \
    pass_share(WIDE, g, filters, images, dy, dy_stride, padded, dw);                       \
  }
PASS_SHARE(portable, 0, )
#if defined(__x86_64__)
PASS_SHARE(avx2, 0, __attribute__((target("avx2,fma"))))
PASS_SHARE(avx512, 1, __attribute__((target("avx512f"))))
#endif

void cnnc_conv_weight_gradient(cnnc_isa isa, const cnnc_window *g, size_t filters,
                               const float *images, size_t image_stride, const float *gradients,
                               size_t gradient_stride, size_t batch, float *dw,
                               float *workspace) {
  pass_function share = pass_share_portable;
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) share = pass_share_avx512;
  if (isa == CNNC_ISA_AVX2) share = pass_share_avx2;
#endif
  (void)isa;
  memset(dw, 0, filters * g->channels * g->kernel_h * g->kernel_w * sizeof(float));
  const size_t per_pass = images_per_pass(g, batch);
  for (size_t first = 0; first < batch; first += per_pass) {
    const size_t count = min_size(per_pass, batch - first);
    for (size_t m = 0; m < count; m++) {
      cnnc_pad_image(g, images + (first + m) * image_stride,
                     workspace + m * cnnc_padded_floats(g));
    }
    share(g, filters, count, gradients + first * gradient_stride, gradient_stride, workspace, dw);
  }
}
