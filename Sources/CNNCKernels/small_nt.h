// The dot-product route for products of at most SMALL_M rows against a transposed B (see
// internal.h), shared by the vector paths: each includes this file after defining TARGET, its
// dot_tile(rows, cols, ...) and NARROW, the columns per tile above 4 rows (to stay within the
// registers). Up to 4 rows take 4 columns at a time.
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
