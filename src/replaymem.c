/*
 * replaymem: the bound on held request bodies (see replaymem.h).
 */
#include <stdatomic.h>

#include "log.h"
#include "replaymem.h"
#include "util.h"

static _Atomic uint64_t held;
static _Atomic uint64_t warned_ms;

bool
replaymem_reserve(uint64_t n, uint64_t limit)
{
	uint64_t cur = atomic_load(&held);

	do {
		if (cur + n > limit || cur + n < cur)
			return false;
	} while (!atomic_compare_exchange_weak(&held, &cur, cur + n));
	return true;
}

void
replaymem_release(uint64_t n)
{
	atomic_fetch_sub(&held, n);
}

uint64_t
replaymem_held(void)
{
	return atomic_load(&held);
}

void
replaymem_warn(uint64_t limit)
{
	uint64_t now = util_now_ms(), last = atomic_load(&warned_ms);

	if (now - last < 10000 ||
	    !atomic_compare_exchange_strong(&warned_ms, &last, now))
		return;
	log_warnx("request bodies held for re-sending reach max_buffered "
		  "(%llu bytes): new large bodies stream, and are re-sent only "
		  "when nothing of them left",
	    (unsigned long long)limit);
}
