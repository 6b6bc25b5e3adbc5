#include <zlib.h>

// zlib's inflateInit2 is a macro; Swift sees only functions.
static inline int cnnc_inflate_init_gzip(z_stream *stream) {
  // 16 + MAX_WBITS: expect a gzip header and trailer.
  return inflateInit2(stream, 16 + MAX_WBITS);
}

// Raw deflate (no header), as inside a zip archive's members.
static inline int cnnc_inflate_init_raw(z_stream *stream) {
  return inflateInit2(stream, -MAX_WBITS);
}
