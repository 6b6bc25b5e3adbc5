// A team of threads that split one kernel call (one image's convolution or dense layer) with
// the caller. Waking a sleeping thread costs tens of microseconds, as much as the work itself
// at batch 1, so helpers spin for a while after each call before they sleep.
//
// Parts are claimed from one ticket, {call number, next part}, by whoever is free: the caller
// works through the parts too and waits only for parts a helper has claimed, never for a
// helper that has not woken (on a busy machine it may not run for milliseconds). A helper's
// claim is a compare-and-swap of the whole ticket, so it can never claim a part of a later
// call than the one it woke for.
#define _GNU_SOURCE
#include "cnnc_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define relax() _mm_pause()
#else
#define relax() ((void)0)
#endif

// How long a helper spins for the next call before it sleeps.
enum { SPIN_NANOSECONDS = 200000 };

struct cnnc_team {
  size_t helpers;
  pthread_t *threads;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  atomic_ulong generation;  // one more for each call; helpers wait for it to change
  atomic_ullong ticket;     // call number << 32 | next part to claim
  atomic_size_t done;       // parts of the current call finished
  atomic_size_t sleepers;   // helpers waiting on `wake`
  atomic_int stop;
  cnnc_task task;
  void *context;
  atomic_size_t parts;      // of the current call; read by helpers before they claim
};

typedef struct {
  struct cnnc_team *team;
} helper_start;

// Claims and runs parts of call `call` until none are left or a later call has begun.
static void work(struct cnnc_team *team, unsigned long long call) {
  for (;;) {
    unsigned long long ticket = atomic_load(&team->ticket);
    size_t part = (size_t)(ticket & 0xFFFFFFFFu);
    if (ticket >> 32 != call || part >= atomic_load(&team->parts)) return;
    if (!atomic_compare_exchange_weak(&team->ticket, &ticket, ticket + 1)) continue;
    team->task(team->context, part);
    atomic_fetch_add(&team->done, 1);
  }
}

static long long now_nanoseconds(void) {
  struct timespec time;
  clock_gettime(CLOCK_MONOTONIC, &time);
  return (long long)time.tv_sec * 1000000000LL + time.tv_nsec;
}

static void *helper_main(void *argument) {
  helper_start start = *(helper_start *)argument;
  free(argument);
  struct cnnc_team *team = start.team;
  unsigned long seen = 0;
  for (;;) {
    unsigned long generation = atomic_load(&team->generation);
    if (generation == seen) {
      long long deadline = now_nanoseconds() + SPIN_NANOSECONDS;
      unsigned spins = 0;
      while ((generation = atomic_load(&team->generation)) == seen) {
        relax();
        if (++spins % 256 == 0 && now_nanoseconds() > deadline) break;
      }
      if (generation == seen) {
        pthread_mutex_lock(&team->mutex);
        atomic_fetch_add(&team->sleepers, 1);
        while ((generation = atomic_load(&team->generation)) == seen) {
          pthread_cond_wait(&team->wake, &team->mutex);
        }
        atomic_fetch_sub(&team->sleepers, 1);
        pthread_mutex_unlock(&team->mutex);
      }
    }
    seen = generation;
    if (atomic_load(&team->stop)) return NULL;
    work(team, generation & 0xFFFFFFFFu);
  }
}

static void wake_helpers(struct cnnc_team *team) {
  atomic_fetch_add(&team->generation, 1);
  // A helper that went to sleep after this read sees the new generation before it waits.
  if (atomic_load(&team->sleepers) > 0) {
    pthread_mutex_lock(&team->mutex);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->mutex);
  }
}

cnnc_team *cnnc_team_create(size_t threads) {
  if (threads < 2) return NULL;
  struct cnnc_team *team = calloc(1, sizeof *team);
  if (!team) return NULL;
  team->helpers = threads - 1;
  team->threads = calloc(team->helpers, sizeof(pthread_t));
  pthread_mutex_init(&team->mutex, NULL);
  pthread_cond_init(&team->wake, NULL);
  size_t started = 0;
  for (; team->threads && started < team->helpers; started++) {
    helper_start *start = malloc(sizeof *start);
    if (!start) break;
    *start = (helper_start){team};
    if (pthread_create(&team->threads[started], NULL, helper_main, start) != 0) {
      free(start);
      break;
    }
  }
  if (started < team->helpers) {
    team->helpers = started;
    cnnc_team_destroy(team);
    return NULL;
  }
  return team;
}

void cnnc_team_run(cnnc_team *team, cnnc_task task, void *context, size_t parts) {
  if (!team || parts < 2) {
    for (size_t part = 0; part < parts; part++) task(context, part);
    return;
  }
  unsigned long long call = (atomic_load(&team->generation) + 1) & 0xFFFFFFFFu;
  // Close the previous call first. A helper that has just finished its last part may still be
  // reading the old ticket; once the ticket has changed its claim fails, where it could
  // otherwise take a part of this call from the old ticket and count it twice.
  atomic_store(&team->ticket, call << 32 | 0xFFFFFFFFu);
  team->task = task;
  team->context = context;
  atomic_store(&team->parts, parts);
  atomic_store(&team->done, 0);
  atomic_store(&team->ticket, call << 32);
  wake_helpers(team);
  work(team, call);
  // Only parts already claimed by a helper can still be running.
  while (atomic_load(&team->done) < parts) relax();
}

void cnnc_team_destroy(cnnc_team *team) {
  if (!team) return;
  atomic_store(&team->stop, 1);
  wake_helpers(team);
  for (size_t index = 0; index < team->helpers; index++) pthread_join(team->threads[index], NULL);
  pthread_cond_destroy(&team->wake);
  pthread_mutex_destroy(&team->mutex);
  free(team->threads);
  free(team);
}
