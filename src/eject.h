/*
 * eject: origins that keep failing are left alone for a while, and then
 * tried again with one request (outlier ejection, as Envoy's
 * outlier_detection does for its upstream hosts).  An attempt to a
 * host:port fails when its connection is refused, reset or timed out, or
 * when it gets a 5xx.  Two rules eject, each off at 0:
 *
 *  - eject_after: that many failures in a row;
 *  - eject_percent: when an attempt fails, the failures among the
 *    origin's attempts of the last EJECT_WINDOW_S seconds are at least
 *    that share of them, and those attempts are at least eject_min_attempts
 *    (Envoy's failure_percentage_threshold and _request_volume).
 *
 * The origin is then ejected for `eject_time` times the number of its
 * ejections in a row (at most `eject_max_time`): attempts to it are not
 * made (they go to a fallback, or the request gets a 503 at once)
 * instead of each waiting out its own backoff schedule.  When the time is
 * up, one attempt is let through (the probe); a response that is not a
 * 5xx readmits the origin (its counts start again), a failure ejects it
 * again, for longer.  After eject_after a success of a request already
 * under way readmits the origin too; after eject_percent it does not (an
 * origin failing a share of its attempts still answers the others).
 * Pure: the clock is passed in; the caller keeps one table for the
 * process and locks it (retryproxy.ini(5), eject_after, eject_percent).
 */
#ifndef RP_EJECT_H
#define RP_EJECT_H

#include <stdbool.h>
#include <stdint.h>

#define EJECT_SLOTS 64 /* origins tracked at once; beyond, the oldest goes */
#define EJECT_KEY_MAX 272 /* "host:port" */
#define EJECT_WINDOW_S 10 /* eject_percent's window, in 1 s buckets */

struct eject_rules {
	unsigned after; /* consecutive failures that eject (0: never) */
	unsigned percent; /* failure share of the window that ejects (0:
			     never; 1..100) */
	unsigned min_attempts; /* attempts in the window before it counts */
	uint64_t time_ms; /* the first ejection's length */
	uint64_t max_ms; /* the longest ejection */
	uint64_t probe_ms; /* how long one probe may take before another */
};

/* One second of an origin's attempts (second + 1: 0 = unused). */
struct eject_bucket {
	uint64_t second;
	uint32_t attempts, fails;
};

enum eject_rule {
	EJECT_BY_NONE = 0,
	EJECT_BY_AFTER = 1, /* eject_after failures in a row */
	EJECT_BY_PERCENT = 2, /* eject_percent of the window's attempts */
	EJECT_BY_PROBE = 3, /* the probe after an ejection failed */
};

struct eject_slot {
	char origin[EJECT_KEY_MAX]; /* "" = free */
	unsigned fails; /* consecutive failures */
	unsigned ejections; /* in a row, without a readmission in between */
	uint64_t until_ms; /* ejected until (0: admitted) */
	uint64_t probe_until_ms; /* a probe is out until then */
	uint64_t seen_ms; /* the last outcome noted (for replacement) */
	struct eject_bucket win[EJECT_WINDOW_S]; /* while admitted */
	/* the last ejection: why, with its counts (struct eject_news) */
	enum eject_rule rule;
	bool by_percent; /* the first of this row was by eject_percent */
	unsigned rule_fails, rule_attempts;
};

struct eject_table {
	struct eject_slot s[EJECT_SLOTS];
};

enum eject_verdict {
	EJECT_ADMIT = 0, /* attempt as usual */
	EJECT_PROBE = 1, /* attempt: it is the probe that may readmit it */
	EJECT_OUT = 2, /* ejected: do not attempt (news->ms to go) */
};

enum eject_outcome {
	EJECT_NOTHING = 0, /* the state did not change */
	EJECT_EJECTED = 1, /* this failure ejected the origin (news) */
	EJECT_READMITTED = 2, /* this success ended an ejection */
};

/*
 * What eject_note and eject_check tell: ms is the ejection's length
 * (EJECT_EJECTED) or what is left of it (EJECT_OUT); rule says why it
 * was ejected, with fails (in a row for EJECT_BY_AFTER, in the window
 * for EJECT_BY_PERCENT) and attempts (in the window, EJECT_BY_PERCENT);
 * ejections: how many in a row, this one included.
 */
struct eject_news {
	uint64_t ms;
	enum eject_rule rule;
	unsigned fails, attempts, ejections;
};

void eject_init(struct eject_table *);
/* Either rule is on (else eject_note and eject_check do nothing). */
bool eject_rules_on(const struct eject_rules *);
/*
 * An attempt to host:port ended: failed (a connect, reset or timeout
 * failure, or a 5xx) or not.  The share is judged at a failure only.
 */
enum eject_outcome eject_note(struct eject_table *, const char *host,
    unsigned port, bool failed, uint64_t now_ms, const struct eject_rules *,
    struct eject_news *);
/*
 * May an attempt go to host:port now?  EJECT_PROBE hands out the one
 * probe (the next caller gets EJECT_OUT until it ends or probe_ms
 * passes).
 */
enum eject_verdict eject_check(struct eject_table *, const char *host,
    unsigned port, uint64_t now_ms, const struct eject_rules *,
    struct eject_news *);
/* eject_check without handing the probe out (EJECT_PROBE: one may go). */
enum eject_verdict eject_peek(struct eject_table *, const char *host,
    unsigned port, uint64_t now_ms, const struct eject_rules *,
    struct eject_news *);
/* How many origins are ejected, or out on probation (the metrics gauge). */
unsigned eject_count(const struct eject_table *);
/* The attempts and failures of host:port in the window (for tests). */
void eject_window(struct eject_table *, const char *host, unsigned port,
    uint64_t now_ms, unsigned *attempts, unsigned *fails);

#endif
