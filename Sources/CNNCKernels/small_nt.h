// The dot-product route for products of at most SMALL_M rows against a transposed B (see
// internal.h), part of the microkernel template (gemm_microkernel.h includes it, with its
// instruction set's definitions). Up to 4 rows take 4 columns at a time, more rows NARROW
// columns (to stay within the registers).

// A rows × `cols` columns of C as dot products of A's rows with B's rows, LANES at a time.
TARGET static inline __attribute__((always_inline)) void dot_tile(
    const int rows, const int cols, size_t k, const float *a, size_t lda, const float *b,
    size_t ldb, const cnnc_epilogue *e, float *c, size_t ldc, size_t j0) {
  vec acc[SMALL_M][4];
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) acc[i][q] = ZERO();
  }
  // With masks the last step takes what is left of k under a mask; without, the loop stops at
  // the last whole vector and the last k % LANES products are added one by one below.
  size_t p = 0;
  for (; MASKED ? p < k : p + LANES <= k; p += LANES) {
    const lane_mask mask = first_lanes(k - p);
    vec bv[4];
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) bv[q] = LOAD_LANES(mask, b + q * ldb + p);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < rows; i++) {
      const vec av = LOAD_LANES(mask, a + i * lda + p);
      _Pragma("clang loop unroll(full)")
      for (int q = 0; q < cols; q++) acc[i][q] = FMA(av, bv[q], acc[i][q]);
    }
  }
  _Pragma("clang loop unroll(full)")
  for (int i = 0; i < rows; i++) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < cols; q++) {
      float sum = sum_lanes(acc[i][q]);
      // With masks nothing is left (p >= k), which the compiler does not see by itself.
      if (!MASKED) {
        for (size_t t = p; t < k; t++) sum = __builtin_fmaf(a[i * lda + t], b[q * ldb + t], sum);
      }
      cnnc_store_one(c + i * ldc + j0 + q, sum, e->beta, e, i, j0 + q);
    }
  }
}

#define DOT_ROWS(R, COLS)                                                                    \
  TARGET static void dot_##R(size_t n, size_t k, const float *a, size_t lda, const float *b,  \
                             size_t ldb, const cnnc_epilogue *e, float *c, size_t ldc) {      \
    size_t j = 0;                                                                            \
    for (; j + COLS <= n; j += COLS) {                                                       \
      dot_tile(R, COLS, k, a, lda, b + j * ldb, ldb, e, c, ldc, j);                          \
    }                                                                                        \
    for (; j < n; j++) dot_tile(R, 1, k, a, lda, b + j * ldb, ldb, e, c, ldc, j);             \
  }
DOT_ROWS(1, 4) DOT_ROWS(2, 4) DOT_ROWS(3, 4) DOT_ROWS(4, 4)
DOT_ROWS(5, NARROW) DOT_ROWS(6, NARROW) DOT_ROWS(7, NARROW) DOT_ROWS(8, NARROW)
#undef DOT_ROWS

static void small_nt(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                     size_t ldb, const cnnc_epilogue *e, float *c, size_t ldc) {
  switch (m) {
    case 1: dot_1(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 2: dot_2(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 3: dot_3(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 4: dot_4(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 5: dot_5(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 6: dot_6(n, k, a, lda, b, ldb, e, c, ldc); break;
    case 7: dot_7(n, k, a, lda, b, ldb, e, c, ldc); break;
    default: dot_8(n, k, a, lda, b, ldb, e, c, ldc); break;
  }
}
