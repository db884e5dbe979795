/*
 * budget: the per-route retry budget -- retries may add at most a share of
 * the route's requests over a sliding 10 s window, with a floor of retries
 * per second that is always allowed.  Shared by all workers without a lock:
 * counters are C11 atomics in 1 s buckets.  Pure: the caller passes now_ms.
 */
#ifndef RP_BUDGET_H
#define RP_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define BUDGET_WINDOW_S 10

struct budget_bucket {
	_Atomic uint64_t second; /* which second (now_ms / 1000) it counts */
	_Atomic uint32_t requests;
	_Atomic uint32_t retries;
};

struct budget {
	struct budget_bucket b[BUDGET_WINDOW_S];
};

void budget_init(struct budget *);
/* Count one client request (its first attempt) at now_ms. */
void budget_note_request(struct budget *, uint64_t now_ms);
/*
 * May one more retry go out at now_ms?  Allowed while the retries in the
 * current second are fewer than min_per_s, or while retries over the
 * window stay within percent of the requests over the window.  When
 * allowed the retry is counted.
 */
bool budget_try_retry(
    struct budget *, double percent, unsigned min_per_s, uint64_t now_ms);
/* Sums over the window, for tests and metrics. */
void budget_sums(
    struct budget *, uint64_t now_ms, uint64_t *requests, uint64_t *retries);

#endif
