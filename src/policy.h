/*
 * policy: a resolved retry policy (the [default] / [route] keys), the five
 * backoff schedules and the retry decision (retryproxy(8), RETRY
 * SEMANTICS).  Pure: the caller passes the clock, a random value and the
 * budget; nothing here sleeps, logs or reads a socket.
 */
#ifndef RP_POLICY_H
#define RP_POLICY_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hold.h"

struct budget;
struct parent;
struct tail;

enum backoff {
	BACKOFF_EXPONENTIAL = 0,
	BACKOFF_RANDOM = 1,
	BACKOFF_LIST = 2,
	BACKOFF_FIBONACCI = 3,
	BACKOFF_JITTER = 4,
};

/* Failure classes, as named by the `errors` key. */
enum fail_class {
	FAIL_CONNECT = 0,
	FAIL_DNS = 1,
	FAIL_RESET = 2,
	FAIL_TIMEOUT = 3,
	FAIL_FINAL = 4, /* never retried: NXDOMAIN, bad certificate, ... */
};
#define FAIL_MASK(c) (1u << (c))

/*
 * Why an attempt failed: the RFC 9209 error token and the class it
 * belongs to.
 */
enum fail_kind {
	FK_NONE = 0,
	FK_CONNECTION_REFUSED = 1, /* connect */
	FK_CONNECTION_TIMEOUT = 2, /* connect */
	FK_DESTINATION_UNREACHABLE = 3, /* connect */
	FK_TLS_PROTOCOL_ERROR = 4, /* connect (handshake broke) */
	FK_DNS_TIMEOUT = 5, /* dns */
	FK_DNS_ERROR = 6, /* dns (server failure) */
	FK_DNS_NXDOMAIN = 7, /* final, token dns_error */
	FK_CONNECTION_TERMINATED = 8, /* reset */
	FK_HTTP_PROTOCOL_ERROR = 9, /* reset */
	FK_RESPONSE_TIMEOUT = 10, /* timeout */
	FK_TLS_CERTIFICATE_ERROR = 11, /* final */
	FK_RESPONSE_HEADER_TOO_BIG = 12, /* final */
	FK_DEADLINE_CONNECTING = 13, /* final (504 connection_timeout) */
	FK_PARENT_REFUSED = 14, /* final: a parent refused a CONNECT (407) */
};
enum fail_class fail_kind_class(enum fail_kind);
/* The Proxy-Status error token. */
const char *fail_kind_token(enum fail_kind);
/* Short reason used in logs and metrics: "refused", "reset", ... */
const char *fail_kind_reason(enum fail_kind);
/* The status the client gets when this is the final outcome: 502 or 504. */
int fail_kind_status(enum fail_kind);

struct header_match {
	char *name; /* header name */
	char *value; /* exact value (case-sensitive), or "*" for any */
};

struct fallback {
	int scheme; /* enum http_scheme */
	char *host;
	unsigned port;
	char *text; /* as written */
};

/* hedge_after: off (both 0), a fixed time, or a percentile. */
struct hedge_after {
	uint64_t ms; /* > 0: after this long */
	unsigned pct; /* > 0: after the route's pct-th percentile (tail.h) */
};

/* A fully resolved policy.  Heap members belong to the config. */
struct policy {
	unsigned attempts;
	enum backoff backoff;
	uint64_t start_timeout_ms;
	double factor;
	uint64_t max_timeout_ms;
	uint64_t min_timeout_ms;
	uint64_t *timeouts_ms;
	size_t ntimeouts;
	uint64_t multiplier_ms;
	uint64_t random_interval_ms;
	uint8_t statuses[600 / 8]; /* bitmap of extra retried statuses */
	bool retry_all_server_errors;
	bool methods_all;
	char **methods; /* upper-case */
	size_t nmethods;
	unsigned errors; /* FAIL_MASK bits */
	char *idempotency_header; /* "" = disabled */
	struct header_match *retry_if_header;
	size_t nretry_if_header;
	char *retry_if_body_src; /* "" = none */
	regex_t *retry_if_body; /* NULL = none */
	uint64_t connect_timeout_ms;
	uint64_t per_try_timeout_ms;
	uint64_t deadline_ms; /* 0 = none */
	bool retry_after;
	uint64_t max_retry_after_ms;
	double retry_budget_percent;
	unsigned retry_budget_min;
	struct fallback *fallbacks;
	size_t nfallbacks;
	bool tls;
	bool verify;
	bool intercept;
	bool client_overrides;
	unsigned attempts_limit;
	bool report_attempts;
	char *attempt_header; /* "" = none */
	bool warm_reuse; /* not re-sendable: may ride a warm connection */
	enum hold_mode hold; /* after a 429/503 with Retry-After (hold.h) */
	char **reset_headers; /* retry_after_headers */
	size_t nreset_headers;
	bool resume; /* finish a broken GET with a range request (resume.h) */
	unsigned resume_max; /* continuations one response may use */
	uint64_t body_timeout_ms; /* longest gap in a streaming body */
	unsigned eject_after; /* consecutive failures that eject (eject.h) */
	unsigned eject_percent; /* failure share of 10 s that ejects (0: off) */
	unsigned eject_min_attempts; /* attempts in 10 s before it counts */
	uint64_t eject_time_ms; /* the first ejection's length */
	uint64_t eject_max_time_ms; /* the longest */
	struct parent *parents; /* parent proxies in order (parent.h) */
	size_t nparents; /* 0: direct */
	char *parent_auth; /* "Basic <base64>" for the parents, or "" */
	char *parent_auth_src; /* as written: "", a path, or user:password */
	struct hedge_after hedge_after; /* a second copy of a slow attempt */
	unsigned hedge_max; /* the most copies one request may add */
};

bool policy_status_is_listed(const struct policy *, int status);
/*
 * Does a response match a retry_if_header entry?  get(name, arg) gives
 * the response's first value of a field, or NULL.
 */
bool policy_header_matches(const struct policy *,
    const char *(*get)(const char *name, void *arg), void *arg);
/*
 * The Retry-After of a response (get: its first value of a field): its
 * own, else, for a 429 or 503, the first of the retry_after_headers it
 * carries that reads as a rate-limit reset, written into buf as whole
 * seconds (rounded up).  NULL: none.
 */
const char *policy_retry_after(const struct policy *, int status,
    const char *(*get)(const char *name, void *arg), void *arg,
    uint64_t wall_now_ms, char *buf, size_t len);
/* May this method be re-sent under the policy (ignoring failures)? */
bool policy_method_is_listed(const struct policy *, const char *method);

/*
 * The backoff delay before attempt k+1, after attempt k (k >= 1) has failed,
 * before any Retry-After: the formulas of retryproxy(8), RETRY SEMANTICS,
 * each clamped to max_timeout.  rnd is a uniform random value in [0, 1).
 */
uint64_t policy_backoff_ms(const struct policy *, unsigned k, double rnd);
/* The smallest and largest value policy_backoff_ms can take for k. */
void policy_backoff_range(
    const struct policy *, unsigned k, uint64_t *lo, uint64_t *hi);
/* Does any retry of this policy happen with zero delay (for a warning)? */
bool policy_has_zero_delay(const struct policy *);
/*
 * Does the policy ask for what only evhttp's lane does: hedge_after,
 * retry_if_body, a parent proxy?  Its requests then take that lane
 * ([proxy] lane; front.c).
 */
bool policy_needs_evhttp_lane(const struct policy *);

/*
 * The attempts a request gets: the policy's, or, when client_overrides is
 * on and the X-Retry-Attempts value (may be NULL) is a number, that number
 * clamped to 1..attempts_limit.
 */
unsigned policy_effective_attempts(const struct policy *, const char *xra);

/* Where one attempt goes. */
struct policy_target {
	const char *host;
	unsigned port;
	bool tls;
};
/*
 * Where attempt n (1-based) of a request goes: the URL's origin (host,
 * port, port_given: written in the URL, https: its scheme), or from the
 * second attempt on the fallbacks in order, the last repeating.  With tls
 * = yes an http:// URL goes over TLS, to port 443 when it names none.
 * Every lane picks its target here.
 */
void policy_target(const struct policy *, const char *host, unsigned port,
    bool port_given, bool https, unsigned n, struct policy_target *out);

/*
 * When to send a second copy of an attempt that has no response head yet
 * (hedge_after): off, after a fixed time, or after the route's recent
 * pct-th percentile of time-to-first-byte (tail.h), HEDGE_FALLBACK_MS
 * while it has too few samples.  False: never.  Floors at 1 ms.
 */
#define HEDGE_FALLBACK_MS 1000
bool policy_hedge_delay(
    const struct policy *, struct tail *, uint64_t now_ms, uint64_t *ms);

/* How an attempt ended. */
struct outcome {
	int status; /* > 0: a response arrived; 0: a failure */
	enum fail_kind fail;
	/* For a response: what the caller extracted from it. */
	const char *retry_after; /* the Retry-After value, or NULL */
	bool header_matched; /* a retry_if_header entry matched */
	bool body_matched; /* retry_if_body matched */
};

/* Everything the decision needs besides the policy. */
struct retry_ctx {
	unsigned attempt; /* the attempt that just ended, 1-based */
	unsigned max_attempts; /* from policy_effective_attempts() */
	const char *method;
	bool has_idempotency_key;
	uint64_t now_ms; /* monotonic */
	uint64_t start_ms; /* when the request arrived (monotonic) */
	uint64_t wall_now_ms; /* for Retry-After dates */
	double rnd; /* uniform [0, 1) */
	struct budget *budget; /* NULL = unlimited */
};

enum decision_why {
	WHY_RETRY = 0, /* retry */
	WHY_NOT_RETRYABLE =
	    1, /* outcome not retryable (or errors excludes it) */
	WHY_EXHAUSTED = 2, /* no attempts left */
	WHY_FINAL = 3, /* failure that is never retried */
	WHY_METHOD = 4, /* suppressed: method may not be re-sent */
	WHY_RETRY_AFTER = 5, /* suppressed: Retry-After > max_retry_after */
	WHY_DEADLINE = 6, /* suppressed: delay would end past deadline */
	WHY_BUDGET = 7, /* suppressed: retry budget exhausted */
};
const char *decision_why_name(enum decision_why);

struct decision {
	bool retry;
	enum decision_why why;
	uint64_t delay_ms;
	char
	    reason[16]; /* "503", "reset", "timeout", ...: why it was retried */
};

/* Is the outcome retryable under rule 2 (ignoring attempts and method)? */
bool policy_outcome_is_retryable(const struct policy *, const struct outcome *);
/* Apply the rules of retryproxy(8) RETRY SEMANTICS to one attempt's outcome. */
void policy_decide(const struct policy *, const struct outcome *,
    const struct retry_ctx *, struct decision *);
/*
 * The timeout of the next attempt: per_try_timeout, or less when the
 * deadline leaves less (never 0 while any time is left).
 */
uint64_t policy_attempt_timeout_ms(
    const struct policy *, uint64_t start_ms, uint64_t now_ms);
/* Has the request's deadline passed? */
bool policy_deadline_passed(
    const struct policy *, uint64_t start_ms, uint64_t now_ms);

#endif
