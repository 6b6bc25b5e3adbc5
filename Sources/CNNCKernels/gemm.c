// GEMM as five loops around one register-tiled microkernel (the BLIS structure):
//
//   for jc in steps of NC over n:           a block of B's columns
//     for pc in steps of KC over k:         pack B[pc:+kc, jc:+nc] into NR-wide panels
//       for ic in steps of MC over m:       pack A[ic:+mc, pc:+kc] into MR-tall panels
//         for jr in steps of NR over nc:    one B panel (kc×NR), reused by every A panel
//           for ir in steps of MR over mc:  microkernel: an MR×NR tile of C
//
// Only the microkernel knows the instruction set. Packing pads edge panels with zeros, so the
// microkernel always runs its whole tile and stores the part inside C. The sum over k runs in
// the same order wherever a tile sits, so results do not depend on the shape's blocking.
#include "cnnc_kernels.h"
#include "internal.h"

#include <string.h>

// Block sizes in elements. MC and NC are multiples of every path's MR (4, 6, 12) and NR (16,
// 32); the packed A block (MC×KC, 96 KiB) stays in L2 and a B panel (KC×NR, ≤ 32 KiB) in L1.
enum {
  MC = cnnc_gemm_block_rows,
  KC = cnnc_gemm_slice,
  NC = cnnc_gemm_block_columns,
  MR_BOUND = CNNC_MR_BOUND,
  NR_BOUND = CNNC_NR_BOUND
};


const cnnc_gemm_path *cnnc_path(cnnc_isa isa) {
  switch (isa) {
    case CNNC_ISA_AVX512: return &cnnc_path_avx512;
    case CNNC_ISA_AVX2: return &cnnc_path_avx2;
    default: return &cnnc_path_portable;
  }
}

double cnnc_fma_peak_loop(cnnc_isa isa, uint64_t iterations, float *sink) {
  return cnnc_path(isa)->fma_loop(iterations, sink);
}

// The packed A block comes first, sized for the largest MR; the B block follows it.
static size_t packed_a_floats(size_t m, size_t k) {
  return round_up(min_size(m, MC), MR_BOUND) * min_size(k, KC);
}

size_t cnnc_gemm_workspace_floats(size_t m, size_t n, size_t k) {
  if (m == 0 || n == 0 || k == 0) return 0;
  return packed_a_floats(m, k) + min_size(k, KC) * round_up(min_size(n, NC), NR_BOUND);
}

// One packed row of `width` floats: `count` copied, the rest zeros (a panel's edge).
static inline void copy_padded(float *to, const float *from, size_t count, size_t width) {
  cnnc_copy_floats(to, from, count);
  for (size_t t = count; t < width; t++) to[t] = 0;
}

// op(A)[row0 : row0+rows, col0 : col0+kc] into panels of mr rows, each stored column by
// column (kc columns of mr floats); rows past the edge are zeros.
static void pack_a(const cnnc_gemm_path *path, int trans, const float *a, size_t lda,
                   size_t row0, size_t rows, size_t col0, size_t kc, float *out) {
  const size_t mr = path->mr;
  for (size_t first = 0; first < rows; first += mr) {
    size_t count = min_size(mr, rows - first);
    if (trans) {
      // op(A)(i, p) = a[p·lda + i]: each column of the panel is contiguous in a.
      for (size_t p = 0; p < kc; p++) {
        copy_padded(out + p * mr, a + (col0 + p) * lda + row0 + first, count, mr);
      }
    } else {
      // op(A)(i, p) = a[i·lda + p]: a transposing copy.
      path->transpose_pack(a + (row0 + first) * lda + col0, lda, count, kc, mr, out);
    }
    out += mr * kc;
  }
}

// op(B)[row0 : row0+kc, col0 : col0+columns] into panels of nr columns, each stored row by row
// (kc rows of nr floats); columns past the edge are zeros.
static void pack_b(const cnnc_gemm_path *path, int trans, const float *b, size_t ldb,
                   size_t row0, size_t kc, size_t col0, size_t columns, float *out) {
  const size_t nr = path->nr;
  for (size_t first = 0; first < columns; first += nr) {
    size_t count = min_size(nr, columns - first);
    if (trans) {
      // op(B)(p, j) = b[j·ldb + p]: a transposing copy.
      path->transpose_pack(b + (col0 + first) * ldb + row0, ldb, count, kc, nr, out);
    } else {
      for (size_t p = 0; p < kc; p++) {
        copy_padded(out + p * nr, b + (row0 + p) * ldb + col0 + first, count, nr);
      }
    }
    out += nr * kc;
  }
}

// im2col(image)[row0 : row0+kc, col0 : col0+columns] into panels of nr columns, as pack_b
// lays out a matrix: row p of the column matrix is input pixel (ki, kj) of channel c, with
// p = (c·kernel_h + ki)·kernel_w + kj; column j is output (j / out_w, j % out_w).
//
// A panel's columns fall into runs along rows of outputs; the runs are found once per panel,
// then each of the kc rows copies its pixels run by run.
static void pack_b_image(const cnnc_window *g, const float *image, size_t row0, size_t kc,
                         size_t col0, size_t columns, size_t nr, float *out) {
  enum { MAX_RUNS = 64 };  // a panel of nr ≤ 32 columns spans at most nr runs
  const long height = (long)g->height, width = (long)g->width;
  const long sh = (long)g->stride_h, sw = (long)g->stride_w;
  for (size_t first = 0; first < columns; first += nr) {
    size_t count = min_size(nr, columns - first);
    // Each run: its first column in the panel, length, and first output's (oy, ox).
    size_t run_start[MAX_RUNS], run_length[MAX_RUNS];
    long run_y[MAX_RUNS], run_x[MAX_RUNS];
    size_t runs = 0;
    for (size_t j = 0; j < count;) {
      size_t output = col0 + first + j;
      size_t oy = output / g->out_w, ox = output % g->out_w;
      size_t length = min_size(g->out_w - ox, count - j);
      run_start[runs] = j;
      run_length[runs] = length;
      run_y[runs] = (long)oy * sh - (long)g->pad_h;
      run_x[runs] = (long)ox * sw - (long)g->pad_w;
      runs++;
      j += length;
    }
    size_t c = row0 / (g->kernel_h * g->kernel_w);
    size_t ki = (row0 / g->kernel_w) % g->kernel_h, kj = row0 % g->kernel_w;
    for (size_t p = 0; p < kc; p++) {
      float *target = out + p * nr;
      const float *plane = image + c * g->height * g->width;
      for (size_t r = 0; r < runs; r++) {
        float *to = target + run_start[r];
        size_t length = run_length[r];
        long iy = run_y[r] + (long)ki, ix = run_x[r] + (long)kj;
        if (iy < 0 || iy >= height) {
          for (size_t t = 0; t < length; t++) to[t] = 0;
          continue;
        }
        const float *row = plane + iy * width;
        if (sw == 1 && ix >= 0 && ix + (long)length <= width) {
          cnnc_copy_floats(to, row + ix, length);
        } else if (sw == 2 && ix >= 0 && ix + 2 * (long)(length - 1) < width) {
          // Stride 2 inside the row: a constant stride the compiler turns into loads and
          // shuffles (ResNet's downsampling layers packed element by element before).
          const float *from = row + ix;
          for (size_t t = 0; t < length; t++) to[t] = from[2 * t];
        } else {
          for (size_t t = 0; t < length; t++) {
            long x = ix + (long)t * sw;
            to[t] = x >= 0 && x < width ? row[x] : 0.0f;
          }
        }
      }
      for (size_t t = count; t < nr; t++) target[t] = 0;
      // The next row of the column matrix: kj, then ki, then the channel.
      if (++kj == g->kernel_w) {
        kj = 0;
        if (++ki == g->kernel_h) {
          ki = 0;
          c++;
        }
      }
    }
    out += nr * kc;
  }
}

// k == 0: C = beta·C + bias, with nothing to multiply.
static void scale_c(size_t m, size_t n, const cnnc_epilogue *e, float *c, size_t ldc) {
  for (size_t i = 0; i < m; i++) {
    for (size_t j = 0; j < n; j++) {
      float value = e->beta == 0.0f ? 0.0f : e->beta * c[i * ldc + j];
      if (e->row_bias) value += e->row_bias[i];
      if (e->column_bias) value += e->column_bias[j];
      c[i * ldc + j] = e->relu ? cnnc_relu(value) : value;
    }
  }
}

// A packed whole (cnnc_pack_a) is the per-block packing laid end to end: for each slice of k
// (KC at a time), every MR-row panel of all m rows, so the panel of rows i.. in the slice at
// pc starts at pc·round_up(m, MR) + i·kc.
size_t cnnc_packed_a_floats(size_t m, size_t k) { return round_up(m, MR_BOUND) * k; }

size_t cnnc_packed_a_index(cnnc_isa isa, size_t m, size_t k, size_t i, size_t p) {
  const size_t mr = cnnc_path(isa)->mr;
  const size_t pc = p / KC * KC, kc = min_size(KC, k - pc);
  return pc * round_up(m, mr) + i / mr * mr * kc + (p - pc) * mr + i % mr;
}

void cnnc_pack_a(cnnc_isa isa, int trans_a, size_t m, size_t k, const float *a, size_t lda,
                 float *packed) {
  const cnnc_gemm_path *path = cnnc_path(isa);
  for (size_t pc = 0; pc < k; pc += KC) {
    size_t kc = min_size(KC, k - pc);
    pack_a(path, trans_a, a, lda, 0, m, pc, kc, packed + pc * round_up(m, path->mr));
  }
}

// The five loops; `a` is packed per block when `prepacked` is null, and B is im2col(b) when
// `window` is not null. The biases join in the first slice of k, with the caller's beta; a
// ReLU (`relu`) is applied as the last slice is stored.
static void gemm(cnnc_isa isa, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                 const float *a, size_t lda, const float *prepacked, const float *b, size_t ldb,
                 const cnnc_window *window, size_t window_column0, float beta,
                 const float *row_bias, const float *column_bias, int relu, float *c,
                 size_t ldc, float *workspace) {
  if (m == 0 || n == 0) return;
  const cnnc_epilogue whole = {beta, row_bias, column_bias, relu};
  if (k == 0) {
    scale_c(m, n, &whole, c, ldc);
    return;
  }
  const cnnc_gemm_path *path = cnnc_path(isa);
  if (!prepacked && !window && !trans_a && trans_b && m <= SMALL_M && path->small_nt) {
    path->small_nt(m, n, k, a, lda, b, ldb, &whole, c, ldc);
    return;
  }
  const size_t mr = path->mr, nr = path->nr;
  float *packed_a = workspace;
  float *packed_b = workspace + packed_a_floats(m, k);
  for (size_t jc = 0; jc < n; jc += NC) {
    size_t nc = min_size(NC, n - jc);
    for (size_t pc = 0; pc < k; pc += KC) {
      size_t kc = min_size(KC, k - pc);
      // The first slice of k applies the caller's beta and the biases; later ones add to it.
      const int first_slice = pc == 0, last_slice = pc + kc == k;
      if (window) {
        pack_b_image(window, b, pc, kc, window_column0 + jc, nc, nr, packed_b);
      } else {
        pack_b(path, trans_b, b, ldb, pc, kc, jc, nc, packed_b);
      }
      for (size_t ic = 0; ic < m; ic += MC) {
        size_t mc = min_size(MC, m - ic);
        const float *block;
        if (prepacked) {
          block = prepacked + pc * round_up(m, mr) + ic * kc;
        } else {
          pack_a(path, trans_a, a, lda, ic, mc, pc, kc, packed_a);
          block = packed_a;
        }
        for (size_t jr = 0; jr < nc; jr += nr) {
          for (size_t ir = 0; ir < mc; ir += mr) {
            const cnnc_epilogue epilogue = {
                first_slice ? beta : 1.0f,
                first_slice && row_bias ? row_bias + ic + ir : NULL,
                first_slice && column_bias ? column_bias + jc + jr : NULL,
                last_slice && relu,
            };
            path->kernel(kc, block + ir * kc, packed_b + jr * kc, c + (ic + ir) * ldc + jc + jr,
                         ldc, &epilogue, min_size(mr, mc - ir), min_size(nr, nc - jr));
          }
        }
      }
    }
  }
}

void cnnc_sgemm(cnnc_isa isa, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                size_t ldc, float *workspace) {
  gemm(isa, trans_a, trans_b, m, n, k, a, lda, NULL, b, ldb, NULL, 0, beta, NULL, NULL, 0, c,
       ldc, workspace);
}

void cnnc_sgemm_bias(cnnc_isa isa, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                     const float *a, size_t lda, const float *b, size_t ldb,
                     const float *row_bias, const float *column_bias, float *c, size_t ldc,
                     float *workspace) {
  gemm(isa, trans_a, trans_b, m, n, k, a, lda, NULL, b, ldb, NULL, 0, 0.0f, row_bias, column_bias,
       0, c, ldc, workspace);
}

void cnnc_sgemm_packed_a(cnnc_isa isa, size_t m, size_t n, size_t k, const float *packed_a,
                         int trans_b, const float *b, size_t ldb, float beta, float *c,
                         size_t ldc, float *workspace) {
  gemm(isa, 0, trans_b, m, n, k, NULL, 0, packed_a, b, ldb, NULL, 0, beta, NULL, NULL, 0, c, ldc,
       workspace);
}

// Direct convolution, for stride-1 layers with rows of at least one tile and few filters:
// there the implicit GEMM's packing is shared by only the filters' few MR-row panels (VGG-16's
// conv1_2, 64 filters on 224×224, ran at 76 GFLOP/s against 102–104 for its 256- and
// 512-filter layers). Instead the microkernel reads each row of the column matrix, for one
// tile of 32 outputs in one output row, straight from a zero-padded copy of the image: row
// (c, ky, kx) of the tile starts at padded[c][y + ky][x0 + kx]. The sums run in the same order
// as the GEMM's (blocks of KC, each added to C), so the two give bit-identical outputs.
enum { DIRECT_MAX_FILTERS = 128 };

// Workspace: the padded image, then NR_BOUND floats of slack (a tile at the end of the last
// row reads up to 31 past it, into columns it does not store), then one offset per row of the
// patch. This is the first two.
static size_t direct_image_floats(const cnnc_window *g) {
  return cnnc_padded_floats(g) + NR_BOUND;
}

static int direct_applies(const cnnc_window *g, size_t filters) {
  // Offsets into the padded image are 32-bit.
  return g->stride_h == 1 && g->stride_w == 1 && g->out_w >= NR_BOUND &&
         filters <= DIRECT_MAX_FILTERS && direct_image_floats(g) < INT32_MAX;
}

size_t cnnc_conv_workspace_floats(const cnnc_window *g, size_t filters) {
  size_t patch = g->channels * g->kernel_h * g->kernel_w;
  size_t packing = cnnc_gemm_workspace_floats(filters, g->out_h * g->out_w, patch);
  if (!direct_applies(g, filters)) return packing;
  size_t direct = direct_image_floats(g) + patch;
  return direct > packing ? direct : packing;
}

void cnnc_pad_image(const cnnc_window *g, const float *image, float *padded) {
  const size_t hp = g->height + 2 * g->pad_h, wp = g->width + 2 * g->pad_w;
  for (size_t c = 0; c < g->channels; c++) {
    float *plane = padded + c * hp * wp;
    memset(plane, 0, g->pad_h * wp * sizeof(float));
    for (size_t y = 0; y < g->height; y++) {
      float *row = plane + (g->pad_h + y) * wp;
      memset(row, 0, g->pad_w * sizeof(float));
      memcpy(row + g->pad_w, image + (c * g->height + y) * g->width, g->width * sizeof(float));
      memset(row + g->pad_w + g->width, 0, g->pad_w * sizeof(float));
    }
    memset(plane + (g->pad_h + g->height) * wp, 0, g->pad_h * wp * sizeof(float));
  }
}

static void conv_direct(const cnnc_gemm_path *path, const cnnc_window *g, size_t filters,
                        const float *packed_weights, const float *image, const float *bias,
                        int relu, float *out, float *workspace) {
  const size_t hp = g->height + 2 * g->pad_h, wp = g->width + 2 * g->pad_w;
  const size_t patch = g->channels * g->kernel_h * g->kernel_w;
  const size_t plane = g->out_h * g->out_w, mr = path->mr, nr = path->nr;
  float *padded = workspace;
  int32_t *offsets = (int32_t *)(workspace + direct_image_floats(g));
  cnnc_pad_image(g, image, padded);
  memset(padded + direct_image_floats(g) - NR_BOUND, 0, NR_BOUND * sizeof(float));
  size_t p = 0;
  for (size_t c = 0; c < g->channels; c++) {
    for (size_t ky = 0; ky < g->kernel_h; ky++) {
      for (size_t kx = 0; kx < g->kernel_w; kx++) offsets[p++] = (int32_t)((c * hp + ky) * wp + kx);
    }
  }
  const size_t panel_rows = round_up(filters, mr);
  for (size_t y = 0; y < g->out_h; y++) {
    for (size_t x0 = 0; x0 < g->out_w; x0 += nr) {
      const size_t columns = min_size(nr, g->out_w - x0);
      const float *tile_image = padded + y * wp + x0;
      float *tile_out = out + y * g->out_w + x0;
      for (size_t pc = 0; pc < patch; pc += KC) {
        const size_t kc = min_size(KC, patch - pc);
        const float *block = packed_weights + pc * panel_rows;
        for (size_t row = 0; row < filters; row += mr) {
          const cnnc_epilogue epilogue = {pc == 0 ? 0.0f : 1.0f,
                                          pc == 0 && bias ? bias + row : NULL, NULL,
                                          relu && pc + kc == patch};
          path->direct(kc, block + row * kc, tile_image, offsets + pc, tile_out + row * plane,
                       plane, &epilogue, min_size(mr, filters - row), columns);
        }
      }
    }
  }
}

void cnnc_conv_forward(cnnc_isa isa, const cnnc_window *window, size_t filters,
                       const float *packed_weights, const float *image, const float *bias,
                       int relu, size_t first_output, size_t outputs, float *out,
                       float *workspace) {
  size_t plane = window->out_h * window->out_w;
  size_t patch = window->channels * window->kernel_h * window->kernel_w;
  const cnnc_gemm_path *path = cnnc_path(isa);
  if (path->direct && first_output == 0 && outputs == plane && direct_applies(window, filters)) {
    conv_direct(path, window, filters, packed_weights, image, bias, relu, out, workspace);
    return;
  }
  gemm(isa, 0, 0, filters, outputs, patch, NULL, 0, packed_weights, image, 0, window,
       first_output, 0.0f, bias, NULL, relu, out + first_output, plane, workspace);
}

int cnnc_isa_supported(cnnc_isa isa) {
  switch (isa) {
    case CNNC_ISA_PORTABLE: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case CNNC_ISA_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CNNC_ISA_AVX512:
      // Its packing uses AVX2, which every AVX-512 CPU has.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2");
#endif
    default: return 0;
  }
}
