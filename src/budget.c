/*
 * budget: a lock-free sliding-window retry budget.  Ten one-second
 * buckets; a bucket is recycled by the first thread that sees it hold an
 * older second.  Races at a recycle can lose a count or two, which is
 * harmless for a budget.
 */
#include "budget.h"

void
budget_init(struct budget *b)
{
	for (int i = 0; i < BUDGET_WINDOW_S; i++) {
		atomic_init(&b->b[i].second, 0);
		atomic_init(&b->b[i].requests, 0);
		atomic_init(&b->b[i].retries, 0);
	}
}

/* The bucket for second sec, recycled when it still holds an old one. */
static struct budget_bucket *
bucket(struct budget *b, uint64_t sec)
{
	struct budget_bucket *k = &b->b[sec % BUDGET_WINDOW_S];
	uint64_t old = atomic_load_explicit(&k->second, memory_order_relaxed);

	if (old != sec + 1 &&
	    atomic_compare_exchange_strong(&k->second, &old, sec + 1)) {
		atomic_store_explicit(&k->requests, 0, memory_order_relaxed);
		atomic_store_explicit(&k->retries, 0, memory_order_relaxed);
	}
	return k;
}

void
budget_note_request(struct budget *b, uint64_t now_ms)
{
	struct budget_bucket *k = bucket(b, now_ms / 1000);

	atomic_fetch_add_explicit(&k->requests, 1, memory_order_relaxed);
}

void
budget_sums(
    struct budget *b, uint64_t now_ms, uint64_t *requests, uint64_t *retries)
{
	uint64_t sec = now_ms / 1000, rq = 0, rt = 0;

	for (int i = 0; i < BUDGET_WINDOW_S; i++) {
		struct budget_bucket *k = &b->b[i];
		/* seconds are stored + 1 so that 0 means "never used" */
		uint64_t s =
		    atomic_load_explicit(&k->second, memory_order_relaxed);
		if (s == 0 || s - 1 + BUDGET_WINDOW_S <= sec || s - 1 > sec)
			continue;
		rq += atomic_load_explicit(&k->requests, memory_order_relaxed);
		rt += atomic_load_explicit(&k->retries, memory_order_relaxed);
	}
	*requests = rq;
	*retries = rt;
}

bool
budget_try_retry(
    struct budget *b, double percent, unsigned min_per_s, uint64_t now_ms)
{
	struct budget_bucket *k = bucket(b, now_ms / 1000);
	uint64_t rq, rt;

	if (atomic_load_explicit(&k->retries, memory_order_relaxed) <
	    min_per_s) {
		atomic_fetch_add_explicit(&k->retries, 1, memory_order_relaxed);
		return true;
	}
	budget_sums(b, now_ms, &rq, &rt);
	if ((double)(rt + 1) <= percent / 100.0 * (double)rq) {
		atomic_fetch_add_explicit(&k->retries, 1, memory_order_relaxed);
		return true;
	}
	return false;
}
