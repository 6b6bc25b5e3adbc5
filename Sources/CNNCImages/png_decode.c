#include "cnnc_images.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

// libpng reports errors by calling an error function that must not return; this file is C so
// that it can longjmp back here (Swift cannot setjmp).
typedef struct {
  const unsigned char *data;
  size_t size;
  size_t position;
  cnnc_arena *arena;
  char *message;
  size_t message_size;
  jmp_buf jump;
} png_source;

size_t cnnc_png_arena_bytes(int width) { return (size_t)192 * 1024 + (size_t)width * 32; }

static void read_bytes(png_structp png, png_bytep out, size_t count) {
  png_source *source = png_get_io_ptr(png);
  if (count > source->size - source->position) png_error(png, "the data ends early (truncated)");
  memcpy(out, source->data + source->position, count);
  source->position += count;
}

static void fail(png_structp png, png_const_charp message) {
  png_source *source = png_get_error_ptr(png);
  snprintf(source->message, source->message_size, "%s", message);
  longjmp(source->jump, 1);
}

static void ignore_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

// Bump allocation from the arena, 16-byte aligned; freeing is a no-op (the arena is reset).
static png_voidp arena_allocate(png_structp png, png_alloc_size_t count) {
  png_source *source = png_get_mem_ptr(png);
  cnnc_arena *arena = source->arena;
  size_t rounded = (count + 15) & ~(size_t)15;
  if (rounded < count || rounded > arena->size - arena->used) return NULL;
  void *pointer = arena->base + arena->used;
  arena->used += rounded;
  return pointer;
}

static void arena_free(png_structp png, png_voidp pointer) {
  (void)png;
  (void)pointer;
}

int cnnc_png_decode(const unsigned char *data, size_t size, unsigned char *out, int height,
                    int width, int channels, cnnc_arena *arena, char *message,
                    size_t message_size) {
  png_source source = {data, size, 0, arena, message, message_size};
  arena->used = 0;
  png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &source, fail,
                                             ignore_warning, &source, arena_allocate, arena_free);
  if (!png) {
    snprintf(message, message_size, "libpng could not start (its memory did not fit)");
    return -1;
  }
  png_infop info = png_create_info_struct(png);
  // Locals changed after setjmp and read after longjmp must be volatile; none are.
  if (!info || setjmp(source.jump)) {
    if (!info) snprintf(message, message_size, "libpng could not start (its memory did not fit)");
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    return -1;
  }
  png_set_read_fn(png, &source, read_bytes);
  png_read_info(png, info);
  png_uint_32 file_width = 0, file_height = 0;
  int depth = 0, color = 0;
  png_get_IHDR(png, info, &file_width, &file_height, &depth, &color, NULL, NULL, NULL);
  if ((int)file_width != width || (int)file_height != height) {
    snprintf(message, message_size, "is %u×%u pixels; expected %d×%d", (unsigned)file_height,
             (unsigned)file_width, height, width);
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  png_set_expand(png);
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  int colored = (color & PNG_COLOR_MASK_COLOR) != 0;
  if (channels == 3 && !colored) png_set_gray_to_rgb(png);
  if (channels == 1 && colored) png_set_rgb_to_gray_fixed(png, 1, -1, -1);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)width * (size_t)channels) {
    snprintf(message, message_size, "decodes to rows of %zu bytes, not %d",
             (size_t)png_get_rowbytes(png, info), width * channels);
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  // Interlaced images: every pass combines into the rows already in `out`.
  for (int pass = 0; pass < passes; pass++) {
    for (int row = 0; row < height; row++) {
      png_read_row(png, out + (size_t)row * (size_t)width * (size_t)channels, NULL);
    }
  }
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
}
