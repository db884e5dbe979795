/*
 * policy: backoff schedules and the retry decision (retryproxy(8),
 * RETRY SEMANTICS).
 * These deliberately fix aiohttp-retry's quirks: the first exponential
 * delay is start_timeout, list delays start at timeouts[0], fibonacci is
 * a pure function of the attempt, jitter is clamped, and failures obey
 * `methods` unless nothing was sent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "http.h"
#include "policy.h"
#include "tail.h"
#include "util.h"

static const struct {
	enum fail_class cls;
	const char *token;
	const char *reason;
	int status;
} fail_kinds[] = {
    [FK_NONE] = {FAIL_FINAL, "none", "none", 502},
    [FK_CONNECTION_REFUSED] = {FAIL_CONNECT, "connection_refused", "refused",
	502},
    [FK_CONNECTION_TIMEOUT] = {FAIL_CONNECT, "connection_timeout",
	"connect_timeout", 504},
    [FK_DESTINATION_UNREACHABLE] = {FAIL_CONNECT, "destination_unreachable",
	"unreachable", 502},
    [FK_TLS_PROTOCOL_ERROR] = {FAIL_CONNECT, "tls_protocol_error",
	"tls_handshake", 502},
    [FK_DNS_TIMEOUT] = {FAIL_DNS, "dns_timeout", "dns_timeout", 504},
    [FK_DNS_ERROR] = {FAIL_DNS, "dns_error", "dns_error", 502},
    [FK_DNS_NXDOMAIN] = {FAIL_FINAL, "dns_error", "nxdomain", 502},
    [FK_CONNECTION_TERMINATED] = {FAIL_RESET, "connection_terminated", "reset",
	502},
    [FK_HTTP_PROTOCOL_ERROR] = {FAIL_RESET, "http_protocol_error",
	"protocol_error", 502},
    [FK_RESPONSE_TIMEOUT] = {FAIL_TIMEOUT, "http_response_timeout", "timeout",
	504},
    [FK_TLS_CERTIFICATE_ERROR] = {FAIL_FINAL, "tls_certificate_error",
	"tls_certificate", 502},
    [FK_RESPONSE_HEADER_TOO_BIG] = {FAIL_FINAL,
	"http_response_header_section_size", "header_too_big", 502},
    [FK_DEADLINE_CONNECTING] = {FAIL_FINAL, "connection_timeout", "deadline",
	504},
    /* (a 407 means our parent_auth is wrong: our configuration) */
    [FK_PARENT_REFUSED] = {FAIL_FINAL, "proxy_configuration_error",
	"parent_refused", 502},
};

enum fail_class
fail_kind_class(enum fail_kind k)
{
	return (size_t)k < RP_NELEM(fail_kinds) ? fail_kinds[k].cls
						: FAIL_FINAL;
}

const char *
fail_kind_token(enum fail_kind k)
{
	return (size_t)k < RP_NELEM(fail_kinds) ? fail_kinds[k].token
						: "proxy_internal_error";
}

const char *
fail_kind_reason(enum fail_kind k)
{
	return (size_t)k < RP_NELEM(fail_kinds) ? fail_kinds[k].reason
						: "error";
}

int
fail_kind_status(enum fail_kind k)
{
	return (size_t)k < RP_NELEM(fail_kinds) ? fail_kinds[k].status : 502;
}

const char *
decision_why_name(enum decision_why w)
{
	static const char *const names[] = {"retry", "not_retryable",
	    "exhausted", "final", "method", "retry_after", "deadline",
	    "budget"};

	return (size_t)w < RP_NELEM(names) ? names[w] : "unknown";
}

bool
policy_status_is_listed(const struct policy *p, int status)
{
	if (status < 0 || status >= 600)
		return false;
	return (p->statuses[status / 8] >> (status % 8)) & 1;
}

bool
policy_header_matches(const struct policy *pol,
    const char *(*get)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < pol->nretry_if_header; i++) {
		const char *v = get(pol->retry_if_header[i].name, arg);
		if (v != NULL &&
		    (strcmp(pol->retry_if_header[i].value, "*") == 0 ||
			strcmp(pol->retry_if_header[i].value, v) == 0))
			return true;
	}
	return false;
}

const char *
policy_retry_after(const struct policy *pol, int status,
    const char *(*get)(const char *name, void *arg), void *arg,
    uint64_t wall_now_ms, char *buf, size_t len)
{
	const char *v = get("Retry-After", arg);
	uint64_t ms;

	if (v != NULL || (status != 429 && status != 503))
		return v;
	for (size_t i = 0; i < pol->nreset_headers; i++) {
		v = get(pol->reset_headers[i], arg);
		if (v != NULL &&
		    http_parse_rate_limit_reset(v, wall_now_ms, &ms) == 0) {
			snprintf(buf, len, "%llu",
			    (unsigned long long)((ms + 999) / 1000));
			return buf;
		}
	}
	return NULL;
}

bool
policy_method_is_listed(const struct policy *p, const char *method)
{
	size_t i;

	if (p->methods_all)
		return true;
	/* method names are case-sensitive (RFC 9110 section 9.1) */
	for (i = 0; i < p->nmethods; i++)
		if (strcmp(p->methods[i], method) == 0)
			return true;
	return false;
}

static uint64_t
clamp(const struct policy *p, double v)
{
	if (!(v < (double)p->max_timeout_ms))
		return p->max_timeout_ms;
	return v < 0 ? 0 : (uint64_t)v;
}

/* start * factor^(k-1), unclamped but safe from overflow. */
static double
exponential(const struct policy *p, unsigned k)
{
	double v = (double)p->start_timeout_ms * pow(p->factor, (double)k - 1);

	return isfinite(v) ? v : 1e300;
}

/* F(k) with F = 1, 2, 3, 5, 8, ...; saturates instead of overflowing. */
static double
fibonacci(unsigned k)
{
	double a = 1, b = 2, t;

	if (k <= 1)
		return 1;
	while (--k > 1 && b < 1e300) {
		t = a + b;
		a = b;
		b = t;
	}
	return b;
}

uint64_t
policy_backoff_ms(const struct policy *p, unsigned k, double rnd)
{
	if (k < 1)
		k = 1;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.9999999999;
	switch (p->backoff) {
	case BACKOFF_EXPONENTIAL:
		return clamp(p, exponential(p, k));
	case BACKOFF_RANDOM: {
		uint64_t lo = p->min_timeout_ms, hi = p->max_timeout_ms;
		if (hi < lo)
			return hi;
		return lo + (uint64_t)(rnd * (double)(hi - lo));
	}
	case BACKOFF_LIST:
		if (p->ntimeouts == 0)
			return 0;
		return clamp(p,
		    (double)p
			->timeouts_ms[k - 1 < p->ntimeouts ? k - 1
							   : p->ntimeouts - 1]);
	case BACKOFF_FIBONACCI:
		return clamp(p, (double)p->multiplier_ms * fibonacci(k));
	case BACKOFF_JITTER:
		return clamp(p,
		    floor(exponential(p, k) +
			rnd * (double)p->random_interval_ms));
	}
	return 0;
}

void
policy_backoff_range(
    const struct policy *p, unsigned k, uint64_t *lo, uint64_t *hi)
{
	switch (p->backoff) {
	case BACKOFF_RANDOM:
		*lo = p->min_timeout_ms < p->max_timeout_ms ? p->min_timeout_ms
							    : p->max_timeout_ms;
		*hi = p->max_timeout_ms;
		return;
	case BACKOFF_JITTER:
		*lo = clamp(p, exponential(p, k));
		*hi =
		    clamp(p, exponential(p, k) + (double)p->random_interval_ms);
		return;
	default:
		*lo = *hi = policy_backoff_ms(p, k, 0);
		return;
	}
}

bool
policy_needs_evhttp_lane(const struct policy *p)
{
	return p->nparents > 0 || p->hedge_after.ms > 0 ||
	    p->hedge_after.pct > 0 ||
	    (p->retry_if_body_src != NULL && *p->retry_if_body_src != '\0');
}

bool
policy_has_zero_delay(const struct policy *p)
{
	size_t i;

	/* X-Retry-Attempts can add retries to a single-attempt policy */
	if (p->attempts <= 1 && !p->client_overrides)
		return false;
	if (p->max_timeout_ms == 0)
		return true;
	switch (p->backoff) {
	case BACKOFF_EXPONENTIAL:
		return p->start_timeout_ms == 0;
	case BACKOFF_JITTER:
		return p->start_timeout_ms == 0 && p->random_interval_ms == 0;
	case BACKOFF_RANDOM:
		return p->max_timeout_ms == 0;
	case BACKOFF_LIST:
		for (i = 0; i < p->ntimeouts; i++)
			if (p->timeouts_ms[i] == 0)
				return true;
		return false;
	case BACKOFF_FIBONACCI:
		return p->multiplier_ms == 0;
	}
	return false;
}

bool
policy_hedge_delay(
    const struct policy *p, struct tail *t, uint64_t now_ms, uint64_t *ms)
{
	if (p->hedge_max == 0)
		return false;
	if (p->hedge_after.pct > 0) {
		if (t == NULL ||
		    !tail_percentile(t, p->hedge_after.pct, now_ms, ms))
			*ms = HEDGE_FALLBACK_MS;
	} else if (p->hedge_after.ms > 0)
		*ms = p->hedge_after.ms;
	else
		return false;
	if (*ms == 0)
		*ms =
		    1; /* (a copy at once would be a duplicate, not a hedge) */
	return true;
}

void
policy_target(const struct policy *p, const char *host, unsigned port,
    bool port_given, bool https, unsigned n, struct policy_target *out)
{
	if (n >= 2 && p->nfallbacks > 0) {
		const struct fallback *fb =
		    &p->fallbacks[n - 2 < p->nfallbacks ? n - 2
							: p->nfallbacks - 1];
		out->host = fb->host;
		out->port = fb->port;
		out->tls = fb->scheme == HTTP_SCHEME_HTTPS;
		return;
	}
	out->host = host;
	out->port = p->tls && !port_given ? 443 : port;
	out->tls = https || p->tls;
}

unsigned
policy_effective_attempts(const struct policy *p, const char *xra)
{
	unsigned long long n = 0;
	const char *s;
	bool digits = false;

	if (!p->client_overrides || xra == NULL)
		return p->attempts;
	for (s = xra; *s == ' ' || *s == '\t'; s++)
		;
	for (; *s >= '0' && *s <= '9'; s++) {
		digits = true;
		if (n < 1000000)
			n = n * 10 + (unsigned)(*s - '0');
	}
	for (; *s == ' ' || *s == '\t'; s++)
		;
	if (!digits || *s != '\0')
		return p->attempts;
	if (n < 1)
		n = 1;
	if (n > p->attempts_limit)
		n = p->attempts_limit;
	return (unsigned)n;
}

bool
policy_outcome_is_retryable(const struct policy *p, const struct outcome *o)
{
	if (o->status > 0)
		return (o->status >= 500 && o->status <= 599 &&
			   p->retry_all_server_errors) ||
		    policy_status_is_listed(p, o->status) ||
		    o->header_matched || o->body_matched;
	if (fail_kind_class(o->fail) == FAIL_FINAL)
		return false;
	return (p->errors & FAIL_MASK(fail_kind_class(o->fail))) != 0;
}

static void
refuse(struct decision *d, enum decision_why why)
{
	d->retry = false;
	d->why = why;
}

void
policy_decide(const struct policy *p, const struct outcome *o,
    const struct retry_ctx *c, struct decision *d)
{
	enum fail_class cls = fail_kind_class(o->fail);
	uint64_t delay, ra;

	memset(d, 0, sizeof *d);
	if (!policy_outcome_is_retryable(p, o)) {
		refuse(d,
		    o->status == 0 && cls == FAIL_FINAL ? WHY_FINAL
							: WHY_NOT_RETRYABLE);
		return;
	}
	if (c->attempt >= c->max_attempts) {
		refuse(d, WHY_EXHAUSTED);
		return;
	}
	if (!policy_method_is_listed(p, c->method) && !c->has_idempotency_key &&
	    !(o->status == 0 && (cls == FAIL_DNS || cls == FAIL_CONNECT))) {
		refuse(d, WHY_METHOD);
		return;
	}
	delay = policy_backoff_ms(p, c->attempt, c->rnd);
	if (p->retry_after && (o->status == 429 || o->status == 503) &&
	    o->retry_after != NULL &&
	    http_parse_retry_after(o->retry_after, c->wall_now_ms, &ra) == 0) {
		if (ra > p->max_retry_after_ms) {
			refuse(d, WHY_RETRY_AFTER);
			return;
		}
		if (ra > delay)
			delay = ra;
	}
	if (p->deadline_ms > 0 &&
	    c->now_ms + delay >= c->start_ms + p->deadline_ms) {
		refuse(d, WHY_DEADLINE);
		return;
	}
	if (c->budget != NULL &&
	    !budget_try_retry(c->budget, p->retry_budget_percent,
		p->retry_budget_min, c->now_ms)) {
		refuse(d, WHY_BUDGET);
		return;
	}
	d->retry = true;
	d->why = WHY_RETRY;
	d->delay_ms = delay;
	if (o->status > 0)
		snprintf(d->reason, sizeof d->reason, "%d", o->status);
	else
		snprintf(d->reason, sizeof d->reason, "%s",
		    fail_kind_reason(o->fail));
}

uint64_t
policy_attempt_timeout_ms(
    const struct policy *p, uint64_t start_ms, uint64_t now_ms)
{
	uint64_t end, left;

	if (p->deadline_ms == 0)
		return p->per_try_timeout_ms;
	end = start_ms + p->deadline_ms;
	left = now_ms < end ? end - now_ms : 0;
	if (left == 0)
		left = 1;
	return left < p->per_try_timeout_ms ? left : p->per_try_timeout_ms;
}

bool
policy_deadline_passed(
    const struct policy *p, uint64_t start_ms, uint64_t now_ms)
{
	return p->deadline_ms > 0 && now_ms >= start_ms + p->deadline_ms;
}
