// cnnc's own compute kernels, each with a path per instruction set: single-precision GEMM in
// the BLIS structure (packed panels of A and B, a register-tiled microkernel), the implicit-GEMM
// and direct convolutions, Winograd convolution, the direct weight gradient, 2×2
// max pooling, the thread team that splits one image's layers, and the FMA peak loop that rates
// the GEMM.
//
// Matrices are row-major. Nothing here allocates: packing goes to a caller-owned workspace of
// cnnc_gemm_workspace_floats(m, n, k) floats (cnnc's plans cut it from their arena).
#ifndef CNNC_KERNELS_H
#define CNNC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Instruction-set paths, lowest first. Each path is compiled into every build with
// per-function target attributes and chosen at run time by CPU features.
typedef enum {
  CNNC_ISA_PORTABLE = 0,  // plain C the compiler vectorises for the build's baseline
  CNNC_ISA_AVX2 = 1,      // AVX2 + FMA, 256-bit
  CNNC_ISA_AVX512 = 2,    // AVX-512F, 512-bit
} cnnc_isa;

// 1 when this CPU (and its operating system) can run `isa`.
int cnnc_isa_supported(cnnc_isa isa);

// Floats of packing workspace that cnnc_sgemm needs for an m×n×k product, on any path.
size_t cnnc_gemm_workspace_floats(size_t m, size_t n, size_t k);

// C (m×n) = op(A) (m×k) · op(B) (k×n) + beta · C, where op(A) is A or Aᵀ as trans_a says.
// With beta == 0, C is only written (it may hold anything, NaN included).
// `isa` must be supported (see cnnc_isa_supported). The result depends only on the inputs and
// the path: the same call gives bit-identical results every time.
void cnnc_sgemm(cnnc_isa isa, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
                size_t ldc, float *workspace);

// C (m×n) = op(A) · op(B) + bias, where row_bias (m values, added to each row) or
// column_bias (n values, added to each column) may be NULL; C is only written.
void cnnc_sgemm_bias(cnnc_isa isa, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                     const float *a, size_t lda, const float *b, size_t ldb,
                     const float *row_bias, const float *column_bias, float *c, size_t ldc,
                     float *workspace);

// The same product with op(A) packed beforehand by cnnc_pack_a: for a matrix that several
// products share (a layer's weights across the samples of a batch), packed once.
void cnnc_sgemm_packed_a(cnnc_isa isa, size_t m, size_t n, size_t k, const float *packed_a,
                         int trans_b, const float *b, size_t ldb, float beta, float *c,
                         size_t ldc, float *workspace);

// Floats that cnnc_pack_a writes for an m×k op(A), on any path.
size_t cnnc_packed_a_floats(size_t m, size_t k);

// Packs all of op(A) (m×k) in the layout cnnc_sgemm_packed_a reads on `isa`.
void cnnc_pack_a(cnnc_isa isa, int trans_a, size_t m, size_t k, const float *a, size_t lda,
                 float *packed);

// One image's convolution window: input (channels, height, width), a kernel_h × kernel_w
// window moved by stride over the input padded with zeros, giving out_h × out_w outputs.
typedef struct {
  size_t channels, height, width;
  size_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  size_t out_h, out_w;
} cnnc_window;

// The largest microkernel tile of any path (rows MR × columns NR), and the most positions a
// Winograd transform has (α² for 5×5 windows): the Swift side sizes its overflow checks and
// splits work between threads by them.
enum { CNNC_MR_BOUND = 12, CNNC_NR_BOUND = 32, CNNC_WINOGRAD_MAX_POSITIONS = 36 };

// Convolution forward as an implicit GEMM: out (filters × out_h·out_w) = W · im2col(image) +
// bias (one per filter, or NULL), then with `relu` max(·, 0) as Swift computes it (0 >= v ? 0
// : v), with W (filters × channels·kernel_h·kernel_w) packed by cnnc_pack_a. The columns are
// packed straight from the image into the microkernel's panels, never materialised. Only the
// output positions first_output ..< first_output + outputs (row-major over out_h × out_w) are
// computed, so threads can share one image.
// Stride-1 layers with few filters and wide rows are computed as a direct convolution instead
// (same results, bit for bit) when the whole plane is asked for.
// Workspace: cnnc_conv_workspace_floats(window, filters) for the whole plane;
// cnnc_gemm_workspace_floats(filters, outputs, patch size) for part of it.
size_t cnnc_conv_workspace_floats(const cnnc_window *window, size_t filters);
void cnnc_conv_forward(cnnc_isa isa, const cnnc_window *window, size_t filters,
                       const float *packed_weights, const float *image, const float *bias,
                       int relu, size_t first_output, size_t outputs, float *out,
                       float *workspace);

// Convolution forward by Winograd's F(4×4, 3×3) or F(2×2, 3×3) (by the output's width) or
// F(2×2, 5×5) for stride-1 windows of 3×3 or 5×5 (cnnc_winograd_applies): 4×, 2.25× or 2.78×
// fewer multiplications than the implicit GEMM; the caller decides from the channel and filter counts whether that pays. Outputs come
// in square tiles of cnnc_winograd_tile_side(window) (4 or 2), cnnc_winograd_tiles(window) per
// image, numbered across the images of a batch;
// a call computes tiles first_tile ..< first_tile + tiles (whole multiples of
// cnnc_winograd_block_tiles() when threads share the work). Image n is at images +
// n·image_stride, its outputs at out + n·out_stride. The weights (filters × channels × r × r)
// are transformed and packed by cnnc_winograd_pack_weights into cnnc_winograd_weights_floats
// floats; the workspace holds cnnc_winograd_workspace_floats. With `accumulate` the results are
// added to what `out` holds (a training plan's input gradient, which is this convolution of the
// output gradient, when another layer wrote its part first); with `relu` each stored value is
// then max(·, 0) (an inference plan's fused ReLU). Results differ from the im2col
// product's by rounding (the transforms add and scale before multiplying) and are the same on
// every call.
int cnnc_winograd_applies(const cnnc_window *window, size_t filters);
size_t cnnc_winograd_tile_side(const cnnc_window *window);
size_t cnnc_winograd_tiles(const cnnc_window *window);
size_t cnnc_winograd_block_tiles(void);
size_t cnnc_winograd_weights_floats(const cnnc_window *window, size_t filters);
size_t cnnc_winograd_workspace_floats(const cnnc_window *window, size_t filters);
void cnnc_winograd_pack_weights(cnnc_isa isa, const cnnc_window *window, size_t filters,
                                const float *weights, float *packed);
void cnnc_winograd_forward(cnnc_isa isa, const cnnc_window *window, size_t filters,
                           const float *packed_weights, const float *images, size_t image_stride,
                           const float *bias, size_t first_tile, size_t tiles, float *out,
                           size_t out_stride, int accumulate, int relu, float *workspace);

// The weight gradient of a stride-1 convolution (cnnc_weight_gradient_applies: windows at least
// 3 wide), dw (filters × channels × kernel_h × kernel_w) = Σ over the batch's images of dY ⋆ x,
// computed directly from each zero-padded image (weight_gradient.c): no column matrix. Image n
// is at images + n·image_stride, its output gradient at gradients + n·gradient_stride. dw is
// overwritten. Workspace: cnnc_weight_gradient_workspace_floats(window, batch).
int cnnc_weight_gradient_applies(const cnnc_window *window);
size_t cnnc_weight_gradient_workspace_floats(const cnnc_window *window, size_t batch);
void cnnc_conv_weight_gradient(cnnc_isa isa, const cnnc_window *window, size_t filters,
                               const float *images, size_t image_stride, const float *gradients,
                               size_t gradient_stride, size_t batch, float *dw,
                               float *workspace);

// The weight gradient of a stride-1 convolution (cnnc_weight_gradient_gemm_applies),
// dw (filters × patch) = Σ_n dY[n] · im2col(x[n])ᵀ, as one product whose k runs over every
// output of every image (weight_gradient_gemm.c): the columns are packed straight from padded
// images. Strides as cnnc_conv_weight_gradient's; dw is overwritten. Workspace:
// cnnc_weight_gradient_gemm_workspace_floats(window, filters, batch).
int cnnc_weight_gradient_gemm_applies(const cnnc_window *window);
size_t cnnc_weight_gradient_gemm_workspace_floats(const cnnc_window *window, size_t filters,
                                                  size_t batch);
void cnnc_conv_weight_gradient_gemm(cnnc_isa isa, const cnnc_window *window, size_t filters,
                                    const float *images, size_t image_stride,
                                    const float *gradients, size_t gradient_stride,
                                    size_t batch, float *dw, float *workspace);

// Depthwise convolution (depthwise.c): `channels` planes per image, each convolved with its own
// kh × kw weights (weights: channels × kh·kw), the window's `channels` ignored; image n at
// images + n·image_stride, its output at out + n·out_stride. Forward: out = bias (NULL: 0) + Σ
// taps, then max(·, 0) with `relu`. Backward: dw (channels × kh·kw, overwritten) over the
// batch, and dx when not NULL (added to with `accumulate`; dx shares the images' strides).
size_t cnnc_depthwise_forward_workspace_floats(const cnnc_window *window);
size_t cnnc_depthwise_backward_workspace_floats(const cnnc_window *window, size_t channels);
void cnnc_depthwise_forward(cnnc_isa isa, const cnnc_window *window, size_t channels,
                            const float *weights, const float *bias, int relu,
                            const float *images, size_t image_stride, size_t batch, float *out,
                            size_t out_stride, float *workspace);
void cnnc_depthwise_backward(cnnc_isa isa, const cnnc_window *window, size_t channels,
                             const float *weights, const float *images, size_t image_stride,
                             const float *gradients, size_t gradient_stride, size_t batch,
                             float *dw, float *dx, int accumulate, float *workspace);

// Max pooling of (planes, height, width) over unpadded 2×2 windows with stride 2, values only,
// into (planes, out_h, out_w): the windows wholly inside the input; a clipped last row or column
// (ceil rounding of an odd size) is left to the caller.
void cnnc_max_pool_2x2(const float *input, float *output, size_t planes, size_t height,
                       size_t width, size_t out_h, size_t out_w);

// Batchnorm's, add's and ReLU's passes over memory (normalise.c). A channel of a (batch,
// channels, plane) tensor is `planes` runs of `count` floats, run n at x + n·stride. With
// `relu`, outputs are max(·, 0); with a `mask` (a fused ReLU's output), gradients count only
// where it is positive; with `accumulate`, results are added to dx instead of stored.
// Σ x, and Σ (x − mean)², over a channel's planes (float lanes per plane, planes in double).
double cnnc_planes_sum(cnnc_isa isa, const float *x, size_t planes, size_t stride,
                       size_t count);
double cnnc_planes_squared_deviation(cnnc_isa isa, const float *x, size_t planes, size_t stride,
                                     size_t count, float mean);
// y = (x − mean)·scale + shift over a channel's planes (y may be x).
void cnnc_planes_affine(cnnc_isa isa, const float *x, float *y, size_t planes, size_t stride,
                        size_t count, float mean, float scale, float shift, int relu);
// Batchnorm backward's sums Σ g and Σ g·(x − mean) over a channel's planes (g = dy, masked).
void cnnc_batchnorm_gradient_sums(cnnc_isa isa, const float *dy, const float *x,
                                  const float *mask, size_t planes, size_t stride, size_t count,
                                  float mean, double *gradient, double *product);
// dx = a·g + slope·x + constant over a channel's planes (g = dy, masked).
void cnnc_batchnorm_input_gradient(cnnc_isa isa, const float *dy, const float *x,
                                   const float *mask, float *dx, size_t planes, size_t stride,
                                   size_t count, float a, float slope, float constant,
                                   int accumulate);
// y = a + b over `count` floats (y may be a or b).
void cnnc_add(cnnc_isa isa, const float *a, const float *b, float *y, size_t count, int relu);
// y = max(x, 0) over `count` floats (y may be x).
void cnnc_relu_forward(cnnc_isa isa, const float *x, float *y, size_t count);
// dx = dy where y > 0, else 0, over `count` floats.
void cnnc_relu_backward(cnnc_isa isa, const float *y, const float *dy, float *dx, size_t count,
                        int accumulate);
// The same into two targets in one pass (an add's two inputs; they may be one buffer).
void cnnc_relu_backward_two(cnnc_isa isa, const float *y, const float *dy, float *dx0,
                            int accumulate0, float *dx1, int accumulate1, size_t count);

// A team of threads that splits one call's parts with the caller (batch-1 latency).
typedef struct cnnc_team cnnc_team;
typedef void (*cnnc_task)(void *context, size_t part);

// `threads` in all, the caller included (threads − 1 helpers); NULL when threads < 2 or the
// helpers cannot be started. Creating allocates; running does not.
cnnc_team *cnnc_team_create(size_t threads);

// Runs task(context, part) for every part in 0 ..< parts, spread over the caller and the
// helpers, and returns when all are done. One caller at a time.
void cnnc_team_run(cnnc_team *team, cnnc_task task, void *context, size_t parts);

void cnnc_team_destroy(cnnc_team *team);

// Runs `iterations` rounds of independent register FMAs on `isa`'s widest vectors, for the
// machine's FMA peak; returns the floating-point operations done (2 per lane per FMA).
// `sink` receives a value derived from the result so the loop is not optimised away.
double cnnc_fma_peak_loop(cnnc_isa isa, uint64_t iterations, float *sink);

// ---- Int8 inference (cnnc quantize's networks) ----
//
// Activations are stored as uint8 (the int8 value + 128, with the zero point moved likewise), so
// that one operand of VNNI's vpdpbusd (unsigned bytes × signed bytes) is the activations and the
// other the int8 weights. Products are summed exactly in int32 on every path, and every path
// requantizes with the same integer arithmetic, so all paths give the same bytes.

// Int8 instruction-set paths: CNNC_ISA_AVX512 needs AVX-512 VNNI (and BW, VL) besides AVX-512F.
int cnnc_int8_isa_supported(cnnc_isa isa);

// Bytes that cnnc_int8_pack_weights writes for an m×k weight matrix on `isa`.
size_t cnnc_int8_packed_weights_bytes(cnnc_isa isa, size_t m, size_t k);

// Packs row-major int8 weights (m rows of k) in the layout cnnc_int8_gemm reads on `isa`.
void cnnc_int8_pack_weights(cnnc_isa isa, size_t m, size_t k, const int8_t *weights,
                            void *packed);

// Columns of B, packed: ceil(k / 4) groups, each `columns` (a multiple of 16, ≥ n) runs of 4
// bytes: B[k][j] is at ((k / 4) · columns + j) · 4 + k % 4. Values past k or n are never used.
size_t cnnc_int8_padded_columns(size_t n);

// Requantization of one product, per row (output channel): the int32 sum plus bias[i], times
// multiplier[i] / 2^shift[i] rounded to the nearest integer (halves away from zero), plus
// zero_point, clamped to [low, high] (int8 values), stored + 128.
typedef struct {
  const int32_t *bias, *multiplier, *shift;
  int32_t zero_point, low, high;
} cnnc_int8_requantization;

// C[i·row_stride + j·column_stride] = requantized (packed A · B)[i][j] for i < m, j < n, over
// the row tiles first_tile ..< first_tile + tiles (cnnc_int8_row_tiles(m) in all): a product's
// rows can be split between threads. B is packed as cnnc_int8_padded_columns describes.
size_t cnnc_int8_row_tiles(size_t m);
void cnnc_int8_gemm(cnnc_isa isa, size_t m, size_t n, size_t k, const void *packed_weights,
                    const uint8_t *b, const cnnc_int8_requantization *requantization,
                    uint8_t *c, size_t row_stride, size_t column_stride, size_t first_tile,
                    size_t tiles);

// B of a convolution: the patches of one uint8 image (channels × height × width), padded with
// `pad_value` (the input's zero point + 128), packed for cnnc_int8_gemm (k = channels ·
// kernel_h · kernel_w, n = out_h · out_w). `padded` holds the padded image (see
// cnnc_int8_padded_image_bytes); it is not used when the window has no padding.
size_t cnnc_int8_padded_image_bytes(const cnnc_window *window);
void cnnc_int8_pack_patches(cnnc_isa isa, const cnnc_window *window, const uint8_t *image,
                            uint8_t pad_value, uint8_t *padded, uint8_t *b);

// A convolution followed by a 2×2, stride-2 max pooling, in one pass where the path allows it
// (cnnc_int8_pools_in_product: AVX-512, a stride-1 row, whole windows over the whole output):
// the patches are packed so that the four pixels of sixteen windows fill the four vectors of a
// tile, and each window's largest sum is requantized once, straight to the pooled output (m
// planes of pool out_h × out_w bytes). The bytes are those of requantizing every sum and
// pooling them, since the requantization never decreases. `patches` holds
// cnnc_int8_pooled_patch_bytes.
int cnnc_int8_pools_in_product(cnnc_isa isa, const cnnc_window *window, const cnnc_window *pool);
size_t cnnc_int8_pooled_patch_bytes(const cnnc_window *window, const cnnc_window *pool);
void cnnc_int8_conv_max_pool(cnnc_isa isa, const cnnc_window *window, const cnnc_window *pool,
                             const uint8_t *image, uint8_t pad_value, uint8_t *padded,
                             uint8_t *patches, size_t m, const void *packed_weights,
                             const cnnc_int8_requantization *requantization, uint8_t *y);

// B of a dense layer over a batch: column j is the k bytes at vectors + j·stride, for j < n.
void cnnc_int8_pack_vectors(size_t k, size_t n, const uint8_t *vectors, size_t stride,
                            uint8_t *b);

// Pooling of uint8 planes that keep their input's mapping (zero point `zero_point` + 128):
// the max of each window, or the average of its differences from the zero point rounded
// halves away from zero, over windows as the float kernels clip them (a window with no input
// pixel gives the zero point).
void cnnc_int8_pool(cnnc_isa isa, const cnnc_window *window, int average, const uint8_t *x,
                    int32_t zero_point, uint8_t *y);

// out[i] = round(x[i] / scale) + zero_point, rounded halves away from zero and clamped to the
// int8 range (NaN: −128), stored + 128: a float input quantized.
void cnnc_int8_quantize(cnnc_isa isa, const float *x, size_t count, float scale,
                        int32_t zero_point, uint8_t *out);

#endif
