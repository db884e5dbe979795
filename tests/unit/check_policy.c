/*
 * Unit tests for policy.c and budget.c: the five backoff schedules, the
 * retry decision of retryproxy(8) RETRY SEMANTICS rule by rule, the
 * aiohttp-retry test suite replayed as request loops, and the sliding retry
 * budget.  Tables of rows; every message names the failing row.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "http.h"
#include "policy.h"
#include "tail.h"
#include "util.h"

#define DEF_ERRORS                                                             \
	(FAIL_MASK(FAIL_CONNECT) | FAIL_MASK(FAIL_DNS) |                       \
	    FAIL_MASK(FAIL_RESET) | FAIL_MASK(FAIL_TIMEOUT))
#define START_MS 10000u
/* "Wed, 21 Oct 2015 07:27:50 GMT" */
#define WALL_MS UINT64_C(1445412470000)
#define MAXTWEAK 3
#define MAXSEQ 6

static char *default_methods[] = {
    "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
static char *post_only[] = {"POST"};
static char idempotency_key[] = "Idempotency-Key";
static char empty[] = "";
static uint64_t list3[] = {1000, 2000, 5000};
static uint64_t list00[] = {0, 0};
static uint64_t list10[] = {1000, 0};
static uint64_t list7[] = {700};
static uint64_t list111[] = {1000, 1000, 1000};

/* A policy with every key at its retryproxy.ini(5) default. */
static void
policy_defaults(struct policy *p)
{
	memset(p, 0, sizeof *p);
	p->attempts = 3;
	p->backoff = BACKOFF_EXPONENTIAL;
	p->start_timeout_ms = 100;
	p->factor = 2;
	p->max_timeout_ms = 30000;
	p->min_timeout_ms = 100;
	p->timeouts_ms = NULL;
	p->ntimeouts = 0;
	p->multiplier_ms = 1000;
	p->random_interval_ms = 2000;
	memset(p->statuses, 0, sizeof p->statuses);
	p->retry_all_server_errors = true;
	p->methods_all = false;
	p->methods = default_methods;
	p->nmethods = RP_NELEM(default_methods);
	p->errors = DEF_ERRORS;
	p->idempotency_header = idempotency_key;
	p->retry_if_header = NULL;
	p->nretry_if_header = 0;
	p->retry_if_body_src = empty;
	p->retry_if_body = NULL;
	p->connect_timeout_ms = 5000;
	p->per_try_timeout_ms = 30000;
	p->deadline_ms = 0;
	p->retry_after = true;
	p->max_retry_after_ms = 60000;
	p->retry_budget_percent = 20;
	p->retry_budget_min = 10;
	p->fallbacks = NULL;
	p->nfallbacks = 0;
	p->tls = false;
	p->verify = true;
	p->intercept = false;
	p->client_overrides = true;
	p->attempts_limit = 10;
	p->report_attempts = false;
	p->attempt_header = empty;
}

static void
add_status(struct policy *p, int s)
{
	p->statuses[s / 8] |= 1 << (s % 8);
}

static void
set_list(struct policy *p, uint64_t *l, size_t n)
{
	p->backoff = BACKOFF_LIST;
	p->timeouts_ms = l;
	p->ntimeouts = n;
}

/* Per-row policy overrides. */
static void
tw_st_403(struct policy *p)
{
	add_status(p, 403);
}

static void
tw_st_404(struct policy *p)
{
	add_status(p, 404);
}

static void
tw_st_429(struct policy *p)
{
	add_status(p, 429);
}

static void
tw_st_503(struct policy *p)
{
	add_status(p, 503);
}

static void
tw_rase_off(struct policy *p)
{
	p->retry_all_server_errors = false;
}

static void
tw_methods_post(struct policy *p)
{
	p->methods = post_only;
	p->nmethods = RP_NELEM(post_only);
}

static void
tw_methods_all(struct policy *p)
{
	p->methods_all = true;
}

static void
tw_errors_no_reset(struct policy *p)
{
	p->errors = FAIL_MASK(FAIL_CONNECT) | FAIL_MASK(FAIL_DNS) |
	    FAIL_MASK(FAIL_TIMEOUT);
}

static void
tw_errors_none(struct policy *p)
{
	p->errors = 0;
}

static void
tw_errors_all(struct policy *p)
{
	p->errors = 0x1f;
}

static void
tw_deadline_1000(struct policy *p)
{
	p->deadline_ms = 1000;
}

static void
tw_ra_off(struct policy *p)
{
	p->retry_after = false;
}

static void
tw_budget_zero(struct policy *p)
{
	p->retry_budget_percent = 0;
	p->retry_budget_min = 0;
}

static void
tw_random(struct policy *p)
{
	p->backoff = BACKOFF_RANDOM;
}

static void
tw_jitter(struct policy *p)
{
	p->backoff = BACKOFF_JITTER;
}

static void
tw_attempts_1(struct policy *p)
{
	p->attempts = 1;
}

static void
tw_attempts_2(struct policy *p)
{
	p->attempts = 2;
}

static void
tw_attempts_5(struct policy *p)
{
	p->attempts = 5;
}

static void
tw_list00(struct policy *p)
{
	set_list(p, list00, RP_NELEM(list00));
}

static void
tw_list111(struct policy *p)
{
	set_list(p, list111, RP_NELEM(list111));
}

static void
tw_overrides_off(struct policy *p)
{
	p->client_overrides = false;
}

static void
apply_tweaks(struct policy *p, void (*const *tw)(struct policy *))
{
	size_t i;

	policy_defaults(p);
	for (i = 0; i < MAXTWEAK && tw[i] != NULL; i++)
		tw[i](p);
}

/* Backoff schedules. */

struct exp_row {
	uint64_t start;
	double factor;
	uint64_t max;
	unsigned k;
	uint64_t want;
};

static const struct exp_row exp_rows[] = {
    {100, 2, 30000, 1, 100},
    {100, 2, 30000, 2, 200},
    {100, 2, 30000, 3, 400},
    {100, 2, 30000, 4, 800},
    {100, 2, 30000, 5, 1600},
    {100, 2, 30000, 6, 3200},
    {100, 2, 30000, 7, 6400},
    {100, 2, 30000, 8, 12800},
    {100, 2, 30000, 9, 25600},
    {100, 2, 30000, 10, 30000},
    {100, 2, 30000, 11, 30000},
    {100, 2, 30000, 64, 30000},
    {100, 2, 30000, 65, 30000},
    {100, 2, 30000, 1000, 30000},
    {1000, 1.5, 30000, 1, 1000},
    {1000, 1.5, 30000, 2, 1500},
    {1000, 1.5, 30000, 3, 2250},
    {500, 1, 30000, 7, 500},
    {0, 2, 30000, 5, 0},
    {100, 2, 250, 2, 200},
    {100, 2, 250, 3, 250},
    {10, 3, 30000, 4, 270},
    {40000, 2, 30000, 1, 30000},
};

START_TEST(test_backoff_exponential)
{
	const struct exp_row *r = &exp_rows[_i];
	struct policy p;
	uint64_t got;

	policy_defaults(&p);
	p.start_timeout_ms = r->start;
	p.factor = r->factor;
	p.max_timeout_ms = r->max;
	got = policy_backoff_ms(&p, r->k, 0.5);
	ck_assert_msg(got == r->want,
	    "exponential start %" PRIu64 " factor %g max %" PRIu64
	    " k %u: %" PRIu64 ", want %" PRIu64,
	    r->start, r->factor, r->max, r->k, got, r->want);
}
END_TEST

struct random_row {
	uint64_t min, max;
	unsigned k;
	double rnd;
	uint64_t lo, hi; /* accepted result */
};

static const struct random_row random_rows[] = {
    {100, 30000, 1, 0, 100, 100},
    {100, 30000, 1, 0.00001, 100, 100},
    {100, 30000, 1, 0.25, 7575, 7575},
    {100, 30000, 1, 0.5, 15050, 15050},
    {100, 30000, 7, 0.5, 15050, 15050},
    {100, 30000, 1, 0.999999, 29999, 29999},
    {1000, 3000, 2, 0.5, 2000, 2000},
    {500, 500, 3, 0.7, 500, 500},
    {0, 0, 1, 0.5, 0, 0},
};

START_TEST(test_backoff_random)
{
	const struct random_row *r = &random_rows[_i];
	struct policy p;
	uint64_t got;

	policy_defaults(&p);
	p.backoff = BACKOFF_RANDOM;
	p.min_timeout_ms = r->min;
	p.max_timeout_ms = r->max;
	got = policy_backoff_ms(&p, r->k, r->rnd);
	ck_assert_msg(got >= r->lo && got <= r->hi,
	    "random [%" PRIu64 ", %" PRIu64 "] k %u rnd %g: %" PRIu64
	    ", want %" PRIu64 "..%" PRIu64,
	    r->min, r->max, r->k, r->rnd, got, r->lo, r->hi);
}
END_TEST

struct list_row {
	const char *name;
	uint64_t *list;
	size_t n;
	uint64_t max;
	unsigned k;
	uint64_t want;
};

static const struct list_row list_rows[] = {
    {"[1s,2s,5s]", list3, 3, 30000, 1, 1000},
    {"[1s,2s,5s]", list3, 3, 30000, 2, 2000},
    {"[1s,2s,5s]", list3, 3, 30000, 3, 5000},
    {"[1s,2s,5s]", list3, 3, 30000, 4, 5000},
    {"[1s,2s,5s]", list3, 3, 30000, 100, 5000},
    {"[1s,2s,5s] max 1.5s", list3, 3, 1500, 1, 1000},
    {"[1s,2s,5s] max 1.5s", list3, 3, 1500, 2, 1500},
    {"[0,0]", list00, 2, 30000, 1, 0},
    {"[0,0]", list00, 2, 30000, 3, 0},
    {"[1s,0]", list10, 2, 30000, 1, 1000},
    {"[1s,0]", list10, 2, 30000, 2, 0},
    {"[700ms]", list7, 1, 30000, 1, 700},
    {"[700ms]", list7, 1, 30000, 5, 700},
};

START_TEST(test_backoff_list)
{
	const struct list_row *r = &list_rows[_i];
	struct policy p;
	uint64_t got;

	policy_defaults(&p);
	set_list(&p, r->list, r->n);
	p.max_timeout_ms = r->max;
	got = policy_backoff_ms(&p, r->k, 0.5);
	ck_assert_msg(got == r->want,
	    "list %s k %u: %" PRIu64 ", want %" PRIu64, r->name, r->k, got,
	    r->want);
}
END_TEST

struct fib_row {
	uint64_t mult, max;
	unsigned k;
	uint64_t want;
};

static const struct fib_row fib_rows[] = {
    {1000, 30000, 1, 1000},
    {1000, 30000, 2, 2000},
    {1000, 30000, 3, 3000},
    {1000, 30000, 4, 5000},
    {1000, 30000, 5, 8000},
    {1000, 30000, 6, 13000},
    {1000, 30000, 7, 21000},
    {1000, 30000, 8, 30000},
    {1000, 30000, 100, 30000},
    {1000, 30000, 1000, 30000},
    {2000, 60000, 1, 2000},
    {2000, 60000, 2, 4000},
    {2000, 60000, 3, 6000},
    {2000, 60000, 4, 10000},
    {2000, 60000, 5, 16000},
    {2000, 60000, 6, 26000},
    {2000, 60000, 7, 42000},
    {2000, 60000, 8, 60000},
    {0, 30000, 5, 0},
};

START_TEST(test_backoff_fibonacci)
{
	const struct fib_row *r = &fib_rows[_i];
	struct policy p;
	uint64_t first, again;

	policy_defaults(&p);
	p.backoff = BACKOFF_FIBONACCI;
	p.multiplier_ms = r->mult;
	p.max_timeout_ms = r->max;
	first = policy_backoff_ms(&p, r->k, 0.5);
	/* No state carries over from one call (or request) to the next. */
	again = policy_backoff_ms(&p, r->k, 0.5);
	ck_assert_msg(first == r->want,
	    "fibonacci mult %" PRIu64 " max %" PRIu64 " k %u: %" PRIu64
	    ", want %" PRIu64,
	    r->mult, r->max, r->k, first, r->want);
	ck_assert_msg(again == r->want,
	    "fibonacci mult %" PRIu64 " max %" PRIu64
	    " k %u, 2nd call: %" PRIu64 ", want %" PRIu64,
	    r->mult, r->max, r->k, again, r->want);
}
END_TEST

struct jitter_row {
	uint64_t start;
	uint64_t interval;
	uint64_t max;
	unsigned k;
	double rnd;
	uint64_t want;
};

static const struct jitter_row jitter_rows[] = {
    {100, 2000, 30000, 1, 0, 100},
    {100, 2000, 30000, 1, 0.0001, 100},
    {100, 2000, 30000, 1, 0.5, 1100},
    {100, 2000, 30000, 2, 0.25, 700},
    {100, 2000, 30000, 9, 0.5, 26600},
    {100, 2000, 30000, 9, 0.75, 27100},
    {100, 2000, 30000, 10, 0, 30000},
    {100, 2000, 30000, 10, 0.9, 30000},
    {100, 2000, 30000, 1000, 0.5, 30000},
    {100, 0, 30000, 3, 0.9, 400},
    {100, 2000, 1000, 3, 0.5, 1000},
};

START_TEST(test_backoff_jitter)
{
	const struct jitter_row *r = &jitter_rows[_i];
	struct policy p;
	uint64_t got;

	policy_defaults(&p);
	p.backoff = BACKOFF_JITTER;
	p.start_timeout_ms = r->start;
	p.random_interval_ms = r->interval;
	p.max_timeout_ms = r->max;
	got = policy_backoff_ms(&p, r->k, r->rnd);
	ck_assert_msg(got == r->want,
	    "jitter start %" PRIu64 " interval %" PRIu64 " max %" PRIu64
	    " k %u rnd %g: %" PRIu64 ", want %" PRIu64,
	    r->start, r->interval, r->max, r->k, r->rnd, got, r->want);
}
END_TEST

struct range_row {
	const char *name;
	enum backoff backoff;
	uint64_t max;
	unsigned k;
	uint64_t lo, hi;
};

static const struct range_row range_rows[] = {
    {"random k 1", BACKOFF_RANDOM, 30000, 1, 100, 30000},
    {"random k 5", BACKOFF_RANDOM, 30000, 5, 100, 30000},
    {"jitter k 1", BACKOFF_JITTER, 30000, 1, 100, 2100},
    {"jitter k 9", BACKOFF_JITTER, 30000, 9, 25600, 27600},
    {"jitter k 9 max 26s", BACKOFF_JITTER, 26000, 9, 25600, 26000},
    {"jitter k 10", BACKOFF_JITTER, 30000, 10, 30000, 30000},
    {"exponential k 3", BACKOFF_EXPONENTIAL, 30000, 3, 400, 400},
    {"exponential k 12", BACKOFF_EXPONENTIAL, 30000, 12, 30000, 30000},
    {"list k 2", BACKOFF_LIST, 30000, 2, 2000, 2000},
    {"list k 9", BACKOFF_LIST, 30000, 9, 5000, 5000},
    {"fibonacci k 4", BACKOFF_FIBONACCI, 30000, 4, 5000, 5000},
    {"fibonacci k 9", BACKOFF_FIBONACCI, 30000, 9, 30000, 30000},
};

START_TEST(test_backoff_range)
{
	const struct range_row *r = &range_rows[_i];
	struct policy p;
	uint64_t lo = 12345, hi = 12345;

	policy_defaults(&p);
	p.backoff = r->backoff;
	p.max_timeout_ms = r->max;
	p.timeouts_ms = list3;
	p.ntimeouts = RP_NELEM(list3);
	policy_backoff_range(&p, r->k, &lo, &hi);
	ck_assert_msg(lo == r->lo && hi == r->hi,
	    "range %s: [%" PRIu64 ", %" PRIu64 "], want [%" PRIu64 ", %" PRIu64
	    "]",
	    r->name, lo, hi, r->lo, r->hi);
}
END_TEST

/* Every delay lies within the range, and rnd = 0 gives its low end. */
START_TEST(test_backoff_in_range)
{
	static const double rnds[] = {0, 0.3, 0.999999};
	static const char *const names[] = {
	    "exponential", "random", "list", "fibonacci", "jitter"};
	struct policy p;
	uint64_t lo, hi, v;
	unsigned k;
	size_t j;

	policy_defaults(&p);
	p.backoff = (enum backoff)_i;
	p.timeouts_ms = list3;
	p.ntimeouts = RP_NELEM(list3);
	for (k = 1; k <= 12; k++) {
		policy_backoff_range(&p, k, &lo, &hi);
		for (j = 0; j < RP_NELEM(rnds); j++) {
			v = policy_backoff_ms(&p, k, rnds[j]);
			ck_assert_msg(lo <= v && v <= hi,
			    "%s k %u rnd %g: %" PRIu64 " outside [%" PRIu64
			    ", %" PRIu64 "]",
			    names[_i], k, rnds[j], v, lo, hi);
			ck_assert_msg(j != 0 || v == lo,
			    "%s k %u rnd 0: %" PRIu64 ", want low end %" PRIu64,
			    names[_i], k, v, lo);
		}
	}
}
END_TEST

struct zero_row {
	const char *name;
	enum backoff backoff;
	uint64_t start, interval, min, max, mult;
	uint64_t *list;
	size_t n;
	int want;
	unsigned attempts; /* 0: 3 */
};

static const struct zero_row zero_rows[] = {
    {"defaults", BACKOFF_EXPONENTIAL, 100, 2000, 100, 30000, 1000, NULL, 0, 0,
	0},
    {"exponential start 0", BACKOFF_EXPONENTIAL, 0, 2000, 100, 30000, 1000,
	NULL, 0, 1, 0},
    {"jitter start 0 interval 0", BACKOFF_JITTER, 0, 0, 100, 30000, 1000, NULL,
	0, 1, 0},
    {"jitter start 0 interval 2s", BACKOFF_JITTER, 0, 2000, 100, 30000, 1000,
	NULL, 0, 0, 0},
    {"jitter interval 0", BACKOFF_JITTER, 100, 0, 100, 30000, 1000, NULL, 0, 0,
	0},
    {"list [1s,2s,5s]", BACKOFF_LIST, 100, 2000, 100, 30000, 1000, list3, 3, 0,
	0},
    {"list [1s,0]", BACKOFF_LIST, 100, 2000, 100, 30000, 1000, list10, 2, 1, 0},
    {"list [0,0]", BACKOFF_LIST, 100, 2000, 100, 30000, 1000, list00, 2, 1, 0},
    {"random max 0", BACKOFF_RANDOM, 100, 2000, 0, 0, 1000, NULL, 0, 1, 0},
    {"random defaults", BACKOFF_RANDOM, 100, 2000, 100, 30000, 1000, NULL, 0, 0,
	0},
    {"random start 0", BACKOFF_RANDOM, 0, 2000, 100, 30000, 1000, NULL, 0, 0,
	0},
    {"random min 0", BACKOFF_RANDOM, 100, 2000, 0, 30000, 1000, NULL, 0, 0, 0},
    /* X-Retry-Attempts can still ask for retries. */
    {"exponential start 0, attempts 1", BACKOFF_EXPONENTIAL, 0, 2000, 100,
	30000, 1000, NULL, 0, 1, 1},
    {"fibonacci multiplier 0", BACKOFF_FIBONACCI, 100, 2000, 100, 30000, 0,
	NULL, 0, 1, 0},
    {"fibonacci defaults", BACKOFF_FIBONACCI, 100, 2000, 100, 30000, 1000, NULL,
	0, 0, 0},
};

START_TEST(test_zero_delay)
{
	const struct zero_row *r = &zero_rows[_i];
	struct policy p;
	bool got;

	policy_defaults(&p);
	p.backoff = r->backoff;
	p.start_timeout_ms = r->start;
	p.random_interval_ms = r->interval;
	p.min_timeout_ms = r->min;
	p.max_timeout_ms = r->max;
	p.multiplier_ms = r->mult;
	p.timeouts_ms = r->list;
	p.ntimeouts = r->n;
	p.attempts = r->attempts != 0 ? r->attempts : 3;
	got = policy_has_zero_delay(&p);
	ck_assert_msg(got == (r->want != 0), "zero delay %s: %d, want %d",
	    r->name, got, r->want);
}
END_TEST

/* X-Retry-Attempts. */

struct xra_row {
	unsigned attempts;
	int overrides;
	unsigned limit;
	const char *xra;
	unsigned want;
};

static const struct xra_row xra_rows[] = {
    {3, 1, 10, NULL, 3},
    {3, 1, 10, "", 3},
    {3, 1, 10, "   ", 3},
    {1, 1, 10, "5", 5},
    {3, 1, 10, "50", 10},
    {3, 1, 10, "10", 10},
    {3, 1, 10, "11", 10},
    {3, 1, 10, "0", 1},
    {3, 1, 10, "abc", 3},
    {3, 1, 10, " 4 ", 4},
    {3, 1, 10, "007", 7},
    {3, 1, 10, "4x", 3},
    {3, 1, 10, "-2", 3},
    {3, 1, 10, "+2", 3},
    {3, 1, 10, "2.5", 3},
    {3, 1, 10, "1 2", 3},
    {3, 1, 10, "99999999999999999999", 10},
    {3, 0, 10, "7", 3},
    {1, 0, 10, "5", 1},
    {20, 1, 10, NULL, 20},
    {20, 1, 10, "15", 10},
    {3, 1, 100, "50", 50},
};

START_TEST(test_effective_attempts)
{
	const struct xra_row *r = &xra_rows[_i];
	struct policy p;
	unsigned got;

	policy_defaults(&p);
	p.attempts = r->attempts;
	p.client_overrides = r->overrides != 0;
	p.attempts_limit = r->limit;
	got = policy_effective_attempts(&p, r->xra);
	ck_assert_msg(got == r->want,
	    "attempts %u overrides %d limit %u X-Retry-Attempts %s%s%s: %u, "
	    "want %u",
	    r->attempts, r->overrides, r->limit, r->xra ? "\"" : "",
	    r->xra ? r->xra : "(none)", r->xra ? "\"" : "", got, r->want);
}
END_TEST

/* Where each attempt goes: the URL's origin, tls = yes, the fallbacks. */

struct target_row {
	int tls; /* tls = yes */
	int nfb; /* fallbacks used: 0, 1 (b.test:81 http) or 2 (+ c.test:443 https) */
	unsigned port;
	int port_given, https;
	unsigned n; /* the attempt */
	const char *host;
	unsigned want_port;
	int want_tls;
};

static const struct target_row target_rows[] = {
    {0, 0, 80, 0, 0, 1, "a.test", 80, 0},
    {0, 0, 80, 0, 0, 3, "a.test", 80, 0},
    {0, 0, 443, 0, 1, 2, "a.test", 443, 1},
    {0, 0, 8080, 1, 0, 1, "a.test", 8080, 0},
    /* tls = yes: an http:// URL goes over TLS, to 443 unless it names a port */
    {1, 0, 80, 0, 0, 1, "a.test", 443, 1},
    {1, 0, 8080, 1, 0, 1, "a.test", 8080, 1},
    {1, 0, 80, 1, 0, 2, "a.test", 80, 1},
    /* the first attempt is the URL's; then the fallbacks, the last repeating */
    {0, 1, 80, 0, 0, 1, "a.test", 80, 0},
    {0, 1, 80, 0, 0, 2, "b.test", 81, 0},
    {0, 1, 80, 0, 0, 5, "b.test", 81, 0},
    {0, 2, 80, 0, 0, 2, "b.test", 81, 0},
    {0, 2, 80, 0, 0, 3, "c.test", 443, 1},
    {0, 2, 80, 0, 0, 9, "c.test", 443, 1},
    /* a fallback's own scheme wins over tls = yes */
    {1, 2, 80, 0, 0, 1, "a.test", 443, 1},
    {1, 2, 80, 0, 0, 2, "b.test", 81, 0},
};

START_TEST(test_target)
{
	const struct target_row *r = &target_rows[_i];
	struct fallback fb[2] = {{HTTP_SCHEME_HTTP, (char *)"b.test", 81, NULL},
	    {HTTP_SCHEME_HTTPS, (char *)"c.test", 443, NULL}};
	struct policy p;
	struct policy_target t;

	policy_defaults(&p);
	p.tls = r->tls != 0;
	p.fallbacks = fb;
	p.nfallbacks = (size_t)r->nfb;
	policy_target(
	    &p, "a.test", r->port, r->port_given != 0, r->https != 0, r->n, &t);
	ck_assert_msg(strcmp(t.host, r->host) == 0 && t.port == r->want_port &&
		t.tls == (r->want_tls != 0),
	    "row %d: %s:%u tls %d", _i, t.host, t.port, t.tls);
}
END_TEST

/* When a hedge goes (policy_hedge_delay, hedge_after). */

struct hedge_row {
	uint64_t after_ms;
	unsigned pct;
	unsigned hedge_max;
	unsigned nsamples; /* of 1..nsamples ms, at 1 s */
	int want; /* -1: never */
	uint64_t want_ms;
};

static const struct hedge_row hedge_rows[] = {
    {0, 0, 1, 0, -1, 0}, /* off */
    {100, 0, 1, 0, 1, 100}, /* a fixed time */
    {100, 0, 0, 0, -1, 0}, /* hedge_max = 0: never */
    {0, 95, 1, 0, 1, HEDGE_FALLBACK_MS}, /* no samples: the fallback */
    {0, 95, 1, TAIL_MIN_SAMPLES - 1, 1, HEDGE_FALLBACK_MS},
    {0, 95, 1, TAIL_MIN_SAMPLES, 1, 19}, /* p95 of 1..20 ms */
    {0, 95, 1, 100, 1, 95},
    {0, 50, 3, 100, 1, 50},
    {0, 99, 1, 100, 1, 99},
    {0, 1, 1, 100, 1, 1},
    {0, 95, 0, 100, -1, 0},
};

START_TEST(test_hedge_delay)
{
	const struct hedge_row *r = &hedge_rows[_i];
	struct policy p;
	struct tail *t = calloc(1, sizeof *t);
	uint64_t ms = 12345;
	bool got;

	policy_defaults(&p);
	p.hedge_after.ms = r->after_ms;
	p.hedge_after.pct = r->pct;
	p.hedge_max = r->hedge_max;
	tail_init(t);
	for (unsigned i = 1; i <= r->nsamples; i++)
		tail_add(t, i, 1000);
	got = policy_hedge_delay(&p, t, 1000, &ms);
	ck_assert_msg(got == (r->want == 1), "row %d: %d", _i, got);
	if (got)
		ck_assert_msg(ms == r->want_ms, "row %d: %llu ms", _i,
		    (unsigned long long)ms);
	/* no tail at all: the fallback for a percentile */
	if (r->pct > 0 && r->hedge_max > 0) {
		ck_assert(policy_hedge_delay(&p, NULL, 1000, &ms));
		ck_assert_uint_eq(ms, HEDGE_FALLBACK_MS);
	}
	free(t);
}
END_TEST

/* A zero percentile (every sample 0 ms) floors at 1 ms: never at once. */
START_TEST(test_hedge_delay_floor)
{
	struct policy p;
	struct tail *t = calloc(1, sizeof *t);
	uint64_t ms;

	policy_defaults(&p);
	p.hedge_after.pct = 95;
	p.hedge_max = 1;
	tail_init(t);
	for (unsigned i = 0; i < 50; i++)
		tail_add(t, 0, 1000);
	ck_assert(policy_hedge_delay(&p, t, 1000, &ms));
	ck_assert_uint_eq(ms, 1);
	free(t);
}
END_TEST

/* Listed statuses and methods. */

struct listed_row {
	const char *name;
	int status; /* 0: a method row */
	const char *method;
	int methods_all;
	int want;
};

static const struct listed_row listed_rows[] = {
    {"404 listed", 404, NULL, 0, 1},
    {"429 listed", 429, NULL, 0, 1},
    {"403 not listed", 403, NULL, 0, 0},
    {"500 not listed", 500, NULL, 0, 0},
    {"GET", 0, "GET", 0, 1},
    /* method names are case-sensitive: "get" is not GET */
    {"get", 0, "get", 0, 0},
    {"Delete", 0, "Delete", 0, 0},
    {"get with *", 0, "get", 1, 1},
    {"POST", 0, "POST", 0, 0},
    {"PATCH", 0, "PATCH", 0, 0},
    {"GETX", 0, "GETX", 0, 0},
    {"POST with *", 0, "POST", 1, 1},
};

START_TEST(test_listed)
{
	const struct listed_row *r = &listed_rows[_i];
	struct policy p;
	bool got;

	policy_defaults(&p);
	add_status(&p, 404);
	add_status(&p, 429);
	p.methods_all = r->methods_all != 0;
	if (r->status > 0)
		got = policy_status_is_listed(&p, r->status);
	else
		got = policy_method_is_listed(&p, r->method);
	ck_assert_msg(got == (r->want != 0), "listed %s: %d, want %d", r->name,
	    got, r->want);
}
END_TEST

/* Failure kinds. */

struct kind_row {
	enum fail_kind kind;
	enum fail_class cls;
	const char *token;
	int status;
	const char *reason; /* NULL: not pinned */
};

static const struct kind_row kind_rows[] = {
    {FK_CONNECTION_REFUSED, FAIL_CONNECT, "connection_refused", 502, "refused"},
    {FK_CONNECTION_TIMEOUT, FAIL_CONNECT, "connection_timeout", 504, NULL},
    {FK_DESTINATION_UNREACHABLE, FAIL_CONNECT, "destination_unreachable", 502,
	NULL},
    {FK_TLS_PROTOCOL_ERROR, FAIL_CONNECT, "tls_protocol_error", 502, NULL},
    {FK_DNS_TIMEOUT, FAIL_DNS, "dns_timeout", 504, NULL},
    {FK_DNS_ERROR, FAIL_DNS, "dns_error", 502, NULL},
    {FK_DNS_NXDOMAIN, FAIL_FINAL, "dns_error", 502, NULL},
    {FK_CONNECTION_TERMINATED, FAIL_RESET, "connection_terminated", 502,
	"reset"},
    {FK_HTTP_PROTOCOL_ERROR, FAIL_RESET, "http_protocol_error", 502, NULL},
    {FK_RESPONSE_TIMEOUT, FAIL_TIMEOUT, "http_response_timeout", 504,
	"timeout"},
    {FK_TLS_CERTIFICATE_ERROR, FAIL_FINAL, "tls_certificate_error", 502, NULL},
    {FK_RESPONSE_HEADER_TOO_BIG, FAIL_FINAL,
	"http_response_header_section_size", 502, NULL},
    {FK_DEADLINE_CONNECTING, FAIL_FINAL, "connection_timeout", 504, NULL},
    {FK_PARENT_REFUSED, FAIL_FINAL, "proxy_configuration_error", 502,
	"parent_refused"},
};

START_TEST(test_fail_kind)
{
	const struct kind_row *r = &kind_rows[_i];
	const char *token = fail_kind_token(r->kind);
	const char *reason = fail_kind_reason(r->kind);

	ck_assert_msg(fail_kind_class(r->kind) == r->cls,
	    "kind %d (%s): class %d, want %d", r->kind, r->token,
	    fail_kind_class(r->kind), r->cls);
	ck_assert_msg(token != NULL && strcmp(token, r->token) == 0,
	    "kind %d: token \"%s\", want \"%s\"", r->kind,
	    token != NULL ? token : "(null)", r->token);
	ck_assert_msg(fail_kind_status(r->kind) == r->status,
	    "kind %d (%s): status %d, want %d", r->kind, r->token,
	    fail_kind_status(r->kind), r->status);
	ck_assert_msg(reason != NULL && *reason != '\0' &&
		strlen(reason) < sizeof(((struct decision *)0)->reason),
	    "kind %d (%s): reason \"%s\" empty or too long", r->kind, r->token,
	    reason != NULL ? reason : "(null)");
	if (r->reason != NULL)
		ck_assert_msg(strcmp(reason, r->reason) == 0,
		    "kind %d (%s): reason \"%s\", want \"%s\"", r->kind,
		    r->token, reason, r->reason);
}
END_TEST

/* Rule 2: is the outcome retryable? */

struct retryable_row {
	const char *name;
	int status;
	enum fail_kind fail;
	int header, body;
	int rase;
	unsigned errors;
	int listed[3]; /* statuses, 0-terminated */
	int want;
};

static const struct retryable_row retryable_rows[] = {
    {"500", 500, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"503", 503, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"599", 599, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"499", 499, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 0},
    {"404", 404, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 0},
    {"429 unlisted", 429, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 0},
    {"200", 200, FK_NONE, 0, 0, 1, DEF_ERRORS, {0}, 0},
    {"500 rase off", 500, FK_NONE, 0, 0, 0, DEF_ERRORS, {0}, 0},
    {"503 rase off", 503, FK_NONE, 0, 0, 0, DEF_ERRORS, {0}, 0},
    {"502 rase off listed", 502, FK_NONE, 0, 0, 0, DEF_ERRORS, {502}, 1},
    {"500 rase off 503 listed", 500, FK_NONE, 0, 0, 0, DEF_ERRORS, {503}, 0},
    {"404 listed", 404, FK_NONE, 0, 0, 1, DEF_ERRORS, {404}, 1},
    {"429 listed", 429, FK_NONE, 0, 0, 1, DEF_ERRORS, {404, 429}, 1},
    {"403 other listed", 403, FK_NONE, 0, 0, 1, DEF_ERRORS, {404, 429}, 0},
    {"200 header", 200, FK_NONE, 1, 0, 1, DEF_ERRORS, {0}, 1},
    {"200 body", 200, FK_NONE, 0, 1, 1, DEF_ERRORS, {0}, 1},
    {"404 header rase off", 404, FK_NONE, 1, 0, 0, DEF_ERRORS, {0}, 1},
    {"refused", 0, FK_CONNECTION_REFUSED, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"connect timeout", 0, FK_CONNECTION_TIMEOUT, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"unreachable", 0, FK_DESTINATION_UNREACHABLE, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"tls protocol", 0, FK_TLS_PROTOCOL_ERROR, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"dns timeout", 0, FK_DNS_TIMEOUT, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"dns error", 0, FK_DNS_ERROR, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"reset", 0, FK_CONNECTION_TERMINATED, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"protocol error", 0, FK_HTTP_PROTOCOL_ERROR, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"response timeout", 0, FK_RESPONSE_TIMEOUT, 0, 0, 1, DEF_ERRORS, {0}, 1},
    {"nxdomain", 0, FK_DNS_NXDOMAIN, 0, 0, 1, DEF_ERRORS, {0}, 0},
    {"nxdomain all bits", 0, FK_DNS_NXDOMAIN, 0, 0, 1, 0x1f, {0}, 0},
    {"certificate", 0, FK_TLS_CERTIFICATE_ERROR, 0, 0, 1, 0x1f, {0}, 0},
    {"header too big", 0, FK_RESPONSE_HEADER_TOO_BIG, 0, 0, 1, 0x1f, {0}, 0},
    {"deadline connecting", 0, FK_DEADLINE_CONNECTING, 0, 0, 1, 0x1f, {0}, 0},
    {"reset without reset", 0, FK_CONNECTION_TERMINATED, 0, 0, 1,
	FAIL_MASK(FAIL_CONNECT) | FAIL_MASK(FAIL_DNS) | FAIL_MASK(FAIL_TIMEOUT),
	{0}, 0},
    {"timeout without any", 0, FK_RESPONSE_TIMEOUT, 0, 0, 1, 0, {0}, 0},
    {"dns timeout, dns only", 0, FK_DNS_TIMEOUT, 0, 0, 1, FAIL_MASK(FAIL_DNS),
	{0}, 1},
    {"refused, dns only", 0, FK_CONNECTION_REFUSED, 0, 0, 1,
	FAIL_MASK(FAIL_DNS), {0}, 0},
    {"protocol error, reset only", 0, FK_HTTP_PROTOCOL_ERROR, 0, 0, 1,
	FAIL_MASK(FAIL_RESET), {0}, 1},
    {"timeout, timeout only", 0, FK_RESPONSE_TIMEOUT, 0, 0, 1,
	FAIL_MASK(FAIL_TIMEOUT), {0}, 1},
    {"connect timeout, timeout only", 0, FK_CONNECTION_TIMEOUT, 0, 0, 1,
	FAIL_MASK(FAIL_TIMEOUT), {0}, 0},
};

START_TEST(test_retryable)
{
	const struct retryable_row *r = &retryable_rows[_i];
	struct policy p;
	struct outcome o;
	size_t i;
	bool got;

	policy_defaults(&p);
	p.retry_all_server_errors = r->rase != 0;
	p.errors = r->errors;
	for (i = 0; i < RP_NELEM(r->listed) && r->listed[i] != 0; i++)
		add_status(&p, r->listed[i]);
	memset(&o, 0, sizeof o);
	o.status = r->status;
	o.fail = r->fail;
	o.header_matched = r->header != 0;
	o.body_matched = r->body != 0;
	got = policy_outcome_is_retryable(&p, &o);
	ck_assert_msg(got == (r->want != 0), "retryable %s: %d, want %d",
	    r->name, got, r->want);
}
END_TEST

/* policy_decide, rule by rule and in order. */

struct decide_row {
	const char *name;
	void (*tweak[MAXTWEAK])(struct policy *);
	struct outcome out;
	unsigned attempt; /* 0: 1 */
	unsigned max_attempts; /* 0: 3 */
	const char *method; /* NULL: GET */
	bool idem;
	uint64_t elapsed_ms; /* now - start */
	uint64_t wall_ms; /* 0: WALL_MS */
	double rnd;
	bool budget; /* pass a fresh budget */
	bool retry;
	enum decision_why why;
	uint64_t delay_ms; /* checked when retry */
	const char *reason; /* pinned reason, NULL: the status or kind's */
};

static const struct decide_row decide_rows[] = {
    /* Rule 2: retryable, and the reason recorded. */
    {.name = "503",
	.out = {.status = 503},
	.retry = true,
	.delay_ms = 100,
	.reason = "503"},
    {.name = "500 at attempt 2",
	.out = {.status = 500},
	.attempt = 2,
	.retry = true,
	.delay_ms = 200,
	.reason = "500"},
    {.name = "599", .out = {.status = 599}, .retry = true, .delay_ms = 100},
    {.name = "404", .out = {.status = 404}, .why = WHY_NOT_RETRYABLE},
    {.name = "404 listed",
	.tweak = {tw_st_404},
	.out = {.status = 404},
	.retry = true,
	.delay_ms = 100,
	.reason = "404"},
    {.name = "200", .out = {.status = 200}, .why = WHY_NOT_RETRYABLE},
    {.name = "200 header match",
	.out = {.status = 200, .header_matched = true},
	.retry = true,
	.delay_ms = 100,
	.reason = "200"},
    {.name = "200 body match",
	.out = {.status = 200, .body_matched = true},
	.retry = true,
	.delay_ms = 100,
	.reason = "200"},
    {.name = "500 rase off",
	.tweak = {tw_rase_off},
	.out = {.status = 500},
	.why = WHY_NOT_RETRYABLE},
    {.name = "reset",
	.out = {.fail = FK_CONNECTION_TERMINATED},
	.retry = true,
	.delay_ms = 100,
	.reason = "reset"},
    {.name = "response timeout",
	.out = {.fail = FK_RESPONSE_TIMEOUT},
	.retry = true,
	.delay_ms = 100,
	.reason = "timeout"},
    {.name = "refused",
	.out = {.fail = FK_CONNECTION_REFUSED},
	.retry = true,
	.delay_ms = 100,
	.reason = "refused"},
    {.name = "dns timeout",
	.out = {.fail = FK_DNS_TIMEOUT},
	.retry = true,
	.delay_ms = 100},
    {.name = "reset, errors without reset",
	.tweak = {tw_errors_no_reset},
	.out = {.fail = FK_CONNECTION_TERMINATED},
	.why = WHY_NOT_RETRYABLE},
    {.name = "timeout, no errors",
	.tweak = {tw_errors_none},
	.out = {.fail = FK_RESPONSE_TIMEOUT},
	.why = WHY_NOT_RETRYABLE},
    {.name = "nxdomain", .out = {.fail = FK_DNS_NXDOMAIN}, .why = WHY_FINAL},
    {.name = "certificate",
	.out = {.fail = FK_TLS_CERTIFICATE_ERROR},
	.why = WHY_FINAL},
    {.name = "header too big",
	.out = {.fail = FK_RESPONSE_HEADER_TOO_BIG},
	.why = WHY_FINAL},
    {.name = "deadline connecting",
	.out = {.fail = FK_DEADLINE_CONNECTING},
	.why = WHY_FINAL},
    {.name = "nxdomain, all error bits",
	.tweak = {tw_errors_all},
	.out = {.fail = FK_DNS_NXDOMAIN},
	.why = WHY_FINAL},
    /* Rule 1 (attempts) comes after rule 2. */
    {.name = "404 at the last attempt",
	.out = {.status = 404},
	.attempt = 3,
	.why = WHY_NOT_RETRYABLE},
    {.name = "nxdomain at the last attempt",
	.out = {.fail = FK_DNS_NXDOMAIN},
	.attempt = 3,
	.why = WHY_FINAL},
    {.name = "nxdomain POST",
	.out = {.fail = FK_DNS_NXDOMAIN},
	.method = "POST",
	.why = WHY_FINAL},
    {.name = "404 POST",
	.out = {.status = 404},
	.method = "POST",
	.why = WHY_NOT_RETRYABLE},
    {.name = "500 exhausted",
	.out = {.status = 500},
	.attempt = 3,
	.why = WHY_EXHAUSTED},
    {.name = "500 past the last attempt",
	.out = {.status = 500},
	.attempt = 4,
	.why = WHY_EXHAUSTED},
    {.name = "max_attempts 1",
	.out = {.status = 500},
	.max_attempts = 1,
	.why = WHY_EXHAUSTED},
    {.name = "500 at attempt 4 of 5",
	.out = {.status = 500},
	.attempt = 4,
	.max_attempts = 5,
	.retry = true,
	.delay_ms = 800},
    {.name = "POST exhausted",
	.out = {.status = 500},
	.attempt = 3,
	.method = "POST",
	.why = WHY_EXHAUSTED},
    {.name = "refused exhausted",
	.out = {.fail = FK_CONNECTION_REFUSED},
	.attempt = 3,
	.why = WHY_EXHAUSTED},
    /* Rule 3: the method. */
    {.name = "POST 500",
	.out = {.status = 500},
	.method = "POST",
	.why = WHY_METHOD},
    {.name = "PATCH 500",
	.out = {.status = 500},
	.method = "PATCH",
	.why = WHY_METHOD},
    /* method names are case-sensitive: "get" is not GET */
    {.name = "get 500",
	.out = {.status = 500},
	.method = "get",
	.why = WHY_METHOD},
    {.name = "Put 500",
	.out = {.status = 500},
	.method = "Put",
	.why = WHY_METHOD},
    {.name = "post 500",
	.out = {.status = 500},
	.method = "post",
	.why = WHY_METHOD},
    {.name = "POST 500 with key",
	.out = {.status = 500},
	.method = "POST",
	.idem = true,
	.retry = true,
	.delay_ms = 100,
	.reason = "500"},
    {.name = "POST reset",
	.out = {.fail = FK_CONNECTION_TERMINATED},
	.method = "POST",
	.why = WHY_METHOD},
    {.name = "POST reset with key",
	.out = {.fail = FK_CONNECTION_TERMINATED},
	.method = "POST",
	.idem = true,
	.retry = true,
	.delay_ms = 100,
	.reason = "reset"},
    {.name = "POST response timeout",
	.out = {.fail = FK_RESPONSE_TIMEOUT},
	.method = "POST",
	.why = WHY_METHOD},
    {.name = "POST protocol error",
	.out = {.fail = FK_HTTP_PROTOCOL_ERROR},
	.method = "POST",
	.why = WHY_METHOD},
    {.name = "POST refused",
	.out = {.fail = FK_CONNECTION_REFUSED},
	.method = "POST",
	.retry = true,
	.delay_ms = 100,
	.reason = "refused"},
    {.name = "POST connect timeout",
	.out = {.fail = FK_CONNECTION_TIMEOUT},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST unreachable",
	.out = {.fail = FK_DESTINATION_UNREACHABLE},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST tls protocol error",
	.out = {.fail = FK_TLS_PROTOCOL_ERROR},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST dns timeout",
	.out = {.fail = FK_DNS_TIMEOUT},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST dns error",
	.out = {.fail = FK_DNS_ERROR},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST 500, methods *",
	.tweak = {tw_methods_all},
	.out = {.status = 500},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "GET 500, methods POST",
	.tweak = {tw_methods_post},
	.out = {.status = 500},
	.why = WHY_METHOD},
    {.name = "POST 500, methods POST",
	.tweak = {tw_methods_post},
	.out = {.status = 500},
	.method = "POST",
	.retry = true,
	.delay_ms = 100},
    {.name = "POST header match",
	.out = {.status = 200, .header_matched = true},
	.method = "POST",
	.why = WHY_METHOD},
    {.name = "POST 429 Retry-After 120",
	.tweak = {tw_st_429},
	.out = {.status = 429, .retry_after = "120"},
	.method = "POST",
	.why = WHY_METHOD},
    /* Rule 6 and the Retry-After delay. */
    {.name = "429 Retry-After 2",
	.tweak = {tw_st_429},
	.out = {.status = 429, .retry_after = "2"},
	.retry = true,
	.delay_ms = 2000,
	.reason = "429"},
    {.name = "503 Retry-After 2",
	.out = {.status = 503, .retry_after = "2"},
	.retry = true,
	.delay_ms = 2000,
	.reason = "503"},
    {.name = "503 Retry-After 0",
	.out = {.status = 503, .retry_after = "0"},
	.retry = true,
	.delay_ms = 100},
    {.name = "503 Retry-After 1 below backoff",
	.out = {.status = 503, .retry_after = "1"},
	.attempt = 5,
	.max_attempts = 6,
	.retry = true,
	.delay_ms = 1600},
    {.name = "503 Retry-After 60 = max",
	.out = {.status = 503, .retry_after = "60"},
	.retry = true,
	.delay_ms = 60000},
    {.name = "503 Retry-After 61",
	.out = {.status = 503, .retry_after = "61"},
	.why = WHY_RETRY_AFTER},
    {.name = "503 Retry-After 120",
	.out = {.status = 503, .retry_after = "120"},
	.why = WHY_RETRY_AFTER},
    {.name = "503 Retry-After 45 above max_timeout",
	.out = {.status = 503, .retry_after = "45"},
	.retry = true,
	.delay_ms = 45000},
    {.name = "retry_after off, 120",
	.tweak = {tw_ra_off},
	.out = {.status = 503, .retry_after = "120"},
	.retry = true,
	.delay_ms = 100},
    {.name = "retry_after off, 2",
	.tweak = {tw_ra_off},
	.out = {.status = 503, .retry_after = "2"},
	.retry = true,
	.delay_ms = 100},
    {.name = "500 Retry-After 2",
	.out = {.status = 500, .retry_after = "2"},
	.retry = true,
	.delay_ms = 100},
    {.name = "500 Retry-After 120",
	.out = {.status = 500, .retry_after = "120"},
	.retry = true,
	.delay_ms = 100},
    {.name = "503 Retry-After soon",
	.out = {.status = 503, .retry_after = "soon"},
	.retry = true,
	.delay_ms = 100},
    {.name = "503 Retry-After date +10 s",
	.out = {.status = 503, .retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"},
	.retry = true,
	.delay_ms = 10000},
    {.name = "503 Retry-After date in the past",
	.out = {.status = 503, .retry_after = "Wed, 21 Oct 2015 07:27:00 GMT"},
	.retry = true,
	.delay_ms = 100},
    {.name = "503 Retry-After date +120 s",
	.out = {.status = 503, .retry_after = "Wed, 21 Oct 2015 07:29:50 GMT"},
	.why = WHY_RETRY_AFTER},
    {.name = "503 Retry-After date, other wall clock",
	.out = {.status = 503, .retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"},
	.wall_ms = WALL_MS - 5000,
	.retry = true,
	.delay_ms = 15000},
    {.name = "429 unlisted Retry-After 2",
	.out = {.status = 429, .retry_after = "2"},
	.why = WHY_NOT_RETRYABLE},
    {.name = "429 header match Retry-After 2",
	.out = {.status = 429, .retry_after = "2", .header_matched = true},
	.retry = true,
	.delay_ms = 2000,
	.reason = "429"},
    {.name = "429 Retry-After 120 exhausted",
	.tweak = {tw_st_429},
	.out = {.status = 429, .retry_after = "120"},
	.attempt = 3,
	.why = WHY_EXHAUSTED},
    {.name = "503 rase off Retry-After 120",
	.tweak = {tw_rase_off},
	.out = {.status = 503, .retry_after = "120"},
	.why = WHY_NOT_RETRYABLE},
    /* Rule 5: the deadline. */
    {.name = "deadline: 950 + 100",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503},
	.elapsed_ms = 950,
	.why = WHY_DEADLINE},
    {.name = "deadline: 900 + 100",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503},
	.elapsed_ms = 900,
	.why = WHY_DEADLINE},
    {.name = "deadline: 899 + 100",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503},
	.elapsed_ms = 899,
	.retry = true,
	.delay_ms = 100},
    {.name = "deadline: Retry-After 2",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503, .retry_after = "2"},
	.why = WHY_DEADLINE},
    {.name = "deadline: Retry-After 120",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503, .retry_after = "120"},
	.why = WHY_RETRY_AFTER},
    {.name = "no deadline",
	.out = {.status = 503},
	.elapsed_ms = 1000000000,
	.retry = true,
	.delay_ms = 100},
    {.name = "deadline: POST",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503},
	.method = "POST",
	.elapsed_ms = 950,
	.why = WHY_METHOD},
    /* Rule 4: the budget, checked last and counted only on a retry. */
    {.name = "budget with room",
	.out = {.status = 503},
	.budget = true,
	.retry = true,
	.delay_ms = 100},
    {.name = "budget 0%",
	.tweak = {tw_budget_zero},
	.out = {.status = 503},
	.budget = true,
	.why = WHY_BUDGET},
    {.name = "budget 0%, failure",
	.tweak = {tw_budget_zero},
	.out = {.fail = FK_CONNECTION_REFUSED},
	.budget = true,
	.why = WHY_BUDGET},
    {.name = "budget 0%, deadline",
	.tweak = {tw_budget_zero, tw_deadline_1000},
	.out = {.status = 503},
	.elapsed_ms = 950,
	.budget = true,
	.why = WHY_DEADLINE},
    {.name = "budget: deadline",
	.tweak = {tw_deadline_1000},
	.out = {.status = 503},
	.elapsed_ms = 950,
	.budget = true,
	.why = WHY_DEADLINE},
    {.name = "budget: method",
	.out = {.status = 503},
	.method = "POST",
	.budget = true,
	.why = WHY_METHOD},
    {.name = "budget: Retry-After",
	.out = {.status = 503, .retry_after = "120"},
	.budget = true,
	.why = WHY_RETRY_AFTER},
    {.name = "budget: exhausted",
	.out = {.status = 503},
	.attempt = 3,
	.budget = true,
	.why = WHY_EXHAUSTED},
    {.name = "budget: not retryable",
	.out = {.status = 404},
	.budget = true,
	.why = WHY_NOT_RETRYABLE},
    /* The delay comes from the schedule with ctx->rnd. */
    {.name = "random rnd 0",
	.tweak = {tw_random},
	.out = {.status = 503},
	.retry = true,
	.delay_ms = 100},
    {.name = "random rnd 0.5",
	.tweak = {tw_random},
	.out = {.status = 503},
	.rnd = 0.5,
	.retry = true,
	.delay_ms = 15050},
    {.name = "jitter rnd 0.5",
	.tweak = {tw_jitter},
	.out = {.status = 503},
	.rnd = 0.5,
	.retry = true,
	.delay_ms = 1100},
    {.name = "exponential attempt 10",
	.out = {.status = 503},
	.attempt = 10,
	.max_attempts = 20,
	.retry = true,
	.delay_ms = 30000},
    {.name = "list [0,0]",
	.tweak = {tw_list00},
	.out = {.status = 503},
	.retry = true,
	.delay_ms = 0},
};

START_TEST(test_decide)
{
	const struct decide_row *r = &decide_rows[_i];
	struct policy p;
	struct retry_ctx ctx;
	struct decision d;
	struct budget b;
	uint64_t reqs = 99, retries = 99;
	char want_reason[16];

	apply_tweaks(&p, r->tweak);
	budget_init(&b);
	memset(&ctx, 0, sizeof ctx);
	ctx.attempt = r->attempt != 0 ? r->attempt : 1;
	ctx.max_attempts = r->max_attempts != 0 ? r->max_attempts : 3;
	ctx.method = r->method != NULL ? r->method : "GET";
	ctx.has_idempotency_key = r->idem;
	ctx.start_ms = START_MS;
	ctx.now_ms = START_MS + r->elapsed_ms;
	ctx.wall_now_ms = r->wall_ms != 0 ? r->wall_ms : WALL_MS;
	ctx.rnd = r->rnd;
	ctx.budget = r->budget ? &b : NULL;
	memset(&d, 0x55, sizeof d);
	policy_decide(&p, &r->out, &ctx, &d);

	ck_assert_msg(d.retry == r->retry, "decide %s: retry %d, want %d",
	    r->name, d.retry, r->retry);
	ck_assert_msg(d.why == r->why, "decide %s: why %d (%s), want %d (%s)",
	    r->name, d.why, decision_why_name(d.why), r->why,
	    decision_why_name(r->why));
	if (r->retry) {
		ck_assert_msg(d.delay_ms == r->delay_ms,
		    "decide %s: delay %" PRIu64 ", want %" PRIu64, r->name,
		    d.delay_ms, r->delay_ms);
		if (r->out.status > 0)
			snprintf(want_reason, sizeof want_reason, "%d",
			    r->out.status);
		else
			snprintf(want_reason, sizeof want_reason, "%s",
			    fail_kind_reason(r->out.fail));
		ck_assert_msg(memchr(d.reason, '\0', sizeof d.reason) != NULL &&
			strcmp(d.reason, want_reason) == 0,
		    "decide %s: reason \"%.16s\", want \"%s\"", r->name,
		    d.reason, want_reason);
		if (r->reason != NULL)
			ck_assert_msg(strcmp(d.reason, r->reason) == 0,
			    "decide %s: reason \"%s\", want \"%s\"", r->name,
			    d.reason, r->reason);
	}
	if (r->budget) {
		budget_sums(&b, ctx.now_ms, &reqs, &retries);
		ck_assert_msg(retries == (r->retry ? 1u : 0u),
		    "decide %s: the budget counted %" PRIu64
		    " retries, want %d",
		    r->name, retries, r->retry ? 1 : 0);
	}
}
END_TEST

struct why_row {
	enum decision_why why;
	const char *name; /* the metrics label of the README (Operations) */
};

static const struct why_row why_rows[] = {
    {WHY_BUDGET, "budget"},
    {WHY_DEADLINE, "deadline"},
    {WHY_METHOD, "method"},
    {WHY_RETRY_AFTER, "retry_after"},
};

START_TEST(test_why_name)
{
	const struct why_row *r = &why_rows[_i];
	const char *got = decision_why_name(r->why);
	int w;

	ck_assert_msg(got != NULL && strcmp(got, r->name) == 0,
	    "why %d: \"%s\", want \"%s\"", r->why, got != NULL ? got : "(null)",
	    r->name);
	for (w = WHY_RETRY; w <= WHY_BUDGET; w++) {
		const char *other = decision_why_name((enum decision_why)w);

		ck_assert_msg(
		    other != NULL && *other != '\0', "why %d has no name", w);
		ck_assert_msg(w == (int)r->why || strcmp(other, got) != 0,
		    "why %d and %d share the name \"%s\"", w, r->why, got);
	}
}
END_TEST

/* The aiohttp-retry test suite, replayed as the proxy's request loop. */

struct scenario_row {
	const char *name;
	void (*tweak[MAXTWEAK])(struct policy *);
	const char *method; /* NULL: GET */
	bool idem;
	const char *xra;
	int seq[MAXSEQ]; /* > 0 status, < 0 -fail kind; 0 ends, last repeats */
	bool budget_zero; /* a fresh budget under 0% and no floor */
	unsigned want_attempts;
	int want_final;
	enum decision_why want_why;
	int want_total_ms; /* sum of the delays, -1: not checked */
};

static const struct scenario_row scenario_rows[] = {
    {"internal_error", {tw_attempts_5}, NULL, false, NULL, {500}, false, 5, 500,
	WHY_EXHAUSTED, 1500},
    {"sometimes_error", {tw_attempts_5}, NULL, false, NULL, {500, 500, 200},
	false, 3, 200, WHY_NOT_RETRYABLE, 300},
    {"not_found_error", {tw_attempts_5, tw_st_404}, NULL, false, NULL, {404},
	false, 5, 404, WHY_EXHAUSTED, -1},
    {"not_retry_server_errors", {tw_rase_off}, NULL, false, NULL, {500}, false,
	1, 500, WHY_NOT_RETRYABLE, 0},
    {"dont_retry_if_not_in_retry_methods, defaults", {NULL}, NULL, false, NULL,
	{500}, false, 3, 500, WHY_EXHAUSTED, 300},
    {"dont_retry_if_not_in_retry_methods, POST", {tw_methods_post}, NULL, false,
	NULL, {500}, false, 1, 500, WHY_METHOD, 0},
    {"list_retry_works_for_multiple_attempts", {tw_list00}, NULL, false, NULL,
	{500}, false, 3, 500, WHY_EXHAUSTED, 0},
    {"list_retry_all_failed", {tw_list111, tw_st_403}, NULL, false, NULL, {403},
	false, 3, 403, WHY_EXHAUSTED, 2000},
    {"change_client_retry_options", {tw_attempts_2}, NULL, false, NULL,
	{500, 500, 200}, false, 2, 500, WHY_EXHAUSTED, 100},
    {"X-Retry-Attempts 5 on attempts 1", {tw_attempts_1}, NULL, false, "5",
	{500}, false, 5, 500, WHY_EXHAUSTED, 1500},
    {"X-Retry-Attempts abc on attempts 1", {tw_attempts_1}, NULL, false, "abc",
	{500}, false, 1, 500, WHY_EXHAUSTED, 0},
    {"X-Retry-Attempts 5, overrides off", {tw_attempts_1, tw_overrides_off},
	NULL, false, "5", {500}, false, 1, 500, WHY_EXHAUSTED, 0},
    {"X-Retry-Attempts 50", {NULL}, NULL, false, "50", {500}, false, 10, 500,
	WHY_EXHAUSTED, -1},
    {"hello", {NULL}, NULL, false, NULL, {200}, false, 1, 200,
	WHY_NOT_RETRYABLE, 0},
    {"404 with defaults", {NULL}, NULL, false, NULL, {404}, false, 1, 404,
	WHY_NOT_RETRYABLE, 0},
    {"429 listed", {tw_st_429}, NULL, false, NULL, {429}, false, 3, 429,
	WHY_EXHAUSTED, 300},
    {"503 listed, rase off, upstream 500", {tw_rase_off, tw_st_503}, NULL,
	false, NULL, {500}, false, 1, 500, WHY_NOT_RETRYABLE, 0},
    {"POST reset after sending", {NULL}, "POST", false, NULL,
	{-FK_CONNECTION_TERMINATED}, false, 1, 502, WHY_METHOD, 0},
    {"POST 500 with idempotency key", {NULL}, "POST", true, NULL, {500, 200},
	false, 2, 200, WHY_NOT_RETRYABLE, 100},
    {"POST refused", {NULL}, "POST", false, NULL, {-FK_CONNECTION_REFUSED},
	false, 3, 502, WHY_EXHAUSTED, 300},
    {"refused, refused, 200", {NULL}, NULL, false, NULL,
	{-FK_CONNECTION_REFUSED, -FK_CONNECTION_REFUSED, 200}, false, 3, 200,
	WHY_NOT_RETRYABLE, 300},
    {"nxdomain", {NULL}, NULL, false, NULL, {-FK_DNS_NXDOMAIN}, false, 1, 502,
	WHY_FINAL, 0},
    {"reset, errors without reset", {tw_errors_no_reset}, NULL, false, NULL,
	{-FK_CONNECTION_TERMINATED}, false, 1, 502, WHY_NOT_RETRYABLE, 0},
    {"response timeout", {NULL}, NULL, false, NULL, {-FK_RESPONSE_TIMEOUT},
	false, 3, 504, WHY_EXHAUSTED, 300},
    {"connect timeout", {NULL}, NULL, false, NULL, {-FK_CONNECTION_TIMEOUT},
	false, 3, 504, WHY_EXHAUSTED, 300},
    {"reset then 503 then 200", {NULL}, NULL, false, NULL,
	{-FK_CONNECTION_TERMINATED, 503, 200}, false, 3, 200, WHY_NOT_RETRYABLE,
	300},
    {"budget 0%", {tw_budget_zero}, NULL, false, NULL, {503}, true, 1, 503,
	WHY_BUDGET, 0},
};

START_TEST(test_scenario)
{
	const struct scenario_row *r = &scenario_rows[_i];
	struct policy p;
	struct retry_ctx ctx;
	struct decision d;
	struct outcome o;
	struct budget b;
	size_t nseq, i;
	unsigned attempt;
	uint64_t total = 0;
	int v = 0, final;

	apply_tweaks(&p, r->tweak);
	budget_init(&b);
	for (nseq = 0; nseq < MAXSEQ && r->seq[nseq] != 0; nseq++)
		;
	memset(&ctx, 0, sizeof ctx);
	ctx.max_attempts = policy_effective_attempts(&p, r->xra);
	ctx.method = r->method != NULL ? r->method : "GET";
	ctx.has_idempotency_key = r->idem;
	ctx.start_ms = START_MS;
	ctx.now_ms = START_MS;
	ctx.wall_now_ms = WALL_MS;
	ctx.budget = r->budget_zero ? &b : NULL;
	for (attempt = 1;; attempt++) {
		ck_assert_msg(attempt <= 100,
		    "%s: still retrying at attempt %u", r->name, attempt);
		i = attempt - 1 < nseq ? attempt - 1 : nseq - 1;
		v = r->seq[i];
		memset(&o, 0, sizeof o);
		if (v > 0)
			o.status = v;
		else
			o.fail = (enum fail_kind) - v;
		ctx.attempt = attempt;
		policy_decide(&p, &o, &ctx, &d);
		if (!d.retry)
			break;
		total += d.delay_ms;
		ctx.now_ms += d.delay_ms;
	}
	final = v > 0 ? v : fail_kind_status((enum fail_kind) - v);
	ck_assert_msg(attempt == r->want_attempts, "%s: %u attempts, want %u",
	    r->name, attempt, r->want_attempts);
	ck_assert_msg(final == r->want_final, "%s: final %d, want %d", r->name,
	    final, r->want_final);
	ck_assert_msg(d.why == r->want_why, "%s: stopped with %s, want %s",
	    r->name, decision_why_name(d.why), decision_why_name(r->want_why));
	if (r->want_total_ms >= 0)
		ck_assert_msg(total == (uint64_t)r->want_total_ms,
		    "%s: slept %" PRIu64 " ms, want %d", r->name, total,
		    r->want_total_ms);
}
END_TEST

/* Per-attempt timeout and the deadline. */

struct timeout_row {
	uint64_t deadline, per_try, elapsed;
	uint64_t want;
};

static const struct timeout_row timeout_rows[] = {
    {0, 30000, 0, 30000},
    {0, 30000, 1000000000, 30000},
    {10000, 30000, 0, 10000},
    {10000, 30000, 4000, 6000},
    {10000, 30000, 9999, 1},
    {10000, 3000, 5000, 3000},
    {10000, 3000, 7000, 3000},
    {10000, 3000, 7001, 2999},
    {60000, 30000, 1000, 30000},
};

START_TEST(test_attempt_timeout)
{
	const struct timeout_row *r = &timeout_rows[_i];
	struct policy p;
	uint64_t got;

	policy_defaults(&p);
	p.deadline_ms = r->deadline;
	p.per_try_timeout_ms = r->per_try;
	got = policy_attempt_timeout_ms(&p, START_MS, START_MS + r->elapsed);
	ck_assert_msg(got == r->want,
	    "deadline %" PRIu64 " per_try %" PRIu64 " after %" PRIu64
	    ": %" PRIu64 ", want %" PRIu64,
	    r->deadline, r->per_try, r->elapsed, got, r->want);
}
END_TEST

struct passed_row {
	uint64_t deadline, elapsed;
	int want;
};

static const struct passed_row passed_rows[] = {
    {0, 0, 0},
    {0, 1000000000, 0},
    {1000, 0, 0},
    {1000, 999, 0},
    {1000, 1000, 1},
    {1000, 5000, 1},
};

START_TEST(test_deadline_passed)
{
	const struct passed_row *r = &passed_rows[_i];
	struct policy p;
	bool got;

	policy_defaults(&p);
	p.deadline_ms = r->deadline;
	got = policy_deadline_passed(&p, START_MS, START_MS + r->elapsed);
	ck_assert_msg(got == (r->want != 0),
	    "deadline %" PRIu64 " after %" PRIu64 ": %d, want %d", r->deadline,
	    r->elapsed, got, r->want);
}
END_TEST

/* The retry budget. */

enum step_kind {
	STEP_END = 0,
	STEP_REQ, /* note n requests */
	STEP_TRY, /* try n retries, want of them allowed */
	STEP_SUMS, /* the window holds n requests and want retries */
};

struct budget_step {
	enum step_kind kind;
	uint64_t now_ms;
	unsigned n;
	unsigned want;
};

struct budget_row {
	const char *name;
	double percent;
	unsigned min;
	struct budget_step steps[8];
};

static const struct budget_row budget_rows[] = {
    {"20% of 100", 20, 0,
	{{STEP_REQ, 0, 100, 0}, {STEP_TRY, 0, 20, 20}, {STEP_TRY, 0, 1, 0},
	    {STEP_TRY, 500, 4, 0}, {STEP_SUMS, 500, 100, 20}}},
    {"floor of 3 a second", 20, 3,
	{{STEP_TRY, 1000, 3, 3}, {STEP_TRY, 1000, 1, 0}, {STEP_TRY, 2000, 3, 3},
	    {STEP_TRY, 2500, 1, 0}, {STEP_SUMS, 2500, 0, 6}}},
    {"floor of 10", 20, 10, {{STEP_TRY, 0, 12, 10}}},
    {"floor per second, not per window", 0, 2,
	{{STEP_TRY, 0, 2, 2}, {STEP_TRY, 1000, 3, 2}, {STEP_SUMS, 1000, 0, 4}}},
    {"0% never", 0, 0,
	{{STEP_REQ, 0, 100, 0}, {STEP_TRY, 0, 5, 0}, {STEP_TRY, 5000, 5, 0},
	    {STEP_SUMS, 5000, 100, 0}}},
    {"50% of 10", 50, 0, {{STEP_REQ, 0, 10, 0}, {STEP_TRY, 0, 6, 5}}},
    {"100% of 3", 100, 0, {{STEP_REQ, 0, 3, 0}, {STEP_TRY, 0, 4, 3}}},
    {"12.5% of 8", 12.5, 0, {{STEP_REQ, 0, 8, 0}, {STEP_TRY, 0, 2, 1}}},
    {"requests spread over the window", 20, 0,
	{{STEP_REQ, 0, 50, 0}, {STEP_REQ, 5000, 50, 0},
	    {STEP_TRY, 9000, 25, 20}, {STEP_SUMS, 9000, 100, 20}}},
    {"old requests drop out", 20, 0,
	{{STEP_REQ, 0, 100, 0}, {STEP_TRY, 9500, 1, 1}, {STEP_TRY, 11000, 1, 0},
	    {STEP_SUMS, 11000, 0, 1}, {STEP_SUMS, 20000, 0, 0}}},
    {"the window is 10 s", 20, 0,
	{{STEP_REQ, 1000, 100, 0}, {STEP_SUMS, 10999, 100, 0},
	    {STEP_TRY, 10999, 1, 1}, {STEP_SUMS, 11000, 0, 1},
	    {STEP_SUMS, 20000, 0, 0}}},
    {"a reused bucket starts empty", 20, 0,
	{{STEP_REQ, 0, 100, 0}, {STEP_REQ, 10000, 10, 0},
	    {STEP_SUMS, 10000, 10, 0}, {STEP_TRY, 10000, 3, 2}}},
};

START_TEST(test_budget)
{
	const struct budget_row *r = &budget_rows[_i];
	const struct budget_step *s;
	struct budget b;
	uint64_t reqs, retries;
	unsigned i, allowed;
	size_t j;

	/* budget_init must not rely on zeroed memory. */
	memset(&b, 0xff, sizeof b);
	budget_init(&b);
	budget_sums(&b, 0, &reqs, &retries);
	ck_assert_msg(reqs == 0 && retries == 0,
	    "%s: fresh budget sums %" PRIu64 "/%" PRIu64, r->name, reqs,
	    retries);
	for (j = 0; j < RP_NELEM(r->steps) && r->steps[j].kind != STEP_END;
	     j++) {
		s = &r->steps[j];
		switch (s->kind) {
		case STEP_REQ:
			for (i = 0; i < s->n; i++)
				budget_note_request(&b, s->now_ms);
			break;
		case STEP_TRY:
			allowed = 0;
			for (i = 0; i < s->n; i++)
				if (budget_try_retry(
					&b, r->percent, r->min, s->now_ms))
					allowed++;
			ck_assert_msg(allowed == s->want,
			    "%s, step %zu: %u of %u retries allowed at %" PRIu64
			    " ms, want %u",
			    r->name, j, allowed, s->n, s->now_ms, s->want);
			break;
		case STEP_SUMS:
			budget_sums(&b, s->now_ms, &reqs, &retries);
			ck_assert_msg(reqs == s->n && retries == s->want,
			    "%s, step %zu: sums at %" PRIu64 " ms %" PRIu64
			    " requests %" PRIu64 " retries, want %u and %u",
			    r->name, j, s->now_ms, reqs, retries, s->n,
			    s->want);
			break;
		case STEP_END:
			break;
		}
	}
}
END_TEST

/* ---- policy_retry_after: Retry-After, or a rate-limit reset field ---- */

struct fields {
	const char *names[3], *values[3];
};

static const char *
get_field(const char *name, void *arg)
{
	const struct fields *f = arg;

	for (int i = 0; i < 3 && f->names[i] != NULL; i++)
		if (util_strcasecmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static char reset_gh[] = "X-RateLimit-Reset", reset_ietf[] = "RateLimit-Reset";
static char *resets[] = {reset_gh, reset_ietf};

static const struct {
	int status;
	bool
	    named; /* retry_after_headers = X-RateLimit-Reset, RateLimit-Reset */
	struct fields f;
	const char *want; /* NULL: none */
} ra_rows[] = {
    /* Retry-After is always the response's own, whatever else it says */
    {429, true, {{"Retry-After", "X-RateLimit-Reset"}, {"7", "1767225630"}},
	"7"},
    {200, false, {{"Retry-After"}, {"3"}}, "3"},
    /* none named: only Retry-After counts */
    {429, false, {{"X-RateLimit-Reset"}, {"1767225630"}}, NULL},
    /* a Unix time 30 s ahead (the clock: 2026-01-01T00:00:00.5Z) */
    {429, true, {{"X-RateLimit-Reset"}, {"1767225630"}}, "30"},
    {503, true, {{"RateLimit-Reset"}, {"12"}}, "12"},
    /* the first named one that reads as a reset */
    {429, true, {{"RateLimit-Reset", "X-RateLimit-Reset"}, {"5", "1767225700"}},
	"100"},
    {429, true, {{"X-RateLimit-Reset", "RateLimit-Reset"}, {"soon", "4"}}, "4"},
    /* past: 0 (nothing to wait for) */
    {429, true, {{"X-RateLimit-Reset"}, {"1767225000"}}, "0"},
    /* only 429 and 503 are rate limits */
    {500, true, {{"RateLimit-Reset"}, {"12"}}, NULL},
    {200, true, {{"X-RateLimit-Reset"}, {"1767225630"}}, NULL},
    {429, true, {{"X-Other"}, {"12"}}, NULL},
};

START_TEST(test_retry_after_value)
{
	struct policy p;
	char buf[24];
	const char *v;

	policy_defaults(&p);
	if (ra_rows[_i].named) {
		p.reset_headers = resets;
		p.nreset_headers = RP_NELEM(resets);
	}
	v = policy_retry_after(&p, ra_rows[_i].status, get_field,
	    (void *)&ra_rows[_i].f, UINT64_C(1767225600500), buf, sizeof buf);
	if (ra_rows[_i].want == NULL)
		ck_assert_msg(v == NULL, "row %d: got %s", _i, v);
	else {
		ck_assert_msg(v != NULL, "row %d: got none", _i);
		ck_assert_str_eq(v, ra_rows[_i].want);
	}
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc;

	tc = tcase_create("backoff");
	tcase_add_loop_test(
	    tc, test_backoff_exponential, 0, RP_NELEM(exp_rows));
	tcase_add_loop_test(tc, test_backoff_random, 0, RP_NELEM(random_rows));
	tcase_add_loop_test(tc, test_backoff_list, 0, RP_NELEM(list_rows));
	tcase_add_loop_test(tc, test_backoff_fibonacci, 0, RP_NELEM(fib_rows));
	tcase_add_loop_test(tc, test_backoff_jitter, 0, RP_NELEM(jitter_rows));
	tcase_add_loop_test(tc, test_backoff_range, 0, RP_NELEM(range_rows));
	tcase_add_loop_test(
	    tc, test_backoff_in_range, BACKOFF_EXPONENTIAL, BACKOFF_JITTER + 1);
	tcase_add_loop_test(tc, test_zero_delay, 0, RP_NELEM(zero_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("classify");
	tcase_add_loop_test(tc, test_effective_attempts, 0, RP_NELEM(xra_rows));
	tcase_add_loop_test(tc, test_listed, 0, RP_NELEM(listed_rows));
	tcase_add_loop_test(tc, test_fail_kind, 0, RP_NELEM(kind_rows));
	tcase_add_loop_test(tc, test_retryable, 0, RP_NELEM(retryable_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("decide");
	tcase_add_loop_test(tc, test_decide, 0, RP_NELEM(decide_rows));
	tcase_add_loop_test(tc, test_why_name, 0, RP_NELEM(why_rows));
	tcase_add_loop_test(tc, test_scenario, 0, RP_NELEM(scenario_rows));
	tcase_add_loop_test(
	    tc, test_attempt_timeout, 0, RP_NELEM(timeout_rows));
	tcase_add_loop_test(tc, test_deadline_passed, 0, RP_NELEM(passed_rows));
	suite_add_tcase(s, tc);

	tc = tcase_create("budget");
	tcase_add_loop_test(tc, test_budget, 0, RP_NELEM(budget_rows));
	tcase_add_loop_test(tc, test_retry_after_value, 0, RP_NELEM(ra_rows));
	tcase_add_loop_test(tc, test_target, 0, RP_NELEM(target_rows));
	tcase_add_loop_test(tc, test_hedge_delay, 0, RP_NELEM(hedge_rows));
	tcase_add_test(tc, test_hedge_delay_floor);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(policy_suite());
	int failures;

	srunner_run_all(sr, CK_NORMAL);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failures ? 1 : 0;
}
