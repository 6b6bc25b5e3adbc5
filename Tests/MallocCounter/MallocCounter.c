// Wraps glibc's allocators so a test can count heap allocations made by code under test.
// Linked only into the test binary; every call goes on to glibc's own implementation.
#define _GNU_SOURCE
#include "MallocCounter.h"

#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

// Per thread: tests run in parallel, and only the thread under test should be counted. The
// executor runs every kernel on the calling thread.
static _Thread_local int counting;
static _Thread_local long calls;

static void count_call(void) {
  if (counting) calls += 1;
}

void malloc_counter_start(void) {
  calls = 0;
  counting = 1;
}

long malloc_counter_stop(void) {
  counting = 0;
  return calls;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifdef SANITIZED
// AddressSanitizer and ThreadSanitizer replace the allocators themselves; wrapping them here
// would hand the sanitizer memory it did not allocate.
int malloc_counter_available(void) { return 0; }
#else
int malloc_counter_available(void) { return 1; }

void *malloc(size_t size) {
  count_call();
  return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
  count_call();
  return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
  count_call();
  return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
  count_call();
  return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  count_call();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
  count_call();
  void *pointer = __libc_memalign(alignment, size);
  if (pointer == NULL) return ENOMEM;
  *result = pointer;
  return 0;
}
#endif
