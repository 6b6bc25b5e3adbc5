// Winograd convolution F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015) for 3×3 stride-1 layers with many channels and filters: VGG's and AlexNet's.
//
// Each 2×2 block of outputs (a tile) of filter k is Aᵀ [Σ_c U_kc ⊙ V_c] A, where V_c = Bᵀ d B is
// the tile's 4×4 input window d of channel c transformed and U_kc = G g Gᵀ the filter's 3×3
// weights g transformed. The sum over channels, for each of the 16 positions ξ of the 4×4, is
// a matrix product M_ξ (filters × tiles) = U_ξ (filters × channels) · V_ξ (channels × tiles),
// which the GEMM microkernel runs. 16 products per 4 outputs instead of 36: 2.25× fewer
// multiplications than the im2col product, for a few additions per value in the transforms.
//
// Tiles are taken a block at a time (tiles in row-major order over the output plane), so the
// transformed inputs V and products M of one block stay in cache. V is written straight in the
// microkernel's packed-B layout (panels of NR tiles, each channels × NR); U is packed once per
// call by cnnc_winograd_pack_weights in the packed-A layout.
#include "cnnc_kernels.h"
#include "internal.h"

#include <string.h>

// Eight and sixteen floats as one value (clang's vector extension): the transforms work on
// eight tiles at a time, at whatever width the function's instruction set has.
typedef float f8 __attribute__((ext_vector_type(8)));
typedef float f16 __attribute__((ext_vector_type(16)));
// Unaligned loads and stores (macros, not functions: a vector argument's ABI would depend on
// the caller's instruction set).
#define LOAD(type, p) \
  ({                  \
    type v_;          \
    memcpy(&v_, (p), sizeof v_); \
    v_;               \
  })
#define STORE(p, v)                   \
  do {                                \
    __typeof__(v) v_ = (v);           \
    memcpy((p), &v_, sizeof v_);      \
  } while (0)

// Layers with fewer channels or filters than this stay on the implicit GEMM (or the direct
// convolution): the transforms' cost is per channel and per filter, the saving per channel ×
// filter. Three stacked layers at batch 8 (AMD EPYC) measured 1.27–1.45× faster by Winograd
// with 64 channels and filters, but 1.06–1.26× with 32 and 0.79–1.12× with 16.
enum { MIN_CHANNELS = 64, MIN_FILTERS = 64 };
// Tiles per block: a multiple of every path's NR (16, 32).
enum { BLOCK_TILES = 64, POSITIONS = 16 };

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t round_up(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

int cnnc_winograd_applies(const cnnc_window *g, size_t filters) {
  return g->kernel_h == 3 && g->kernel_w == 3 && g->stride_h == 1 && g->stride_w == 1 &&
         g->pad_h <= 2 && g->pad_w <= 2 && g->channels >= MIN_CHANNELS &&
         filters >= MIN_FILTERS && g->out_h > 0 && g->out_w > 0;
}

size_t cnnc_winograd_tiles(const cnnc_window *g) {
  return ((g->out_h + 1) / 2) * ((g->out_w + 1) / 2);
}

size_t cnnc_winograd_block_tiles(void) { return BLOCK_TILES; }

size_t cnnc_winograd_weights_floats(size_t channels, size_t filters) {
  return POSITIONS * cnnc_packed_a_floats(filters, channels);
}

// A block's input rows: a row of zeros and the window's four vertical combinations, each
// 2·BLOCK_TILES + 2 long.
enum { ROW_FLOATS = 2 * BLOCK_TILES + 2 };

size_t cnnc_winograd_workspace_floats(const cnnc_window *g, size_t filters) {
  return POSITIONS * BLOCK_TILES * (g->channels + filters) + 5 * ROW_FLOATS;
}

// U = G g Gᵀ for one filter's 3×3 weights g of one channel, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
static void transform_weights(const float *w, float u[16]) {
  float gg[4][3];  // G · g
  for (int j = 0; j < 3; j++) {
    gg[0][j] = w[j];
    gg[1][j] = 0.5f * (w[j] + w[3 + j] + w[6 + j]);
    gg[2][j] = 0.5f * (w[j] - w[3 + j] + w[6 + j]);
    gg[3][j] = w[6 + j];
  }
  for (int i = 0; i < 4; i++) {
    u[i * 4] = gg[i][0];
    u[i * 4 + 1] = 0.5f * (gg[i][0] + gg[i][1] + gg[i][2]);
    u[i * 4 + 2] = 0.5f * (gg[i][0] - gg[i][1] + gg[i][2]);
    u[i * 4 + 3] = gg[i][2];
  }
}

// U_ξ[k][c] = (G g_kc Gᵀ)_ξ into the packed-A layout, one product's A for each position ξ.
void cnnc_winograd_pack_weights(cnnc_isa isa, size_t channels, size_t filters,
                                const float *weights, float *packed) {
  const size_t stride = cnnc_packed_a_floats(filters, channels);
  const size_t mr = cnnc_path(isa)->mr;
  // A panel's mr filters of one channel are contiguous in each packed U_ξ; rows past the
  // last filter are zeros.
  for (size_t k0 = 0; k0 < filters; k0 += mr) {
    for (size_t c = 0; c < channels; c++) {
      float *panel = packed + cnnc_packed_a_index(isa, filters, channels, k0, c);
      for (size_t r = 0; r < mr; r++) {
        float u[16] = {0};
        if (k0 + r < filters) transform_weights(weights + ((k0 + r) * channels + c) * 9, u);
        for (int q = 0; q < 16; q++) panel[(size_t)q * stride + r] = u[q];
      }
    }
  }
}

// A run of tiles in one row of tiles: tile row `ty`, tiles tx0 ..< tx0 + count, which are
// columns column ..< column + count of the block.
typedef struct {
  size_t ty, tx0, count, column;
} segment;

// The segments of tiles first ..< first + count; returns how many (at most rows spanned).
static size_t segments_of(size_t first, size_t count, size_t tiles_w, segment *out) {
  size_t n = 0;
  for (size_t t = first; t < first + count;) {
    size_t ty = t / tiles_w, tx = t % tiles_w;
    size_t run = min_size(tiles_w - tx, first + count - t);
    out[n++] = (segment){ty, tx, run, t - first};
    t += run;
  }
  return n;
}

// V_ξ[c][tile] = (Bᵀ d B)_ξ, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], for every channel
// and tile of the segment: first the four rows' vertical combinations along the whole run
// (Bᵀ d), then each tile's horizontal ones (· B), stored into the panels.
static inline __attribute__((always_inline)) void transform_input(
    const cnnc_window *g, size_t nr, const float *image, const segment *s, float *v,
    size_t v_position_stride, float *rows) {
  const long height = (long)g->height, width = (long)g->width;
  const long x_start = 2 * (long)s->tx0 - (long)g->pad_w;
  const size_t length = 2 * s->count + 2;
  // A row of zeros stands in for the window's rows above and below the image.
  const float *zeros = rows;
  memset(rows, 0, ROW_FLOATS * sizeof(float));
  float *w[4];
  for (int i = 0; i < 4; i++) w[i] = rows + (1 + i) * ROW_FLOATS;
  // The run's columns inside the image: [from, to) of the row buffers; the rest are zeros.
  const long from = x_start < 0 ? -x_start : 0;
  const long to_x = x_start + (long)length < width ? x_start + (long)length : width;
  const long to = to_x - x_start > from ? to_x - x_start : from;
  for (int i = 0; i < 4; i++) {
    memset(w[i], 0, (size_t)from * sizeof(float));
    memset(w[i] + to, 0, (length - (size_t)to) * sizeof(float));
  }
  for (size_t c = 0; c < g->channels; c++) {
    const float *plane = image + c * g->height * g->width;
    // Row i of the window, indexed by the run's column: valid over [from, to).
    const float *d[4];
    for (int i = 0; i < 4; i++) {
      long y = 2 * (long)s->ty - (long)g->pad_h + i;
      d[i] = y < 0 || y >= height ? zeros - from : plane + y * width + x_start;
    }
    const float *restrict d0 = d[0], *restrict d1 = d[1], *restrict d2 = d[2];
    const float *restrict d3 = d[3];
    float *restrict w0 = w[0], *restrict w1 = w[1], *restrict w2 = w[2], *restrict w3 = w[3];
    for (long x = from; x < to; x++) {
      w0[x] = d0[x] - d2[x];
      w1[x] = d1[x] + d2[x];
      w2[x] = d2[x] - d1[x];
      w3[x] = d1[x] - d3[x];
    }
    // Tiles go to panels of nr columns: each stretch that stays in one panel is contiguous.
    for (size_t u0 = 0; u0 < s->count;) {
      const size_t column = s->column + u0, lane = column % nr;
      const size_t run = min_size(nr - lane, s->count - u0);
      float *base = v + column / nr * g->channels * nr + c * nr + lane;
      for (int i = 0; i < 4; i++) {
        const float *restrict r = w[i] + 2 * u0;
        float *restrict v0 = base + (size_t)(4 * i) * v_position_stride;
        float *restrict v1 = v0 + v_position_stride;
        float *restrict v2 = v1 + v_position_stride;
        float *restrict v3 = v2 + v_position_stride;
        size_t u = 0;
        for (; u + 8 <= run; u += 8) {
          // Columns 2u ..< 2u + 18 of the row: each tile's four, split into even and odd.
          const f16 low = LOAD(f16, r + 2 * u), high = LOAD(f16, r + 2 * u + 2);
          const f8 a = __builtin_shufflevector(low, low, 0, 2, 4, 6, 8, 10, 12, 14);
          const f8 b = __builtin_shufflevector(low, low, 1, 3, 5, 7, 9, 11, 13, 15);
          const f8 e = __builtin_shufflevector(high, high, 0, 2, 4, 6, 8, 10, 12, 14);
          const f8 f = __builtin_shufflevector(high, high, 1, 3, 5, 7, 9, 11, 13, 15);
          STORE(v0 + u, a - e);
          STORE(v1 + u, b + e);
          STORE(v2 + u, e - b);
          STORE(v3 + u, b - f);
        }
        for (; u < run; u++) {
          const float a = r[2 * u], b = r[2 * u + 1], e = r[2 * u + 2], f = r[2 * u + 3];
          v0[u] = a - e;
          v1[u] = b + e;
          v2[u] = e - b;
          v3[u] = b - f;
        }
      }
      u0 += run;
    }
  }
}

// One tile's outputs from its 16 products t (position-major): Aᵀ t A, Aᵀ = [1 1 1 0; 0 1 −1 −1].
static inline __attribute__((always_inline)) void output_tile(const float *t, float y[4]) {
  float s0[4], s1[4];
  for (int j = 0; j < 4; j++) {
    s0[j] = t[j] + t[4 + j] + t[8 + j];
    s1[j] = t[4 + j] - t[8 + j] - t[12 + j];
  }
  y[0] = s0[0] + s0[1] + s0[2];
  y[1] = s0[1] - s0[2] - s0[3];
  y[2] = s1[0] + s1[1] + s1[2];
  y[3] = s1[1] - s1[2] - s1[3];
}

// out[k][2ty + i][2tx + j] = (Aᵀ M A)_ij + bias[k] for every filter and tile of the segment;
// outputs past the plane's edge (odd sizes) are not stored. Tiles wholly inside the plane go
// eight at a time; the rest one by one.
static inline __attribute__((always_inline)) void transform_output(
    const cnnc_window *g, size_t filters, const float *m, size_t m_position_stride,
    const float *bias, const segment *s, float *out) {
  const size_t plane = g->out_h * g->out_w;
  const size_t oy = 2 * s->ty, ox = 2 * s->tx0;
  const int second_row = oy + 1 < g->out_h;
  // Tiles whose two columns are both inside the plane.
  const size_t whole = second_row ? min_size(s->count, (g->out_w - ox) / 2) : 0;
  for (size_t k = 0; k < filters; k++) {
    const float b = bias ? bias[k] : 0.0f;
    const float *restrict mk = m + k * BLOCK_TILES + s->column;
    float *restrict row0 = out + k * plane + oy * g->out_w + ox;
    float *restrict row1 = row0 + g->out_w;
    size_t u = 0;
    for (; u + 8 <= whole; u += 8) {
      f8 t[16];
      for (int q = 0; q < 16; q++) t[q] = LOAD(f8, mk + (size_t)q * m_position_stride + u);
      f8 s0[4], s1[4];
      for (int j = 0; j < 4; j++) {
        s0[j] = t[j] + t[4 + j] + t[8 + j];
        s1[j] = t[4 + j] - t[8 + j] - t[12 + j];
      }
      const f8 y00 = s0[0] + s0[1] + s0[2] + b, y01 = s0[1] - s0[2] - s0[3] + b;
      const f8 y10 = s1[0] + s1[1] + s1[2] + b, y11 = s1[1] - s1[2] - s1[3] + b;
      // Each row of outputs is the two columns of eight tiles, interleaved.
      STORE(row0 + 2 * u, __builtin_shufflevector(y00, y01, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5,
                                                    13, 6, 14, 7, 15));
      STORE(row1 + 2 * u, __builtin_shufflevector(y10, y11, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5,
                                                    13, 6, 14, 7, 15));
    }
    for (; u < s->count; u++) {
      float t[16], y[4];
      for (int q = 0; q < 16; q++) t[q] = mk[(size_t)q * m_position_stride + u];
      output_tile(t, y);
      row0[2 * u] = y[0] + b;
      const int second_column = ox + 2 * u + 1 < g->out_w;
      if (second_column) row0[2 * u + 1] = y[1] + b;
      if (second_row) row1[2 * u] = y[2] + b;
      if (second_row && second_column) row1[2 * u + 1] = y[3] + b;
    }
  }
}

// Both transforms compiled once per instruction set (the same C, vectorised for each width).
#define TRANSFORMS(SUFFIX, ATTRIBUTES)                                                          \
  ATTRIBUTES static void transform_input_##SUFFIX(const cnnc_window *g, size_t nr,             \
                                                  const float *image, const segment *s,       \
                                                  float *v, size_t stride, float *rows) {     \
    transform_input(g, nr, image, s, v, stride, rows);                                        \
  }                                                                                           \
  ATTRIBUTES static void transform_output_##SUFFIX(const cnnc_window *g, size_t filters,       \
                                                   const float *m, size_t stride,             \
                                                   const float *bias, const segment *s,       \
                                                   float *out) {                              \
    transform_output(g, filters, m, stride, bias, s, out);                                    \
  }
TRANSFORMS(portable, )
#if defined(__x86_64__)
TRANSFORMS(avx2, __attribute__((target("avx2,fma"))))
TRANSFORMS(avx512, __attribute__((target("avx512f"))))
#endif

typedef struct {
  void (*input)(const cnnc_window *, size_t, const float *, const segment *, float *, size_t,
                float *);
  void (*output)(const cnnc_window *, size_t, const float *, size_t, const float *,
                 const segment *, float *);
} transforms;

static transforms transforms_for(cnnc_isa isa) {
#if defined(__x86_64__)
  if (isa == CNNC_ISA_AVX512) return (transforms){transform_input_avx512, transform_output_avx512};
  if (isa == CNNC_ISA_AVX2) return (transforms){transform_input_avx2, transform_output_avx2};
#endif
  (void)isa;
  return (transforms){transform_input_portable, transform_output_portable};
}

void cnnc_winograd_forward(cnnc_isa isa, const cnnc_window *g, size_t filters,
                           const float *packed_weights, const float *image, const float *bias,
                           size_t first_tile, size_t tiles, float *out, float *workspace) {
  const cnnc_gemm_path *path = cnnc_path(isa);
  const size_t mr = path->mr, nr = path->nr, channels = g->channels;
  const size_t tiles_w = (g->out_w + 1) / 2;
  const size_t u_stride = cnnc_packed_a_floats(filters, channels);
  const size_t v_stride = channels * BLOCK_TILES, m_stride = filters * BLOCK_TILES;
  float *v = workspace, *m = v + POSITIONS * v_stride, *rows = m + POSITIONS * m_stride;
  // A block spans at most this many rows of tiles.
  segment segments[BLOCK_TILES + 1];
  const transforms transform = transforms_for(isa);
  for (size_t first = first_tile; first < first_tile + tiles; first += BLOCK_TILES) {
    const size_t count = min_size(BLOCK_TILES, first_tile + tiles - first);
    const size_t n = segments_of(first, count, tiles_w, segments);
    for (size_t i = 0; i < n; i++) transform.input(g, nr, image, &segments[i], v, v_stride, rows);
    // The last panel's columns past the block are zeros, not stale values.
    const size_t padded = round_up(count, nr);
    if (padded > count) {
      float *last = v + count / nr * channels * nr;
      for (size_t q = 0; q < POSITIONS; q++) {
        for (size_t c = 0; c < channels; c++) {
          memset(last + q * v_stride + c * nr + count % nr, 0, (padded - count) * sizeof(float));
        }
      }
    }
    for (size_t q = 0; q < POSITIONS; q++) {
      const float *u = packed_weights + q * u_stride;
      for (size_t pc = 0; pc < channels; pc += cnnc_gemm_slice) {
        const size_t kc = min_size(cnnc_gemm_slice, channels - pc);
        const cnnc_epilogue epilogue = {pc == 0 ? 0.0f : 1.0f, NULL, NULL};
        for (size_t ir = 0; ir < filters; ir += mr) {
          const float *a = u + pc * round_up(filters, mr) + ir * kc;
          for (size_t j = 0; j < count; j += nr) {
            path->kernel(kc, a, v + q * v_stride + j * channels + pc * nr,
                         m + q * m_stride + ir * BLOCK_TILES + j, BLOCK_TILES, &epilogue,
                         min_size(mr, filters - ir), min_size(nr, count - j));
          }
        }
      }
    }
    for (size_t i = 0; i < n; i++) {
      transform.output(g, filters, m, m_stride, bias, &segments[i], out);
    }
  }
}
