// Winograd convolution F(m×m, r×r) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for stride-1 layers with a 3×3 window (VGG's, ResNet's) as F(4×4, 3×3) or
// F(2×2, 3×3), or a 5×5 one (LeNet's conv2) as F(2×2, 5×5).
//
// Each m×m block of outputs (a tile) of filter k is Aᵀ [Σ_c U_kc ⊙ V_c] A, where V_c = Bᵀ d B is
// the tile's α×α input window d of channel c transformed (α = m + r − 1) and U_kc = G g Gᵀ the
// filter's r×r weights g transformed. The sum over channels, for each of the α² positions ξ, is
// a matrix product M_ξ (filters × tiles) = U_ξ (filters × channels) · V_ξ (channels × tiles),
// which the GEMM microkernel runs: α² products per m² outputs instead of m²r², 4× fewer
// multiplications for F(4×4, 3×3), 2.25× for F(2×2, 3×3) and 2.78× for F(2×2, 5×5), for some
// additions per value in the transforms (more, and with larger constants, for α = 6: F(4×4,
// 3×3) rounds a little more, and pays only on wide planes, see tile_of).
//
// Tiles are numbered across the images of a batch (image, then row-major over its output
// plane) and taken a block at a time, so the transformed inputs V and products M of one block
// stay in cache and a small plane (LeNet's 8×8: 16 tiles) still fills the microkernel's panels.
// V goes, a channel at a time through staging rows, into the microkernel's packed-B layout
// (panels of NR tiles, each channels × NR), so the GEMM packs nothing; U is packed once per call
// by cnnc_winograd_pack_weights in the packed-A layout.
#include "cnnc_kernels.h"
#include "internal.h"
#include "vectors.h"

#include <string.h>

// Tiles per block: a multiple of every path's NR (16, 32).
enum { BLOCK_TILES = 64, MAX_ALPHA = 6 };
_Static_assert(MAX_ALPHA * MAX_ALPHA == CNNC_WINOGRAD_MAX_POSITIONS, "the header's bound");

// The transforms, each an α-point Toom-Cook: Bᵀ (α×α) for the input, G (α×r) for the weights,
// Aᵀ (m×α) for the output. F(2, 3) on the points 0, ±1, ∞; F(4, 3) and F(2, 5) on 0, ±1, ±2,
// ∞, so they share Bᵀ.
static const float BT4[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double G23[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const float AT23[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
static const float BT6[6][6] = {{4, 0, -5, 0, 1, 0},   {0, -4, -4, 1, 1, 0},
                                {0, 4, -4, -1, 1, 0},  {0, -2, -1, 2, 1, 0},
                                {0, 2, -1, -2, 1, 0},  {0, 4, 0, -5, 0, 1}};
static const double G43[6][3] = {{1.0 / 4, 0, 0},
                                 {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                 {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                 {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                 {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                 {0, 0, 1}};
static const float AT43[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
static const double G25[6][5] = {
    {1.0 / 4, 0, 0, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
    {1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3},
    {0, 0, 0, 0, 1}};
static const float AT25[2][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}};

int cnnc_winograd_applies(const cnnc_window *g, size_t filters) {
  const size_t r = g->kernel_h;
  return (r == 3 || r == 5) && g->kernel_w == r && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h < r && g->pad_w < r && g->out_h > 0 && g->out_w > 0 && g->channels > 0 &&
         filters > 0;
}

// The tile's side m. A 3×3 window takes F(4×4, 3×3) where a row of the output holds at least
// eight of its tiles (the transforms' vectors are eight tiles of one row: on narrower planes
// their lanes go unused and F(2×2, 3×3) measured faster: ResNet-20's 16×16 and 8×8 planes).
static size_t tile_of(const cnnc_window *g) {
  return g->kernel_h == 3 && (g->out_w + 3) / 4 >= 8 ? 4 : 2;
}
static size_t alpha_of(const cnnc_window *g) { return tile_of(g) + g->kernel_h - 1; }

// The three transforms, by window size and tile side.
enum variant { F23, F43, F25 };
static enum variant variant_of(const cnnc_window *g) {
  return g->kernel_h == 5 ? F25 : tile_of(g) == 4 ? F43 : F23;
}

size_t cnnc_winograd_tile_side(const cnnc_window *g) { return tile_of(g); }

size_t cnnc_winograd_tiles(const cnnc_window *g) {
  const size_t m = tile_of(g);
  return ((g->out_h + m - 1) / m) * ((g->out_w + m - 1) / m);
}

size_t cnnc_winograd_block_tiles(void) { return BLOCK_TILES; }

size_t cnnc_winograd_weights_floats(const cnnc_window *g, size_t filters) {
  const size_t alpha = alpha_of(g);
  return alpha * alpha * cnnc_packed_a_floats(filters, g->channels);
}

// A segment's vertical combinations: m·BLOCK_TILES + α − m columns at most (m ≤ 4), and room
// for the eight-tile steps of the horizontal pass to read past a short segment's end (32 + 4).
enum { MAX_TILE = 4, ROW_FLOATS = MAX_TILE * BLOCK_TILES + MAX_ALPHA + 40 };
enum { STAGE_FLOATS = BLOCK_TILES + 8 };

// V and M for one block; a row of zeros and two sets of the α vertical combinations; a staging row per
// position (one channel's transformed tiles, or one filter's outputs, by block column).
size_t cnnc_winograd_workspace_floats(const cnnc_window *g, size_t filters) {
  const size_t alpha = alpha_of(g);
  return alpha * alpha * (BLOCK_TILES * (g->channels + filters) + STAGE_FLOATS) +
         (1 + 2 * alpha) * ROW_FLOATS;
}

// U = G g Gᵀ for one filter's r×r weights g of one channel, in double, rounded once. Inlined
// with a constant r and m, so the loops unroll.
static inline __attribute__((always_inline)) void transform_weights(const size_t r,
                                                                    const size_t m,
                                                                    const float *w, float *u) {
  const size_t alpha = m + r - 1;
  const double *gm = r == 5 ? &G25[0][0] : m == 4 ? &G43[0][0] : &G23[0][0];
  double gg[MAX_ALPHA][5];  // G · g
  for (size_t i = 0; i < alpha; i++) {
    for (size_t j = 0; j < r; j++) {
      double sum = 0;
      for (size_t l = 0; l < r; l++) sum += gm[i * r + l] * w[l * r + j];
      gg[i][j] = sum;
    }
  }
  for (size_t i = 0; i < alpha; i++) {
    for (size_t j = 0; j < alpha; j++) {
      double sum = 0;
      for (size_t l = 0; l < r; l++) sum += gg[i][l] * gm[j * r + l];
      u[i * alpha + j] = (float)sum;
    }
  }
}

// U_ξ[k][c] = (G g_kc Gᵀ)_ξ into the packed-A layout, one product's A for each position ξ. A
// panel's mr filters of one channel are contiguous in each U_ξ; rows past the last filter are
// zeros.
void cnnc_winograd_pack_weights(cnnc_isa isa, const cnnc_window *g, size_t filters,
                                const float *weights, float *packed) {
  const size_t r = g->kernel_h, channels = g->channels;
  const size_t positions = alpha_of(g) * alpha_of(g);
  const enum variant variant = variant_of(g);
  const size_t stride = cnnc_packed_a_floats(filters, channels);
  const size_t mr = cnnc_path(isa)->mr;
  for (size_t k0 = 0; k0 < filters; k0 += mr) {
    for (size_t c = 0; c < channels; c++) {
      float *panel = packed + cnnc_packed_a_index(isa, filters, channels, k0, c);
      for (size_t row = 0; row < mr; row++) {
        float u[MAX_ALPHA * MAX_ALPHA] = {0};
        if (k0 + row < filters) {
          const float *w = weights + ((k0 + row) * channels + c) * r * r;
          switch (variant) {
            case F23: transform_weights(3, 2, w, u); break;
            case F43: transform_weights(3, 4, w, u); break;
            case F25: transform_weights(5, 2, w, u); break;
          }
        }
        for (size_t q = 0; q < positions; q++) panel[q * stride + row] = u[q];
      }
    }
  }
}

// A run of tiles in one row of tiles of one image: tiles tx0 ..< tx0 + count of tile row ty,
// which are columns column ..< column + count of the block.
typedef struct {
  size_t image, ty, tx0, count, column;
} segment;

// The segments of tiles first ..< first + count (numbered across images); returns how many.
static size_t segments_of(const cnnc_window *g, size_t first, size_t count, segment *out) {
  const size_t m = tile_of(g);
  const size_t tiles_w = (g->out_w + m - 1) / m, per_image = cnnc_winograd_tiles(g);
  size_t n = 0;
  for (size_t t = first; t < first + count;) {
    const size_t image = t / per_image, within = t % per_image;
    const size_t ty = within / tiles_w, tx = within % tiles_w;
    const size_t run = min_size(tiles_w - tx, first + count - t);
    out[n++] = (segment){image, ty, tx, run, t - first};
    t += run;
  }
  return n;
}

// Σ_l m[l] · x[l] over the nonzero m[l]: with m a constant matrix's row, the zero terms vanish
// at compile time and ±1 needs no multiplication.
#define COMBINE(result, m, x, count)                            \
  do {                                                          \
    _Pragma("clang loop unroll(full)") for (int l_ = 0; l_ < (count); l_++) { \
      if ((m)[l_] != 0) (result) += (m)[l_] * (x)[l_];          \
    }                                                           \
  } while (0)

// The vertical combinations (Bᵀ d) of one segment of channel c into the α row buffers `w`,
// which hold values in [*written_from, *written_to) and zeros elsewhere: a run with the same
// columns inside the image as the last (every whole row of tiles) zeros nothing (two memset
// calls per row buffer, channel and segment were 12% of the transform).
static inline __attribute__((always_inline)) void vertical_pass(
    const int m, const int alpha, const float *bt, const cnnc_window *g, const float *images,
    size_t image_stride, const segment *s, size_t c, const float *zeros, float *const *w,
    long *written_from, long *written_to) {
  const long height = (long)g->height, width = (long)g->width;
  const long x_start = m * (long)s->tx0 - (long)g->pad_w;
  const size_t length = (size_t)m * s->count + (size_t)alpha - (size_t)m;
  // The run's columns inside the image: [from, to) of the row buffers; the rest zeros.
  const long from = x_start < 0 ? -x_start : 0;
  const long to_x = x_start + (long)length < width ? x_start + (long)length : width;
  const long to = to_x - x_start > from ? to_x - x_start : from;
  // Zeros where the last run wrote outside this one's columns (the horizontal pass reads
  // up to m·round_up(count, 8) + 36 < ROW_FLOATS, all zeros past `to`).
  if (*written_from < from || *written_to > to) {
    for (int i = 0; i < alpha; i++) {
      memset(w[i], 0, (size_t)from * sizeof(float));
      memset(w[i] + to, 0, (size_t)(*written_to > to ? *written_to - to : 0) * sizeof(float));
    }
  }
  *written_from = from;
  *written_to = to;
  const float *plane = images + s->image * image_stride + c * g->height * g->width;
  // Row j of the window from the run's column `from` on (a row of zeros above and below the
  // image).
  const float *d[MAX_ALPHA];
  for (int j = 0; j < alpha; j++) {
    const long y = m * (long)s->ty - (long)g->pad_h + j;
    d[j] = y < 0 || y >= height ? zeros : plane + y * width + x_start + from;
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < alpha; i++) {
    float *restrict out = w[i];
    for (long x = 0; x < to - from; x++) {
      float column[MAX_ALPHA], sum = 0;
      for (int j = 0; j < alpha; j++) column[j] = d[j][x];
      COMBINE(sum, bt + i * alpha, column, alpha);
      out[from + x] = sum;
    }
  }
}

// Each tile's horizontal combinations (· B) of one segment, from the row buffers `w`, eight
// tiles at a time into the staging rows by block column (a short segment's extra lanes are
// overwritten by the next segment's).
static inline __attribute__((always_inline)) void horizontal_pass(const int m, const int alpha,
                                                                  const float *bt,
                                                                  const segment *s,
                                                                  float *const *w,
                                                                  float *stage) {
  for (int i = 0; i < alpha; i++) {
    const float *restrict row = w[i];
    float *restrict out = stage + (size_t)(i * alpha) * STAGE_FLOATS + s->column;
    for (size_t u = 0; u < s->count; u += 8) {
      // Columns m·u + l of eight tiles, l < α: with m = 2, two at a time split into even
      // and odd; with m = 4, four at a time from 32 columns, every fourth.
      f8 x[MAX_ALPHA + 2];  // with m = 4, α = 6 is filled four at a time, to 8
      if (m == 2) {
        _Pragma("clang loop unroll(full)")
        for (int l = 0; l < alpha; l += 2) {
          const f16 pair = VLOAD(f16, row + 2 * u + l);
          x[l] = __builtin_shufflevector(pair, pair, 0, 2, 4, 6, 8, 10, 12, 14);
          x[l + 1] = __builtin_shufflevector(pair, pair, 1, 3, 5, 7, 9, 11, 13, 15);
        }
      } else {
        _Pragma("clang loop unroll(full)")
        for (int l = 0; l < alpha; l += 4) {
          const f16 low = VLOAD(f16, row + 4 * u + l), high = VLOAD(f16, row + 4 * u + l + 16);
          x[l] = __builtin_shufflevector(low, high, 0, 4, 8, 12, 16, 20, 24, 28);
          x[l + 1] = __builtin_shufflevector(low, high, 1, 5, 9, 13, 17, 21, 25, 29);
          x[l + 2] = __builtin_shufflevector(low, high, 2, 6, 10, 14, 18, 22, 26, 30);
          x[l + 3] = __builtin_shufflevector(low, high, 3, 7, 11, 15, 19, 23, 27, 31);
        }
      }
      _Pragma("clang loop unroll(full)")
      for (int j = 0; j < alpha; j++) {
        f8 sum = 0;
        COMBINE(sum, bt + j * alpha, x, alpha);
        VSTORE(out + (size_t)j * STAGE_FLOATS + u, sum);
      }
    }
  }
}

// V_ξ[c][tile] = (Bᵀ d B)_ξ for every channel and tile of the block: per channel, each
// segment's vertical pass, then its horizontal pass, then the staging rows go to the panels.
// The passes are staggered by one segment over two sets of row buffers: the horizontal pass's
// wide loads, straight after the vertical pass's stores to the same rows, waited for the stores
// to reach the cache (store forwarding fails on loads that span several stores) and took a fifth
// of the transform on one instruction (perf, AMD EPYC Zen 5).
static inline __attribute__((always_inline)) void transform_input(
    const int m, const int alpha, const float *bt, const cnnc_window *g, size_t nr,
    const float *images, size_t image_stride, const segment *segments, size_t n, size_t count, float *v,
    size_t v_position_stride, float *rows, float *stage) {
  // A row of zeros stands in for the window's rows above and below the image.
  const float *zeros = rows;
  memset(rows, 0, (size_t)(1 + 2 * alpha) * ROW_FLOATS * sizeof(float));
  float *w[2][MAX_ALPHA];
  for (int set = 0; set < 2; set++) {
    for (int i = 0; i < alpha; i++) w[set][i] = rows + (size_t)(1 + set * alpha + i) * ROW_FLOATS;
  }
  long written_from[2] = {0, 0}, written_to[2] = {0, 0};
  for (size_t c = 0; c < g->channels; c++) {
    for (size_t k = 0; k <= n; k++) {
      if (k < n) {
        vertical_pass(m, alpha, bt, g, images, image_stride, &segments[k], c, zeros, w[k & 1],
                      &written_from[k & 1], &written_to[k & 1]);
      }
      if (k > 0) horizontal_pass(m, alpha, bt, &segments[k - 1], w[(k - 1) & 1], stage);
    }
    // Whole panels: lanes past the block's tiles are finite leftovers the GEMM never stores.
    for (size_t q = 0; q < (size_t)(alpha * alpha); q++) {
      for (size_t first = 0; first < count; first += nr) {
        float *to = v + q * v_position_stride + first * g->channels + c * nr;
        const float *from = stage + q * STAGE_FLOATS + first;
        // Every path's NR is 16 or 32: vector moves, where a memcpy call per panel row was
        // a sixth of the transform's instructions.
        if (nr == 16) {
          VSTORE(to, VLOAD(f16, from));
        } else if (nr == 32) {
          VSTORE(to, VLOAD(f16, from));
          VSTORE(to + 16, VLOAD(f16, from + 16));
        } else {
          memcpy(to, from, nr * sizeof(float));
        }
      }
    }
  }
}

// Stores `value`, or adds it to what is there (an input gradient another layer wrote first);
// then a fused ReLU.
static inline __attribute__((always_inline)) void put(float *p, float value, int accumulate,
                                                      int relu) {
  value = accumulate ? *p + value : value;
  *p = relu ? cnnc_relu(value) : value;
}

// One row of outputs of eight whole tiles: y[j] holds column j of the eight tiles (j < m),
// stored interleaved, m·8 floats from `out`.
static inline __attribute__((always_inline)) void put_row(const int m, const f8 *y, float *out,
                                                          int accumulate, int relu) {
  if (m == 2) {
    f16 row = __builtin_shufflevector(y[0], y[1], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14,
                                      7, 15);
    if (accumulate) row += VLOAD(f16, out);
    if (relu) row = VRELU(row, i16);
    VSTORE(out, row);
  } else {
    const f16 low = __builtin_shufflevector(y[0], y[1], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13,
                                            6, 14, 7, 15);
    const f16 high = __builtin_shufflevector(y[2], y[3], 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13,
                                             6, 14, 7, 15);
    f32 row = __builtin_shufflevector(low, high, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7,
                                      22, 23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14,
                                      15, 30, 31);
    if (accumulate) row += VLOAD(f32, out);
    if (relu) row = VRELU(row, i32);
    VSTORE(out, row);
  }
}

// y_ij = (Aᵀ M A)_ij + b for LANES block columns at a time of filter k's products `mk`: s_i =
// row i of Aᵀ·M (α columns), then y_ij = s_i · (row j of Aᵀ). A macro for both widths: one
// vector type per loop keeps clang's registers unspilled. M's rows (BLOCK_TILES, a multiple of
// 16, per filter) and the staging rows hold every lane read or written.
#define OUTPUT_SUMS(VECTOR, LANES)                                                         \
  for (size_t t = 0; t < count; t += LANES) {                                              \
    VECTOR sums[MAX_TILE][MAX_ALPHA];                                                      \
    _Pragma("clang loop unroll(full)") for (int j = 0; j < alpha; j++) {                   \
      VECTOR column[MAX_ALPHA];                                                            \
      _Pragma("clang loop unroll(full)") for (int l = 0; l < alpha; l++) {                 \
        column[l] = VLOAD(VECTOR, mk + (size_t)(l * alpha + j) * m_position_stride + t);   \
      }                                                                                    \
      _Pragma("clang loop unroll(full)") for (int i = 0; i < m; i++) {                     \
        sums[i][j] = 0;                                                                    \
        COMBINE(sums[i][j], at + i * alpha, column, alpha);                                \
      }                                                                                    \
    }                                                                                      \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < m; i++) {                       \
      _Pragma("clang loop unroll(full)") for (int j = 0; j < m; j++) {                     \
        VECTOR value = b;                                                                  \
        COMBINE(value, at + j * alpha, sums[i], alpha);                                    \
        VSTORE(y[i][j] + t, value);                                                        \
      }                                                                                    \
    }                                                                                      \
  }

// out[k][m·ty + i][m·tx + j] = (Aᵀ M A)_ij + bias[k] (added to out's value with `accumulate`,
// then max(·, 0) with `relu`) for every filter and tile of the block:
// computed a vector of block columns at a time (sixteen when `wide`, else eight) into m² staging rows, then stored segment by
// segment; outputs past the plane's edge (sizes not a multiple of m) are not stored.
static inline __attribute__((always_inline)) void transform_output(
    const int wide, const int m, const int alpha, const float *at, const cnnc_window *g, size_t filters,
    const float *mm, size_t m_position_stride, const float *bias, const segment *segments,
    size_t n, size_t count, float *out, size_t out_stride, int accumulate, int relu,
    float *stage) {
  const size_t plane = g->out_h * g->out_w;
  // y[i][j]: output (i, j) of each tile of the block, by block column.
  float *restrict y[MAX_TILE][MAX_TILE];
  for (int i = 0; i < m; i++) {
    for (int j = 0; j < m; j++) y[i][j] = stage + (size_t)(i * m + j) * STAGE_FLOATS;
  }
  for (size_t k = 0; k < filters; k++) {
    const float b = bias ? bias[k] : 0.0f;
    const float *restrict mk = mm + k * BLOCK_TILES;
    if (wide) {
      OUTPUT_SUMS(f16, 16);
    } else {
      OUTPUT_SUMS(f8, 8);
    }
    for (size_t q = 0; q < n; q++) {
      const segment *s = &segments[q];
      const size_t oy = (size_t)m * s->ty, ox = (size_t)m * s->tx0;
      const size_t rows = min_size((size_t)m, g->out_h - oy);
      // Tiles whose m columns and m rows are all inside the plane.
      const size_t whole = rows == (size_t)m ? min_size(s->count, (g->out_w - ox) / m) : 0;
      float *restrict first = out + s->image * out_stride + k * plane + oy * g->out_w + ox;
      const size_t col = s->column;
      size_t u = 0;
      for (; u + 8 <= whole; u += 8) {
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < m; i++) {
          f8 columns[MAX_TILE];
          _Pragma("clang loop unroll(full)")
          for (int j = 0; j < m; j++) columns[j] = VLOAD(f8, y[i][j] + col + u);
          put_row(m, columns, first + i * g->out_w + m * u, accumulate, relu);
        }
      }
      for (; u < s->count; u++) {
        const size_t columns = min_size((size_t)m, g->out_w - ox - m * u);
        for (size_t i = 0; i < rows; i++) {
          for (size_t j = 0; j < columns; j++) {
            put(first + i * g->out_w + m * u + j, y[i][j][col + u], accumulate, relu);
          }
        }
      }
    }
  }
}

// Both transforms compiled for each window size and instruction set (the same C, vectorised
// for each width, with the matrices' zeros and ones folded away).
typedef void (*input_transform)(const cnnc_window *, size_t, const float *, size_t,
                                const segment *, size_t, size_t, float *, size_t, float *,
                                float *);
typedef void (*output_transform)(const cnnc_window *, size_t, const float *, size_t,
                                 const float *, const segment *, size_t, size_t, float *, size_t,
                                 int, int, float *);
#define TRANSFORMS(NAME, R, M, BT, AT, SUFFIX, WIDE, ATTRIBUTES)                                        \
  ATTRIBUTES static void input_##NAME##_##SUFFIX(                                                 \
      const cnnc_window *g, size_t nr, const float *images, size_t image_stride,                  \
      const segment *segments, size_t n, size_t count, float *v, size_t stride, float *rows,      \
      float *stage) {                                                                             \
    transform_input(M, M + R - 1, &BT[0][0], g, nr, images, image_stride, segments, n, count, v, \
                    stride, rows, stage);                                                         \
  }                                                                                               \
  ATTRIBUTES static void output_##NAME##_##SUFFIX(                                                \
      const cnnc_window *g, size_t filters, const float *m, size_t stride, const float *bias,     \
      const segment *segments, size_t n, size_t count, float *out, size_t out_stride,             \
      int accumulate, int relu, float *stage) {                                                   \
    transform_output(WIDE, M, M + R - 1, &AT[0][0], g, filters, m, stride, bias, segments, n, count,   \
                     out, out_stride, accumulate, relu, stage);                                   \
  }
#define ALL_TRANSFORMS(SUFFIX, WIDE, ATTRIBUTES)                 \
  TRANSFORMS(23, 3, 2, BT4, AT23, SUFFIX, WIDE, ATTRIBUTES)      \
  TRANSFORMS(43, 3, 4, BT6, AT43, SUFFIX, WIDE, ATTRIBUTES)      \
  TRANSFORMS(25, 5, 2, BT6, AT25, SUFFIX, WIDE, ATTRIBUTES)      \
  static const transforms SUFFIX##_transforms[3] = {       \
      [F23] = {input_23_##SUFFIX, output_23_##SUFFIX},     \
      [F43] = {input_43_##SUFFIX, output_43_##SUFFIX},     \
      [F25] = {input_25_##SUFFIX, output_25_##SUFFIX}};

typedef struct {
  input_transform input;
  output_transform output;
} transforms;

ALL_TRANSFORMS(portable, 0, )
#if defined(__x86_64__)
ALL_TRANSFORMS(avx2, 0, __attribute__((target("avx2,fma"))))
ALL_TRANSFORMS(avx512, 1, __attribute__((target("avx512f"))))
#endif

// F(2, 3), F(4, 3) or F(2, 5) for the window, on the instruction set.
static transforms transforms_for(cnnc_isa isa, const cnnc_window *g) {
  const enum variant which = variant_of(g);
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) return avx512_transforms[which];
  if (isa == CNNC_ISA_AVX2) return avx2_transforms[which];
#endif
  (void)isa;
  return portable_transforms[which];
}

void cnnc_winograd_forward(cnnc_isa isa, const cnnc_window *g, size_t filters,
                           const float *packed_weights, const float *images, size_t image_stride,
                           const float *bias, size_t first_tile, size_t tiles, float *out,
                           size_t out_stride, int accumulate, int relu, float *workspace) {
  const cnnc_gemm_path *path = cnnc_path(isa);
  const size_t mr = path->mr, nr = path->nr, channels = g->channels;
  const size_t alpha = alpha_of(g), positions = alpha * alpha;
  const size_t u_stride = cnnc_packed_a_floats(filters, channels);
  const size_t v_stride = channels * BLOCK_TILES, m_stride = filters * BLOCK_TILES;
  float *v = workspace, *m = v + positions * v_stride, *rows = m + positions * m_stride;
  float *stage = rows + (1 + 2 * alpha) * ROW_FLOATS;
  // Staging lanes past a block's tiles reach the panels' edges: finite, never stored.
  memset(stage, 0, positions * STAGE_FLOATS * sizeof(float));
  segment segments[BLOCK_TILES];
  const transforms transform = transforms_for(isa, g);
  for (size_t first = first_tile; first < first_tile + tiles; first += BLOCK_TILES) {
    const size_t count = min_size(BLOCK_TILES, first_tile + tiles - first);
    const size_t n = segments_of(g, first, count, segments);
    transform.input(g, nr, images, image_stride, segments, n, count, v, v_stride, rows, stage);
    for (size_t q = 0; q < positions; q++) {
      const float *u = packed_weights + q * u_stride;
      for (size_t pc = 0; pc < channels; pc += cnnc_gemm_slice) {
        const size_t kc = min_size(cnnc_gemm_slice, channels - pc);
        const cnnc_epilogue epilogue = {pc == 0 ? 0.0f : 1.0f, NULL, NULL};
        for (size_t ir = 0; ir < filters; ir += mr) {
          const float *a = u + cnnc_packed_a_index(isa, filters, channels, ir, pc);
          for (size_t j = 0; j < count; j += nr) {
            path->kernel(kc, a, v + q * v_stride + j * channels + pc * nr,
                         m + q * m_stride + ir * BLOCK_TILES + j, BLOCK_TILES, &epilogue,
                         min_size(mr, filters - ir), min_size(nr, count - j));
          }
        }
      }
    }
    transform.output(g, filters, m, m_stride, bias, segments, n, count, out, out_stride,
                     accumulate, relu, stage);
  }
}
