/*
 * tail: a route's recent time-to-first-byte -- the time from sending an
 * attempt to its response head -- and its percentiles, for hedge_after =
 * pNN (retryproxy.ini(5)).  A ring of the last TAIL_SAMPLES samples,
 * each stamped with the second it was taken; a percentile reads only
 * those younger than TAIL_WINDOW_MS.  Shared by all workers without a
 * lock: each slot is one atomic word (a lost or torn update costs one
 * sample, never a wrong one), and the last percentile computed is kept
 * for TAIL_REUSE_MS so that busy routes do not sort for every request.
 * Pure: the caller passes now_ms.
 */
#ifndef RP_TAIL_H
#define RP_TAIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define TAIL_SAMPLES 1024
#define TAIL_WINDOW_MS 60000
#define TAIL_MIN_SAMPLES 20 /* fewer: no percentile (the fallback) */
#define TAIL_REUSE_MS 100
#define TAIL_SAMPLE_MAX_MS 0xffffffffu

struct tail {
	/* (second + 1) << 32 | ms; 0 = empty */
	_Atomic uint64_t s[TAIL_SAMPLES];
	_Atomic unsigned next;
	/* the cache: percentile << 48 | computed at (ms) ; value */
	_Atomic uint64_t cached_key;
	_Atomic uint64_t cached_ms;
};

void tail_init(struct tail *);
/* One time-to-first-byte (ms) measured at now_ms. */
void tail_add(struct tail *, uint64_t ms, uint64_t now_ms);
/*
 * The pct-th percentile (1..99) of the samples of the last
 * TAIL_WINDOW_MS at now_ms, in *ms: the smallest sample that at least
 * pct percent of the samples do not exceed.  False (nothing in *ms)
 * while the window holds fewer than TAIL_MIN_SAMPLES.
 */
bool tail_percentile(
    struct tail *, unsigned pct, uint64_t now_ms, uint64_t *ms);

#endif
