/* Runs a network compiled by `cnnc compile` over MNIST's test set, one image at a time, and
 * prints its accuracy and its time per image; given the outputs `cnnc run --weights --output`
 * wrote (a float32 .npy of images x classes), also how many images' largest output differs.
 * Built by scripts/compile-check.sh with the network's header forced in:
 *   cc -std=c99 -O2 -include NAME.h -DRUN=NAME_run -DPREFIX=NAME_ mnist_accuracy.c NAME.c -lm
 *   ./a.out t10k-images-idx3-ubyte t10k-labels-idx1-ubyte [outputs.npy]
 * Pixels are scaled by 1/256 (0.00390625), as the shipped MNIST specs prepare them. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOIN(a, b) a##b
#define NAMED(prefix, what) JOIN(prefix, what)
#define INPUT_FLOATS NAMED(PREFIX, INPUT_FLOATS)
#define OUTPUT_FLOATS NAMED(PREFIX, OUTPUT_FLOATS)
#define ARENA_BYTES NAMED(PREFIX, ARENA_BYTES)

static unsigned char *read_file(const char *path, long *size)
{
  FILE *file = fopen(path, "rb");
  unsigned char *bytes;
  if (!file || fseek(file, 0, SEEK_END) != 0 || (*size = ftell(file)) < 0) {
    fprintf(stderr, "error: cannot read %s\n", path);
    exit(1);
  }
  rewind(file);
  bytes = malloc((size_t)*size + 1);
  if (!bytes || fread(bytes, 1, (size_t)*size, file) != (size_t)*size) {
    fprintf(stderr, "error: cannot read %s\n", path);
    exit(1);
  }
  fclose(file);
  return bytes;
}

static int largest(const float *values, int count)
{
  int i, best = 0;
  for (i = 1; i < count; i++)
    if (values[i] > values[best])
      best = i;
  return best;
}

int main(int argc, char **argv)
{
  long image_bytes, label_bytes, npy_bytes = 0;
  unsigned char *images, *labels, *npy = 0;
  const float *expected = 0;
  int count, i, j, correct = 0, differ = 0;
  float input[INPUT_FLOATS], output[OUTPUT_FLOATS];
  void *arena = malloc(ARENA_BYTES + 16);
  struct timespec start, end;
  if (argc < 3 || !arena) {
    fprintf(stderr, "usage: %s IMAGES LABELS [OUTPUTS.npy]\n", argv[0]);
    return 1;
  }
  images = read_file(argv[1], &image_bytes);
  labels = read_file(argv[2], &label_bytes);
  count = (int)(label_bytes - 8);
  if (INPUT_FLOATS != 784 || OUTPUT_FLOATS != 10 || image_bytes != 16 + 784L * count) {
    fprintf(stderr, "error: expected MNIST's 28x28 images and a 10-class network\n");
    return 1;
  }
  if (argc > 3) {
    npy = read_file(argv[3], &npy_bytes);
    /* version 1 header: magic (6), version (2), header length (2, little-endian), header */
    if (npy_bytes < 10 || npy_bytes != 10 + (npy[8] | npy[9] << 8) + 40L * count) {
      fprintf(stderr, "error: %s is not %d rows of 10 float32 outputs\n", argv[3], count);
      return 1;
    }
    expected = (const float *)(npy + 10 + (npy[8] | npy[9] << 8));
  }
  arena = (void *)(((unsigned long)arena + 15) & ~15UL);
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (i = 0; i < count; i++) {
    for (j = 0; j < 784; j++)
      input[j] = images[16 + 784L * i + j] * 0.00390625f;
    RUN(input, output, arena);
    if (largest(output, 10) == labels[8 + i])
      correct++;
    if (expected && largest(output, 10) != largest(expected + 10L * i, 10))
      differ++;
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  printf("accuracy %.2f%% (%d of %d), %.1f us per image", 100.0 * correct / count, correct, count,
         ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / count);
  if (expected)
    printf(", largest output differs from cnnc run's on %d images", differ);
  printf("\n");
  return 0;
}
