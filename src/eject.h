/*
 * eject: origins that keep failing are left alone for a while, and then
 * tried again with one request (outlier ejection, as Envoy's
 * outlier_detection does for its upstream hosts).  After `eject_after`
 * consecutive failures of attempts to a host:port (a refused, reset or
 * timed-out connection, or a 5xx), the origin is ejected for `eject_time`
 * times the number of its ejections (at most `eject_max_time`): attempts
 * to it are not made (they go to a fallback, or the request gets a 503
 * at once) instead of each waiting out its own backoff schedule.  When
 * the time is up, one attempt is let through (the probe); a response
 * that is not a 5xx readmits the origin, a failure ejects it again, for
 * longer.  Pure: the clock is passed in; the caller keeps one table for
 * the process and locks it (retryproxy.ini(5), eject_after).
 */
#ifndef RP_EJECT_H
#define RP_EJECT_H

#include <stdbool.h>
#include <stdint.h>

#define EJECT_SLOTS 64 /* origins tracked at once; beyond, the oldest goes */
#define EJECT_KEY_MAX 272 /* "host:port" */

struct eject_rules {
	unsigned after; /* consecutive failures that eject (0: never) */
	uint64_t time_ms; /* the first ejection's length */
	uint64_t max_ms; /* the longest ejection */
	uint64_t probe_ms; /* how long one probe may take before another */
};

struct eject_slot {
	char origin[EJECT_KEY_MAX]; /* "" = free */
	unsigned fails; /* consecutive failures */
	unsigned ejections; /* in a row, without a readmission in between */
	uint64_t until_ms; /* ejected until (0: admitted) */
	uint64_t probe_until_ms; /* a probe is out until then */
	uint64_t seen_ms; /* the last outcome noted (for replacement) */
};

struct eject_table {
	struct eject_slot s[EJECT_SLOTS];
};

enum eject_verdict {
	EJECT_ADMIT = 0, /* attempt as usual */
	EJECT_PROBE = 1, /* attempt: it is the probe that may readmit it */
	EJECT_OUT = 2, /* ejected: do not attempt (*left_ms to go) */
};

enum eject_outcome {
	EJECT_NOTHING = 0, /* the state did not change */
	EJECT_EJECTED = 1, /* this failure ejected the origin (*ms long) */
	EJECT_READMITTED = 2, /* this success ended an ejection */
};

void eject_init(struct eject_table *);
/*
 * An attempt to host:port ended: failed (a connect, reset or timeout
 * failure, or a 5xx) or not.
 */
enum eject_outcome eject_note(struct eject_table *, const char *host,
    unsigned port, bool failed, uint64_t now_ms, const struct eject_rules *,
    uint64_t *ms);
/*
 * May an attempt go to host:port now?  EJECT_PROBE hands out the one
 * probe (the next caller gets EJECT_OUT until it ends or probe_ms
 * passes).
 */
enum eject_verdict eject_check(struct eject_table *, const char *host,
    unsigned port, uint64_t now_ms, const struct eject_rules *,
    uint64_t *left_ms);
/* How many origins are ejected, or out on probation (the metrics gauge). */
unsigned eject_count(const struct eject_table *);

#endif
