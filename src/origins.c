/*
 * origins: the process-wide tables of origins and parents (see
 * origins.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "origins.h"
#include "parent.h"
#include "util.h"

/*
 * The origins held: one table for the process, so that a hold learned
 * on one worker holds the requests of every worker (they share the
 * origin's patience).
 */
static struct hold_table holds;
static pthread_mutex_t holds_lock = PTHREAD_MUTEX_INITIALIZER;
/* The latest end of any hold: while it is past, no lock at all. */
static _Atomic uint64_t holds_until;
/*
 * The origins ejected, for the whole process, under its own lock;
 * ejected_now lets the attempts to origins that are not skip the lock.
 */
static struct eject_table ejects;
static pthread_mutex_t ejects_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned ejected_now;
/* The parent proxies that failed a moment ago. */
static struct parent_marks parent_marks;
static pthread_mutex_t parents_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- holds ---------------------------------------------------------- */

uint64_t
origins_hold_left(const char *host, unsigned port, uint64_t now_ms, int *status)
{
	uint64_t left;

	if (atomic_load(&holds_until) <= now_ms)
		return 0;
	pthread_mutex_lock(&holds_lock);
	left = hold_left(&holds, host, port, now_ms, status);
	pthread_mutex_unlock(&holds_lock);
	return left;
}

bool
origins_hold_note(const char *host, unsigned port, int status, uint64_t now_ms,
    uint64_t until_ms)
{
	bool fresh;

	pthread_mutex_lock(&holds_lock);
	fresh = hold_note(&holds, host, port, status, now_ms, until_ms);
	if (until_ms > atomic_load(&holds_until))
		atomic_store(&holds_until, until_ms);
	pthread_mutex_unlock(&holds_lock);
	return fresh;
}

/* ---- ejection ------------------------------------------------------- */

void
origins_eject_note(const char *host, unsigned port, bool failed, const char *of,
    const struct eject_rules *r)
{
	struct eject_news n = {0};
	enum eject_outcome e;
	char what[EJECT_KEY_MAX + 300];

	pthread_mutex_lock(&ejects_lock);
	e = eject_note(&ejects, host, port, failed, util_now_ms(), r, &n);
	atomic_store(&ejected_now, eject_count(&ejects));
	pthread_mutex_unlock(&ejects_lock);
	if (e == EJECT_NOTHING)
		return;
	snprintf(what, sizeof what,
	    strchr(host, ':') ? "[%s]:%u%s%s%s" : "%s:%u%s%s%s", host, port,
	    of ? " (an address of " : "", of ? of : "", of ? ")" : "");
	if (e == EJECT_READMITTED) {
		log_info("%s: answered again: readmitted", what);
		return;
	}
	metrics_ejection();
	switch (n.rule) {
	case EJECT_BY_PERCENT:
		log_warnx("%s: %u%% of %u attempts in the last %us failed: "
			  "ejected for %llums (eject_percent)",
		    what, n.fails * 100 / n.attempts, n.attempts,
		    EJECT_WINDOW_S, (unsigned long long)n.ms);
		break;
	case EJECT_BY_PROBE:
		log_warnx("%s: the probe failed: ejected for %llums "
			  "(ejection %u in a row)",
		    what, (unsigned long long)n.ms, n.ejections);
		break;
	default:
		log_warnx("%s: %u failures in a row: ejected for %llums "
			  "(eject_after)",
		    what, n.fails, (unsigned long long)n.ms);
		break;
	}
}

enum eject_verdict
origins_eject_check(const char *host, unsigned port, uint64_t now_ms,
    const struct eject_rules *r, struct eject_news *n)
{
	enum eject_verdict v;

	pthread_mutex_lock(&ejects_lock);
	v = eject_check(&ejects, host, port, now_ms, r, n);
	pthread_mutex_unlock(&ejects_lock);
	return v;
}

enum eject_verdict
origins_eject_peek(const char *host, unsigned port, uint64_t now_ms,
    const struct eject_rules *r, struct eject_news *n)
{
	enum eject_verdict v;

	pthread_mutex_lock(&ejects_lock);
	v = eject_peek(&ejects, host, port, now_ms, r, n);
	pthread_mutex_unlock(&ejects_lock);
	return v;
}

unsigned
origins_ejected(void)
{
	return atomic_load(&ejected_now);
}

void
origins_ejected_why(
    const struct eject_news *n, char *why, size_t len, const char **key)
{
	switch (n->rule) {
	case EJECT_BY_PERCENT:
		snprintf(why, len, "failed %u%% of %u attempts in %u s",
		    n->attempts ? n->fails * 100 / n->attempts : 0, n->attempts,
		    EJECT_WINDOW_S);
		*key = "eject_percent";
		break;
	case EJECT_BY_PROBE:
		snprintf(why, len, "failed its probe after an ejection");
		*key = "eject_time";
		break;
	default:
		snprintf(why, len, "failed %u times in a row", n->fails);
		*key = "eject_after";
		break;
	}
}

/* ---- parents -------------------------------------------------------- */

size_t
origins_parent_pick(const struct parent *v, size_t n, uint32_t failed,
    uint64_t now_ms, bool *passed_over)
{
	size_t i;

	pthread_mutex_lock(&parents_lock);
	i = parent_pick(v, n, failed, &parent_marks, now_ms, passed_over);
	pthread_mutex_unlock(&parents_lock);
	return i;
}

void
origins_parent_mark(const char *text, uint64_t now_ms, uint64_t for_ms)
{
	pthread_mutex_lock(&parents_lock);
	parent_mark(&parent_marks, text, now_ms, for_ms);
	pthread_mutex_unlock(&parents_lock);
}
