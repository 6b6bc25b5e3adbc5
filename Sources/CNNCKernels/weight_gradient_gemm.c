// The weight gradient of a stride-1 convolution as one matrix product over a whole batch:
//
//   dW (filters × patch) = Σ_n dY[n] (filters × plane) · im2col(x[n])ᵀ (plane × patch)
//                        = dY_all (filters × batch·plane) · im2col_allᵀ
//
// where the k index runs over every output position of every image. Done image by image (the
// `gemm` lowering), each product has k = plane only (64 on an 8×8 plane), writes and rereads a
// column matrix, and adds into dW once per image; here k is the batch's, so the microkernel
// sums KC positions (several small images) per visit to C, and the columns go straight from
// the images into the packed B panels: no column matrix. The loops are the GEMM's (gemm.c)
// with its two packings replaced: A from dY's per-image planes, B by a transposing copy from
// rows of zero-padded images (with stride 1, row (c, ky, kx) of the column matrix along an
// output row is a contiguous run of padded row oy + ky from column kx). Only the images a
// slice of k touches are padded, each once.
#include "cnnc_kernels.h"
#include "internal.h"

#include <string.h>

// The GEMM's block sizes (gemm.c): KC positions per slice, MC filters, NC patch rows per block.
enum {
  KC = cnnc_gemm_slice,
  MC = cnnc_gemm_block_rows,
  NC = cnnc_gemm_block_columns,
  MR_BOUND = CNNC_MR_BOUND,
  NR_BOUND = CNNC_NR_BOUND
};

int cnnc_weight_gradient_gemm_applies(const cnnc_window *g) {
  return g->stride_h == 1 && g->stride_w == 1;
}

static size_t packed_a_floats(size_t filters) {
  return round_up(min_size(filters, MC), MR_BOUND) * KC;
}

static size_t packed_b_floats(const cnnc_window *g) {
  const size_t patch = g->channels * g->kernel_h * g->kernel_w;
  return round_up(min_size(patch, NC), NR_BOUND) * KC;
}


// The most images one slice of KC positions touches: a slot for each.
static size_t slots(const cnnc_window *g, size_t batch) {
  const size_t plane = g->out_h * g->out_w;
  const size_t most = (KC - 1) / plane + 2;
  return most < batch ? most : batch;
}

size_t cnnc_weight_gradient_gemm_workspace_floats(const cnnc_window *g, size_t filters,
                                                  size_t batch) {
  return packed_a_floats(filters) + packed_b_floats(g) +
         slots(g, batch) * cnnc_padded_floats(g);
}


typedef void (*gather_pack)(const float *const *rows, size_t count, size_t kc, size_t width,
                            float *out);

// B = im2col_allᵀ[first : first+kc, row0 : row0+rows] in panels of nr columns (rows of the
// column matrix), each kc rows of nr floats, as gemm.c's pack_b lays them out. Image n's
// padded copy is at padded + (n mod slots)·padded_floats.
static void pack_columns(const cnnc_window *g, gather_pack gather, size_t nr,
                         const float *padded, size_t slot_count, size_t first, size_t kc,
                         size_t row0, size_t rows, float *out) {
  const size_t plane = g->out_h * g->out_w, image = cnnc_padded_floats(g);
  const size_t hp = g->height + 2 * g->pad_h, wp = g->width + 2 * g->pad_w;
  const size_t taps = g->kernel_h * g->kernel_w;
  for (size_t panel = 0; panel < rows; panel += nr) {
    const size_t count = min_size(nr, rows - panel);
    size_t offsets[NR_BOUND];
    for (size_t r = 0; r < count; r++) {
      const size_t row = row0 + panel + r, c = row / taps;
      const size_t ky = row / g->kernel_w % g->kernel_h, kx = row % g->kernel_w;
      offsets[r] = (c * hp + ky) * wp + kx;
    }
    // Runs along output rows; image, row and column stepped, not divided out.
    size_t n = first / plane, oy = first % plane / g->out_w, ox = first % g->out_w;
    for (size_t done = 0; done < kc;) {
      const size_t length = min_size(g->out_w - ox, kc - done);
      const float *base = padded + n % slot_count * image + oy * wp + ox;
      const float *sources[NR_BOUND];
      for (size_t r = 0; r < count; r++) sources[r] = base + offsets[r];
      gather(sources, count, length, nr, out + done * nr);
      done += length;
      ox = 0;
      if (++oy == g->out_h) {
        oy = 0;
        n++;
      }
    }
    out += nr * kc;
  }
}

// A = dY_all[f0 : f0+filters, first : first+kc] in panels of mr rows, each kc columns of mr
// floats: each image's part of the slice is one transposing copy.
static void pack_gradients(const cnnc_gemm_path *path, const cnnc_window *g,
                           const float *gradients, size_t gradient_stride, size_t f0,
                           size_t filters, size_t first, size_t kc, float *out) {
  const size_t plane = g->out_h * g->out_w, mr = path->mr;
  for (size_t panel = 0; panel < filters; panel += mr) {
    const size_t count = min_size(mr, filters - panel);
    for (size_t q = first; q < first + kc;) {
      const size_t n = q / plane, position = q % plane;
      const size_t length = min_size(plane - position, first + kc - q);
      const float *source = gradients + n * gradient_stride + (f0 + panel) * plane + position;
      path->transpose_pack(source, plane, count, length, mr, out + (q - first) * mr);
      q += length;
    }
    out += mr * kc;
  }
}

void cnnc_conv_weight_gradient_gemm(cnnc_isa isa, const cnnc_window *g, size_t filters,
                                    const float *images, size_t image_stride,
                                    const float *gradients, size_t gradient_stride,
                                    size_t batch, float *dw, float *workspace) {
  const cnnc_gemm_path *path = cnnc_path(isa);
  const size_t patch = g->channels * g->kernel_h * g->kernel_w, plane = g->out_h * g->out_w;
  const size_t k = batch * plane, mr = path->mr, nr = path->nr;
  if (filters == 0 || patch == 0) return;
  if (k == 0) {
    memset(dw, 0, filters * patch * sizeof(float));
    return;
  }
  gather_pack gather = cnnc_gather_pack_portable;
#if defined(__x86_64__)
  if (isa != CNNC_ISA_PORTABLE) gather = cnnc_gather_pack_avx2;
#endif
  float *packed_a = workspace;
  float *packed_b = packed_a + packed_a_floats(filters);
  float *padded = packed_b + packed_b_floats(g);
  const size_t slot_count = slots(g, batch);
  size_t padded_to = 0;  // images 0..<padded_to have been padded
  for (size_t pc = 0; pc < k; pc += KC) {
    const size_t kc = min_size(KC, k - pc);
    for (size_t n = pc / plane; n <= (pc + kc - 1) / plane; n++) {
      if (n < padded_to) continue;
      cnnc_pad_image(g, images + n * image_stride,
                     padded + n % slot_count * cnnc_padded_floats(g));
      padded_to = n + 1;
    }
    const cnnc_epilogue epilogue = {pc == 0 ? 0.0f : 1.0f, NULL, NULL};
    for (size_t jc = 0; jc < patch; jc += NC) {
      const size_t nc = min_size(NC, patch - jc);
      pack_columns(g, gather, nr, padded, slot_count, pc, kc, jc, nc, packed_b);
      for (size_t ic = 0; ic < filters; ic += MC) {
        const size_t mc = min_size(MC, filters - ic);
        pack_gradients(path, g, gradients, gradient_stride, ic, mc, pc, kc, packed_a);
        for (size_t jr = 0; jr < nc; jr += nr) {
          for (size_t ir = 0; ir < mc; ir += mr) {
            path->kernel(kc, packed_a + ir * kc, packed_b + jr * kc,
                         dw + (ic + ir) * patch + jc + jr, patch, &epilogue,
                         min_size(mr, mc - ir), min_size(nr, nc - jr));
          }
        }
      }
    }
  }
}
