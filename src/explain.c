/*
 * explain: describe what the proxy would do with one request, without
 * sending it -- the route, every resolved key and the backoff schedule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eject.h"
#include "explain.h"
#include "gateway.h"
#include "http.h"
#include "parent.h"
#include "tail.h"
#include "units.h"

static const char *const backoff_names[] = {
    "exponential", "random", "list", "fibonacci", "jitter"};

void
explain_schedule(const struct policy *p, unsigned attempts, struct sbuf *out)
{
	uint64_t lo_total = 0, hi_total = 0;
	char a[32], b[32], t[32];

	sbuf_puts(out, "attempt 1 at once\n");
	for (unsigned k = 1; k < attempts; k++) {
		uint64_t lo, hi;
		policy_backoff_range(p, k, &lo, &hi);
		lo_total += lo;
		hi_total += hi;
		if (lo == hi)
			sbuf_printf(out, "attempt %u after %s", k + 1,
			    units_format_duration(lo, a, sizeof a));
		else
			sbuf_printf(out, "attempt %u after %s..%s (%s)", k + 1,
			    units_format_duration(lo, a, sizeof a),
			    units_format_duration(hi, b, sizeof b),
			    backoff_names[p->backoff]);
		if (p->nfallbacks > 0)
			sbuf_printf(out, " to %s",
			    p->fallbacks[k - 1 < p->nfallbacks
				     ? k - 1
				     : p->nfallbacks - 1]
				.text);
		if (p->deadline_ms > 0 && lo_total >= p->deadline_ms)
			sbuf_printf(out, " (not taken: past the %s deadline)",
			    units_format_duration(p->deadline_ms, t, sizeof t));
		sbuf_puts(out, "\n");
	}
	if (attempts > 1)
		sbuf_printf(out,
		    "total delay %s%s%s, plus the attempts "
		    "themselves (each up to %s)\n",
		    units_format_duration(lo_total, a, sizeof a),
		    hi_total != lo_total ? ".." : "",
		    hi_total != lo_total
			? units_format_duration(hi_total, b, sizeof b)
			: "",
		    units_format_duration(p->per_try_timeout_ms, t, sizeof t));
	if (p->retry_after && attempts > 1)
		sbuf_printf(out,
		    "a 429 or 503 with Retry-After waits at least "
		    "that long (up to %s)\n",
		    units_format_duration(p->max_retry_after_ms, a, sizeof a));
}

/* Which parent proxy the request would go through (parent.h). */
static void
explain_parent(const struct policy *p, bool over_tls, struct sbuf *out)
{
	if (p->nparents == 0) {
		sbuf_puts(out, "parent: direct (no parent proxy)\n");
		return;
	}
	sbuf_printf(out, "parent: http://%s", p->parents[0].text);
	for (size_t i = 1; i < p->nparents; i++)
		sbuf_printf(out, "%s http://%s", i == 1 ? ", then" : ",",
		    p->parents[i].text);
	sbuf_printf(out,
	    " (%s; a parent that refuses, resets or answers 500/502/503/504 "
	    "itself moves the retry to the next and is tried last for a "
	    "while)%s\n",
	    over_tls ? "a CONNECT tunnel through it, TLS inside"
		     : "absolute-form",
	    p->parent_auth[0] != '\0' ? "; Proxy-Authorization: Basic (set)"
				      : "");
}

static int explain_one(const struct config *, const char *, const char *,
    struct sbuf *, const char **, bool);

int
explain_request(const struct config *c, const char *method, const char *url,
    struct sbuf *out, const char **cause)
{
	return explain_one(c, method, url, out, cause, true);
}

/* (gateways: a gateway's origin may be another gateway, but go one deep) */
static int
explain_one(const struct config *c, const char *method, const char *url,
    struct sbuf *out, const char **cause, bool gateways)
{
	struct http_url u;
	const struct route *r;
	const struct policy *p;
	char path[8192], t[32];
	bool resend;

	if (http_url_parse(url, &u, cause) != 0)
		return -1;
	snprintf(path, sizeof path, "%s%.*s", u.path_add_slash ? "/" : "",
	    (int)u.path_len, u.path);
	/* a URL of a gateway's own address: what that gateway sends on */
	for (size_t i = 0;
	     gateways && u.scheme == HTTP_SCHEME_HTTP && i < c->ngateways;
	     i++) {
		const struct gateway *g = &c->gateways[i];
		char auth[300];
		char *to;
		int rc;
		snprintf(auth, sizeof auth, "%s%s%s:%u",
		    u.host_is_ipv6 ? "[" : "", u.host,
		    u.host_is_ipv6 ? "]" : "", u.port);
		if (strcmp(auth, g->addr.text) != 0)
			continue;
		to = gateway_url(g, path);
		sbuf_printf(out, "gateway: [gateway %s] sends %s %s to %s\n",
		    g->addr.text, method, path, to);
		rc = explain_one(c, method, to, out, cause, false);
		free(to);
		return rc;
	}
	r = config_match(c, u.host, u.port, path);
	p = &r->policy;
	if (r != &c->defaults)
		sbuf_printf(out, "route: [route %s] (%s:%u)\n", r->name,
		    c->file ? c->file : "?", r->line);
	else
		sbuf_puts(out, "route: [default] (no [route] matches)\n");
	sbuf_printf(out, "request: %s %s://%s%s%s:%u%s\n", method,
	    u.scheme == HTTP_SCHEME_HTTPS ? "https" : "http",
	    u.host_is_ipv6 ? "[" : "", u.host, u.host_is_ipv6 ? "]" : "",
	    u.port, path);
	/* (as front.c chooses; a gateway's request: gateways is false) */
	if (c->proxy.lane == LANE_RAW &&
	    (!c->needs_evhttp_lane ||
		(gateways && !policy_needs_evhttp_lane(p))))
		sbuf_puts(out, "lane: raw (lane = raw)\n");
	else if (!http_method_evhttp_knows(method))
		sbuf_puts(out, "lane: raw (a method libevent does not know)\n");
	else
		sbuf_printf(out,
		    "lane: evhttp (%s); a chunked body, one over "
		    "max_request_body or an Upgrade: raw\n",
		    c->proxy.lane == LANE_EVHTTP ? "lane = evhttp"
			: gateways
			? "the route sets hedge_after, retry_if_body or parent"
			: "a route sets hedge_after, retry_if_body or parent, "
			  "and a gateway's request takes its lane before its "
			  "route is known");
	explain_parent(p, u.scheme == HTTP_SCHEME_HTTPS || p->tls, out);
	resend = policy_method_is_listed(p, method);
	sbuf_printf(out,
	    "%s may be re-sent after a response or a reset: %s%s\n", method,
	    resend ? "yes" : "no",
	    resend || p->idempotency_header[0] == '\0'
		? ""
		: " (unless it carries the idempotency header)");
	if (resend)
		sbuf_puts(out, "upstream connection: pooled, or new\n");
	else if (p->warm_reuse)
		sbuf_puts(out,
		    "upstream connection: pooled only when warm (idle "
		    "under half the origin's keep-alive, probed), "
		    "else new\n");
	else
		sbuf_puts(out,
		    "upstream connection: always new (warm_reuse = "
		    "no)\n");
	if (p->hold != HOLD_OFF) {
		char a[32];
		sbuf_printf(out,
		    "hold: after a 429 or 503 with Retry-After from %s:%u, "
		    "new requests to it %s until then (up to %s)\n",
		    u.host, u.port,
		    p->hold == HOLD_WAIT
			? "wait (within the deadline; else they get that "
			  "status)"
			: "get that status and the time left at once",
		    units_format_duration(p->max_retry_after_ms, a, sizeof a));
	}
	if (strcmp(method, "GET") == 0 && resend && p->resume &&
	    p->resume_max > 0)
		sbuf_printf(out,
		    "resume: a 200 whose body breaks (a reset, a close, no "
		    "byte for %s) is finished with Range/If-Range when it "
		    "has a strong validator, up to %u time%s, each an "
		    "attempt\n",
		    units_format_duration(p->body_timeout_ms, t, sizeof t),
		    p->resume_max, p->resume_max == 1 ? "" : "s");
	else if (strcmp(method, "GET") == 0)
		sbuf_printf(out,
		    "resume: no (%s): a broken body is truncated\n",
		    !resend	     ? "GET may not be re-sent"
			: !p->resume ? "resume = no"
				     : "resume_max = 0");
	if (p->eject_after > 0 || p->eject_percent > 0) {
		char m[32];
		sbuf_puts(out, "eject: ");
		if (p->eject_after > 0)
			sbuf_printf(
			    out, "after %u failures in a row", p->eject_after);
		if (p->eject_after > 0 && p->eject_percent > 0)
			sbuf_puts(out, " or ");
		if (p->eject_percent > 0)
			sbuf_printf(out,
			    "when at least %u%% of its attempts in the last "
			    "%us failed",
			    p->eject_percent, EJECT_WINDOW_S);
		sbuf_puts(out, " (connect, reset, timeout, 5xx");
		if (p->eject_percent > 0)
			sbuf_printf(out, "; once there are %u attempts",
			    p->eject_min_attempts);
		sbuf_printf(out,
		    "), %s:%u is left alone for %s (longer each "
		    "time in a row, up to %s), then one request probes it; "
		    "meanwhile %s; a name with several addresses has each "
		    "address ejected on its own (attempts go to the others)\n",
		    u.host, u.port,
		    units_format_duration(p->eject_time_ms, t, sizeof t),
		    units_format_duration(p->eject_max_time_ms, m, sizeof m),
		    p->nfallbacks > 0 ? "requests go to the fallbacks at once"
				      : "requests get a 503 at once");
	}
	if (p->hedge_max > 0 &&
	    (p->hedge_after.ms > 0 || p->hedge_after.pct > 0)) {
		char when[160];
		if (p->hedge_after.pct > 0)
			snprintf(when, sizeof when,
			    "the route's p%u time to the response head (the "
			    "last minute's; %s until it has %d samples)",
			    p->hedge_after.pct,
			    units_format_duration(
				HEDGE_FALLBACK_MS, t, sizeof t),
			    TAIL_MIN_SAMPLES);
		else
			snprintf(when, sizeof when, "%s",
			    units_format_duration(
				p->hedge_after.ms, t, sizeof t));
		if (!resend)
			sbuf_printf(out,
			    "hedge: no (%s may not be re-sent%s)\n", method,
			    p->idempotency_header[0] != '\0'
				? " without the idempotency header"
				: "");
		else
			sbuf_printf(out,
			    "hedge: with no response head after %s, the "
			    "request goes again to %s (up to %u cop%s, each "
			    "an attempt and a retry-budget token); the first "
			    "head wins, the other is cancelled%s\n",
			    when,
			    p->nfallbacks > 0 ? "the next fallback"
					      : "the same origin over another "
						"connection",
			    p->hedge_max, p->hedge_max == 1 ? "y" : "ies",
			    p->nparents > 0 ? "; not through a parent proxy "
					      "(none is sent)"
					    : "");
	} else
		sbuf_puts(out, "hedge: no (hedge_after = off)\n");
	/* (src/avoid.h: which address each attempt takes) */
	sbuf_puts(out,
	    "addresses: each attempt goes to an address of the host the "
	    "request has not tried yet, in the resolver's order; ");
	if (c->proxy.avoid_failed_address_ms > 0)
		sbuf_printf(out,
		    "one that refused or timed out a connect is tried "
		    "last by new attempts for %s (avoid_failed_address)\n",
		    units_format_duration(
			c->proxy.avoid_failed_address_ms, t, sizeof t));
	else
		sbuf_puts(out,
		    "none is avoided after a failed connect "
		    "(avoid_failed_address = 0)\n");
	sbuf_puts(out, "\npolicy:\n");
	config_dump_policy(p, out);
	sbuf_printf(out, "\nschedule (%u attempts, %s backoff):\n", p->attempts,
	    backoff_names[p->backoff]);
	explain_schedule(p, p->attempts, out);
	return 0;
}
