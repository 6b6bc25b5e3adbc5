#ifndef CNNC_IMAGES_H
#define CNNC_IMAGES_H

#include <stddef.h>

// Memory the PNG decoder takes all of libpng's (and its zlib's) allocations from, so that
// decoding an image allocates nothing from the heap: `used` goes back to 0 for every image.
typedef struct {
  unsigned char *base;
  size_t size;
  size_t used;
} cnnc_arena;

// The arena bytes decoding a PNG `width` pixels wide needs (libpng's structures, zlib's
// inflate state and 32 KB window, and row buffers of up to 8 bytes a pixel, twice).
size_t cnnc_png_arena_bytes(int width);

// Decodes the `size` bytes at `data`, a PNG of `height` × `width` pixels, into `out` as
// `channels` (1: grey, 3: RGB) interleaved bytes a pixel: palettes and low bit depths expanded,
// 16-bit samples cut to 8, alpha dropped, grey repeated into RGB or RGB weighted into grey
// (libpng's default coefficients, no gamma). Returns 0, or -1 with `message` saying why (a
// corrupt or truncated file, another size).
int cnnc_png_decode(const unsigned char *data, size_t size, unsigned char *out, int height,
                    int width, int channels, cnnc_arena *arena, char *message,
                    size_t message_size);

#endif
