#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

/// Starts counting, on the calling thread, calls to malloc, calloc, realloc and the aligned allocators, from zero.
void malloc_counter_start(void);
/// Stops counting and returns how many calls there were since the start.
long malloc_counter_stop(void);
/// 1 when the allocators are wrapped; 0 in sanitizer builds, whose own allocators must stay
/// in place (the counter then counts nothing and its tests are skipped).
int malloc_counter_available(void);

#endif
