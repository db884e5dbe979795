/*
 * tail: recent time-to-first-byte and its percentiles (see tail.h).
 */
#include <stdlib.h>
#include <string.h>

#include "tail.h"

void
tail_init(struct tail *t)
{
	for (unsigned i = 0; i < TAIL_SAMPLES; i++)
		atomic_init(&t->s[i], 0);
	atomic_init(&t->next, 0);
	atomic_init(&t->cached_key, 0);
	atomic_init(&t->cached_ms, 0);
}

void
tail_add(struct tail *t, uint64_t ms, uint64_t now_ms)
{
	unsigned i =
	    atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed) %
	    TAIL_SAMPLES;

	if (ms > TAIL_SAMPLE_MAX_MS)
		ms = TAIL_SAMPLE_MAX_MS;
	atomic_store_explicit(
	    &t->s[i], (now_ms / 1000 + 1) << 32 | ms, memory_order_relaxed);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool
tail_percentile(struct tail *t, unsigned pct, uint64_t now_ms, uint64_t *ms)
{
	uint32_t v[TAIL_SAMPLES];
	uint64_t oldest, key, w;
	unsigned n = 0, k;

	if (pct < 1 || pct > 99)
		return false;
	/* the cache: this percentile, computed less than TAIL_REUSE_MS ago */
	key = atomic_load_explicit(&t->cached_key, memory_order_acquire);
	if (key >> 48 == pct && now_ms >= (key & 0xffffffffffffULL) &&
	    now_ms - (key & 0xffffffffffffULL) < TAIL_REUSE_MS) {
		*ms = atomic_load_explicit(&t->cached_ms, memory_order_relaxed);
		return true;
	}
	/* (a sample's second is stored plus one: 0 is an empty slot) */
	oldest =
	    now_ms >= TAIL_WINDOW_MS ? (now_ms - TAIL_WINDOW_MS) / 1000 : 0;
	for (unsigned i = 0; i < TAIL_SAMPLES; i++) {
		w = atomic_load_explicit(&t->s[i], memory_order_relaxed);
		if (w == 0 || (w >> 32) - 1 < oldest)
			continue;
		v[n++] = (uint32_t)w;
	}
	if (n < TAIL_MIN_SAMPLES)
		return false;
	qsort(v, n, sizeof v[0], cmp_u32);
	/* the nearest rank: ceil(pct / 100 * n), 1-based */
	k = (pct * n + 99) / 100;
	*ms = v[k - 1];
	atomic_store_explicit(&t->cached_ms, *ms, memory_order_relaxed);
	atomic_store_explicit(&t->cached_key,
	    (uint64_t)pct << 48 | (now_ms & 0xffffffffffffULL),
	    memory_order_release);
	return true;
}
