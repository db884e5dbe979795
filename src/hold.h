/*
 * hold: origins that asked for a pause.  A 429 or 503 with Retry-After
 * (RFC 9110 section 10.2.3; RFC 6585 section 4) says "not before then" of
 * the origin, not only of the request that got it: on a route with
 * `hold = wait` or `hold = fail` (retryproxy.ini(5)) every new attempt to
 * that host:port waits for the end of the hold or is answered at once,
 * instead of each meeting its own 429.  A burst of such answers is one
 * hold (the latest end wins).  Pure: the clock is passed in; the caller
 * keeps one table for the process and locks it.
 */
#ifndef RP_HOLD_H
#define RP_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#define HOLD_SLOTS 64 /* origins held at once; beyond, the soonest ends */
#define HOLD_KEY_MAX 272 /* "host:port" */

enum hold_mode {
	HOLD_OFF = 0, /* the origin's Retry-After concerns its request only */
	HOLD_WAIT = 1, /* new attempts wait for the end (within a deadline) */
	HOLD_FAIL = 2, /* new requests get the origin's status at once */
};

struct hold_slot {
	char origin[HOLD_KEY_MAX]; /* "" = free */
	uint64_t until_ms; /* monotonic */
	int status; /* what the origin answered: 429 or 503 */
};

struct hold_table {
	struct hold_slot s[HOLD_SLOTS];
};

void hold_init(struct hold_table *);
/*
 * How long a response holds its origin: *ms from its Retry-After (delta
 * seconds or an HTTP-date, against wall_now_ms), at most max_ms.  False
 * when it holds nothing: not a 429 or 503, no or a malformed Retry-After,
 * or one that has already passed.
 */
bool hold_for_response(int status, const char *retry_after,
    uint64_t wall_now_ms, uint64_t max_ms, uint64_t *ms);
/*
 * host:port answered status and asked for a pause until until_ms: hold it
 * (a later end extends a hold in force, an earlier one leaves it).  True
 * when no hold was in force at now_ms (a new hold, for the metrics).
 */
bool hold_note(struct hold_table *, const char *host, unsigned port, int status,
    uint64_t now_ms, uint64_t until_ms);
/*
 * How long host:port is still held at now_ms (0: it is not) and the
 * status that started it (*status, when held).
 */
uint64_t hold_left(const struct hold_table *, const char *host, unsigned port,
    uint64_t now_ms, int *status);
/* The latest end of any hold noted (0: none), for a lock-free check. */
uint64_t hold_latest(const struct hold_table *);

#endif
