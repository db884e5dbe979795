/*
 * metrics: the registry and the Prometheus text rendering.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const double bucket_s[METRICS_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct route_metrics *reg;
static struct gateway_metrics *gw_reg;
static _Atomic uint64_t hist[METRICS_BUCKETS + 1];
static _Atomic uint64_t hist_sum_ms, hist_count;
static _Atomic uint64_t reloads_ok, reloads_failed;
static _Atomic int64_t tunnels;
static _Atomic uint64_t tunnel_bytes[2]; /* copied, spliced */
static _Atomic uint64_t body_spliced;
static _Atomic uint64_t raw_requests, raw_streamed, raw_reused;
static _Atomic uint64_t warm[WARM_OUTCOMES];
static _Atomic uint64_t tls_handshakes[2]; /* new, resumed */
static _Atomic uint64_t holds_started, held[2]; /* answered, waited */
static _Atomic uint64_t addr_marked, addr_avoided;
static _Atomic uint64_t broken_bodies[2]; /* truncated, resumed */
static _Atomic uint64_t hedges[METRICS_HEDGE_N];
static _Atomic uint64_t auth_hashes[2]; /* refused, accepted */
static _Atomic uint64_t ejections, ejected_requests;

/* Failures of each parent proxy (parent.h), by "host:port". */
#define PARENT_NAMES 32
static struct {
	char name[270];
	_Atomic uint64_t failures;
} parents[PARENT_NAMES];
static _Atomic unsigned nparents;

#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)
#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

struct route_metrics *
metrics_route(const char *name)
{
	struct route_metrics *m;

	pthread_mutex_lock(&reg_lock);
	for (m = reg; m != NULL; m = m->next)
		if (strcmp(m->route, name) == 0)
			break;
	if (m == NULL) {
		m = xcalloc(1, sizeof *m);
		m->route = xstrdup(name);
		m->next = reg;
		reg = m;
	}
	pthread_mutex_unlock(&reg_lock);
	return m;
}

struct gateway_metrics *
metrics_gateway(const char *addr)
{
	struct gateway_metrics *m;

	pthread_mutex_lock(&reg_lock);
	for (m = gw_reg; m != NULL; m = m->next)
		if (strcmp(m->gateway, addr) == 0)
			break;
	if (m == NULL) {
		m = xcalloc(1, sizeof *m);
		m->gateway = xstrdup(addr);
		m->next = gw_reg;
		gw_reg = m;
	}
	pthread_mutex_unlock(&reg_lock);
	return m;
}

void
metrics_gateway_request(struct gateway_metrics *m)
{
	if (m != NULL)
		INC(m->requests);
}

void
metrics_request(struct route_metrics *m, int status, unsigned attempts,
    uint64_t duration_ms)
{
	size_t b;

	if (status >= 0 && status < 600)
		INC(m->requests[status]);
	atomic_fetch_add_explicit(&m->attempts, attempts, memory_order_relaxed);
	for (b = 0; b < METRICS_BUCKETS; b++)
		if ((double)duration_ms <= bucket_s[b] * 1000)
			break;
	INC(hist[b]);
	atomic_fetch_add_explicit(
	    &hist_sum_ms, duration_ms, memory_order_relaxed);
	INC(hist_count);
}

void
metrics_retry(struct route_metrics *m, int status, enum fail_kind kind)
{
	if (status > 0 && status < 600)
		INC(m->retries[status]);
	else if ((unsigned)kind < 32)
		INC(m->retries[600 + kind]);
}

void
metrics_suppressed(struct route_metrics *m, enum decision_why why)
{
	if ((unsigned)why < 8)
		INC(m->suppressed[why]);
}

void
metrics_reload(int ok)
{
	if (ok)
		INC(reloads_ok);
	else
		INC(reloads_failed);
}

void
metrics_tunnel(int delta)
{
	atomic_fetch_add_explicit(&tunnels, delta, memory_order_relaxed);
}

void
metrics_tunnel_bytes(uint64_t spliced, uint64_t copied)
{
	if (spliced > 0)
		atomic_fetch_add_explicit(
		    &tunnel_bytes[1], spliced, memory_order_relaxed);
	if (copied > 0)
		atomic_fetch_add_explicit(
		    &tunnel_bytes[0], copied, memory_order_relaxed);
}

void
metrics_body_spliced(uint64_t n)
{
	if (n > 0)
		atomic_fetch_add_explicit(
		    &body_spliced, n, memory_order_relaxed);
}

void
metrics_raw_lane(bool streamed)
{
	atomic_fetch_add_explicit(&raw_requests, 1, memory_order_relaxed);
	if (streamed)
		atomic_fetch_add_explicit(
		    &raw_streamed, 1, memory_order_relaxed);
}

void
metrics_raw_lane_reused(void)
{
	atomic_fetch_add_explicit(&raw_reused, 1, memory_order_relaxed);
}

void
metrics_warm_reuse(enum warm_outcome o)
{
	if ((unsigned)o < WARM_OUTCOMES)
		INC(warm[o]);
}

void
metrics_tls_handshake(bool resumed)
{
	INC(tls_handshakes[resumed ? 1 : 0]);
}

void
metrics_hold_started(void)
{
	INC(holds_started);
}

void
metrics_held(bool waited)
{
	INC(held[waited ? 1 : 0]);
}

void
metrics_address_marked(void)
{
	INC(addr_marked);
}

void
metrics_address_avoided(void)
{
	INC(addr_avoided);
}

void
metrics_parent_failure(const char *parent)
{
	unsigned i, n;

	pthread_mutex_lock(&reg_lock);
	n = atomic_load(&nparents);
	for (i = 0; i < n; i++)
		if (strcmp(parents[i].name, parent) == 0)
			break;
	if (i == n && n < PARENT_NAMES) {
		/* (a parent past the table's size is not counted) */
		strncpy(parents[i].name, parent, sizeof parents[i].name - 1);
		atomic_store(&nparents, n + 1);
	}
	if (i < PARENT_NAMES)
		INC(parents[i].failures);
	pthread_mutex_unlock(&reg_lock);
}

void
metrics_ejection(void)
{
	INC(ejections);
}

void
metrics_ejected_request(void)
{
	INC(ejected_requests);
}

void
metrics_broken_body(bool resumed)
{
	INC(broken_bodies[resumed ? 1 : 0]);
}

void
metrics_auth_hash(bool accepted)
{
	INC(auth_hashes[accepted ? 1 : 0]);
}

void
metrics_hedge(enum metrics_hedge o)
{
	INC(hedges[o]);
}

/* Label values are route names: escape backslash, quote and newline. */
static void
label(struct sbuf *s, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			sbuf_printf(s, "\\%c", *v);
		else if (*v == '\n')
			sbuf_puts(s, "\\n");
		else
			sbuf_add(s, v, 1);
	}
}

static void
head(struct sbuf *s, const char *name, const char *type, const char *help)
{
	sbuf_printf(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_render(const struct metrics_gauges *g, struct sbuf *s)
{
	struct route_metrics *m, *all;
	uint64_t cum = 0;

	pthread_mutex_lock(&reg_lock);
	all = reg;
	pthread_mutex_unlock(&reg_lock);

	head(s, "retryproxy_requests_total", "counter",
	    "Client requests by route and final status.");
	for (m = all; m != NULL; m = m->next)
		for (int c = 0; c < 600; c++)
			if (GET(m->requests[c]) > 0) {
				sbuf_puts(
				    s, "retryproxy_requests_total{route=\"");
				label(s, m->route);
				sbuf_printf(s, "\",code=\"%d\"} %llu\n", c,
				    (unsigned long long)GET(m->requests[c]));
			}
	head(s, "retryproxy_attempts_total", "counter",
	    "Upstream attempts by route.");
	for (m = all; m != NULL; m = m->next) {
		sbuf_puts(s, "retryproxy_attempts_total{route=\"");
		label(s, m->route);
		sbuf_printf(
		    s, "\"} %llu\n", (unsigned long long)GET(m->attempts));
	}
	head(s, "retryproxy_retries_total", "counter",
	    "Retries by route and the reason of the retried outcome.");
	for (m = all; m != NULL; m = m->next)
		for (int r = 0; r < METRICS_REASONS; r++) {
			if (GET(m->retries[r]) == 0)
				continue;
			sbuf_puts(s, "retryproxy_retries_total{route=\"");
			label(s, m->route);
			if (r < 600)
				sbuf_printf(s, "\",reason=\"%d\"}", r);
			else
				sbuf_printf(s, "\",reason=\"%s\"}",
				    fail_kind_reason(
					(enum fail_kind)(r - 600)));
			sbuf_printf(s, " %llu\n",
			    (unsigned long long)GET(m->retries[r]));
		}
	head(s, "retryproxy_retries_suppressed_total", "counter",
	    "Retries not taken although the outcome was retryable.");
	for (m = all; m != NULL; m = m->next) {
		static const enum decision_why whys[] = {
		    WHY_BUDGET, WHY_DEADLINE, WHY_METHOD, WHY_RETRY_AFTER};
		for (size_t i = 0; i < RP_NELEM(whys); i++) {
			sbuf_puts(
			    s, "retryproxy_retries_suppressed_total{route=\"");
			label(s, m->route);
			sbuf_printf(s, "\",why=\"%s\"} %llu\n",
			    decision_why_name(whys[i]),
			    (unsigned long long)GET(m->suppressed[whys[i]]));
		}
	}
	head(s, "retryproxy_request_duration_seconds", "histogram",
	    "Time from a client request's arrival to its final outcome.");
	for (size_t b = 0; b < METRICS_BUCKETS; b++) {
		cum += GET(hist[b]);
		sbuf_printf(s,
		    "retryproxy_request_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n",
		    bucket_s[b], (unsigned long long)cum);
	}
	cum += GET(hist[METRICS_BUCKETS]);
	sbuf_printf(s,
	    "retryproxy_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "retryproxy_request_duration_seconds_sum %.3f\n"
	    "retryproxy_request_duration_seconds_count %llu\n",
	    (unsigned long long)cum, (double)GET(hist_sum_ms) / 1000.0,
	    (unsigned long long)GET(hist_count));
	head(s, "retryproxy_client_connections", "gauge",
	    "Client connections open.");
	sbuf_printf(s, "retryproxy_client_connections %llu\n",
	    (unsigned long long)g->client_connections);
	head(s, "retryproxy_requests_in_flight", "gauge",
	    "Client requests and tunnels being served.");
	sbuf_printf(s, "retryproxy_requests_in_flight %llu\n",
	    (unsigned long long)g->requests_in_flight);
	head(s, "retryproxy_tunnels", "gauge",
	    "CONNECT tunnels and upgraded (101) exchanges open.");
	sbuf_printf(s, "retryproxy_tunnels %lld\n", (long long)GET(tunnels));
	head(s, "retryproxy_tunnel_bytes_total", "counter",
	    "Bytes relayed by tunnels, both ways, by path: splice (kept in "
	    "the kernel, splice(2)) or copy (through the daemon's memory: "
	    "TLS on a side, no pipe to be had, bytes read before the tunnel "
	    "began).");
	sbuf_printf(s,
	    "retryproxy_tunnel_bytes_total{path=\"splice\"} %llu\n"
	    "retryproxy_tunnel_bytes_total{path=\"copy\"} %llu\n",
	    (unsigned long long)GET(tunnel_bytes[1]),
	    (unsigned long long)GET(tunnel_bytes[0]));
	head(s, "retryproxy_spliced_body_bytes_total", "counter",
	    "Message body bytes the raw lane moved with splice(2), never "
	    "read into the daemon's memory: responses origin to client and "
	    "streamed uploads client to origin, of a known length "
	    "(Content-Length) with over 64 KiB to go, both sides plain "
	    "TCP.");
	sbuf_printf(s, "retryproxy_spliced_body_bytes_total %llu\n",
	    (unsigned long long)GET(body_spliced));
	head(s, "retryproxy_gateway_requests_total", "counter",
	    "Requests that came in on a gateway listener ([gateway ADDR]).");
	pthread_mutex_lock(&reg_lock);
	for (struct gateway_metrics *gm = gw_reg; gm != NULL; gm = gm->next)
		sbuf_printf(s,
		    "retryproxy_gateway_requests_total{gateway=\"%s\"} %llu\n",
		    gm->gateway, (unsigned long long)GET(gm->requests));
	pthread_mutex_unlock(&reg_lock);
	head(s, "retryproxy_raw_lane_requests_total", "counter",
	    "Requests carried by the raw lane (methods, bodies and upgrades "
	    "libevent cannot carry).");
	sbuf_printf(s, "retryproxy_raw_lane_requests_total %llu\n",
	    (unsigned long long)GET(raw_requests));
	head(s, "retryproxy_raw_lane_reused_total", "counter",
	    "Raw-lane attempts sent over a pooled keep-alive connection.");
	sbuf_printf(s, "retryproxy_raw_lane_reused_total %llu\n",
	    (unsigned long long)GET(raw_reused));
	head(s, "retryproxy_streamed_bodies_total", "counter",
	    "Request bodies streamed, not held (over max_request_body or "
	    "max_buffered).");
	sbuf_printf(s, "retryproxy_streamed_bodies_total %llu\n",
	    (unsigned long long)GET(raw_streamed));
	head(s, "retryproxy_replay_buffer_bytes", "gauge",
	    "Request-body bytes held for re-sending (bounded by max_buffered).");
	sbuf_printf(s, "retryproxy_replay_buffer_bytes %llu\n",
	    (unsigned long long)g->replay_buffer_bytes);
	head(s, "retryproxy_upstream_connections", "gauge",
	    "Upstream connections open (idle and busy).");
	sbuf_printf(s, "retryproxy_upstream_connections %llu\n",
	    (unsigned long long)g->upstream_connections);
	head(s, "retryproxy_warm_reuse_total", "counter",
	    "Requests that may not be re-sent, by what the connection pool "
	    "gave them (warm_reuse).");
	{
		static const char *const outcome[WARM_OUTCOMES] = {
		    [WARM_REUSED] = "reused",
		    [WARM_NONE] = "none_idle",
		    [WARM_TOO_IDLE] = "too_idle",
		    [WARM_PROBE_FAILED] = "probe_failed",
		};
		for (int i = 0; i < WARM_OUTCOMES; i++)
			sbuf_printf(s,
			    "retryproxy_warm_reuse_total{outcome=\"%s\"} "
			    "%llu\n",
			    outcome[i], (unsigned long long)GET(warm[i]));
	}
	head(s, "retryproxy_upstream_tls_handshakes_total", "counter",
	    "Upstream TLS handshakes completed, by whether they resumed a "
	    "session.");
	sbuf_printf(s,
	    "retryproxy_upstream_tls_handshakes_total{session=\"new\"} %llu\n"
	    "retryproxy_upstream_tls_handshakes_total{session=\"resumed\"} "
	    "%llu\n",
	    (unsigned long long)GET(tls_handshakes[0]),
	    (unsigned long long)GET(tls_handshakes[1]));
	head(s, "retryproxy_origin_holds_total", "counter",
	    "Origins held after a 429 or 503 with Retry-After (hold).");
	sbuf_printf(s, "retryproxy_origin_holds_total %llu\n",
	    (unsigned long long)GET(holds_started));
	head(s, "retryproxy_held_requests_total", "counter",
	    "Requests that met a held origin, by what they did (hold = wait: "
	    "waited; hold = fail or past the deadline: answered).");
	sbuf_printf(s,
	    "retryproxy_held_requests_total{outcome=\"waited\"} %llu\n"
	    "retryproxy_held_requests_total{outcome=\"answered\"} %llu\n",
	    (unsigned long long)GET(held[1]), (unsigned long long)GET(held[0]));
	head(s, "retryproxy_upstream_address_marks_total", "counter",
	    "Upstream addresses marked after a refused, unreachable or timed "
	    "out connect (avoid_failed_address).");
	sbuf_printf(s, "retryproxy_upstream_address_marks_total %llu\n",
	    (unsigned long long)GET(addr_marked));
	head(s, "retryproxy_upstream_addresses_avoided_total", "counter",
	    "Attempts sent to another address of the origin than they would "
	    "have been without the marks.");
	sbuf_printf(s, "retryproxy_upstream_addresses_avoided_total %llu\n",
	    (unsigned long long)GET(addr_avoided));
	head(s, "retryproxy_parent_failures_total", "counter",
	    "Attempts that failed at a parent proxy itself (refused, reset, "
	    "or its own 5xx): the next attempt goes through the next parent.");
	for (unsigned i = 0; i < atomic_load(&nparents); i++)
		sbuf_printf(s,
		    "retryproxy_parent_failures_total{parent=\"%s\"} "
		    "%llu\n",
		    parents[i].name,
		    (unsigned long long)GET(parents[i].failures));
	head(s, "retryproxy_origin_ejections_total", "counter",
	    "Origins ejected after eject_after failures in a row, "
	    "eject_percent of their attempts, or a failed probe.");
	sbuf_printf(s, "retryproxy_origin_ejections_total %llu\n",
	    (unsigned long long)GET(ejections));
	head(s, "retryproxy_origins_ejected", "gauge",
	    "Origins ejected now (or waiting for their probe).");
	sbuf_printf(s, "retryproxy_origins_ejected %llu\n",
	    (unsigned long long)g->ejected_origins);
	head(s, "retryproxy_ejected_attempts_total", "counter",
	    "Attempts not made because their origin was ejected (each went to "
	    "a fallback, or the request got a 503 at once).");
	sbuf_printf(s, "retryproxy_ejected_attempts_total %llu\n",
	    (unsigned long long)GET(ejected_requests));
	head(s, "retryproxy_broken_bodies_total", "counter",
	    "Response bodies that broke after the client had some of them, "
	    "by what followed: resumed (each continuation spliced in, "
	    "resume) or truncated (the client's response ended short).");
	sbuf_printf(s,
	    "retryproxy_broken_bodies_total{outcome=\"resumed\"} %llu\n"
	    "retryproxy_broken_bodies_total{outcome=\"truncated\"} %llu\n",
	    (unsigned long long)GET(broken_bodies[1]),
	    (unsigned long long)GET(broken_bodies[0]));
	head(s, "retryproxy_auth_hashes_total", "counter",
	    "auth = basic: password hashes computed (credentials accepted "
	    "once are cached for the whole process for a minute), by result.");
	sbuf_printf(s,
	    "retryproxy_auth_hashes_total{result=\"accepted\"} %llu\n"
	    "retryproxy_auth_hashes_total{result=\"refused\"} %llu\n",
	    (unsigned long long)GET(auth_hashes[1]),
	    (unsigned long long)GET(auth_hashes[0]));
	head(s, "retryproxy_hedges_total", "counter",
	    "Hedges (hedge_after): second copies of slow attempts, by "
	    "outcome (not_sent: no retry budget or attempt left).");
	sbuf_printf(s,
	    "retryproxy_hedges_total{outcome=\"won\"} %llu\n"
	    "retryproxy_hedges_total{outcome=\"lost\"} %llu\n"
	    "retryproxy_hedges_total{outcome=\"failed\"} %llu\n"
	    "retryproxy_hedges_total{outcome=\"took_over\"} %llu\n"
	    "retryproxy_hedges_total{outcome=\"not_sent\"} %llu\n",
	    (unsigned long long)GET(hedges[METRICS_HEDGE_WON]),
	    (unsigned long long)GET(hedges[METRICS_HEDGE_LOST]),
	    (unsigned long long)GET(hedges[METRICS_HEDGE_FAILED]),
	    (unsigned long long)GET(hedges[METRICS_HEDGE_TOOK_OVER]),
	    (unsigned long long)GET(hedges[METRICS_HEDGE_NOT_SENT]));
	head(s, "retryproxy_upstream_connections_created_total", "counter",
	    "Upstream connections opened.");
	sbuf_printf(s, "retryproxy_upstream_connections_created_total %llu\n",
	    (unsigned long long)g->upstream_connections_created);
	head(s, "retryproxy_config_reloads_total", "counter",
	    "Configuration reloads by result.");
	sbuf_printf(s,
	    "retryproxy_config_reloads_total{result=\"success\"} %llu\n"
	    "retryproxy_config_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)GET(reloads_ok),
	    (unsigned long long)GET(reloads_failed));
}

void
metrics_free(void)
{
	struct route_metrics *m, *next;

	pthread_mutex_lock(&reg_lock);
	for (m = reg; m != NULL; m = next) {
		next = m->next;
		free(m->route);
		free(m);
	}
	reg = NULL;
	while (gw_reg != NULL) {
		struct gateway_metrics *g = gw_reg;
		gw_reg = g->next;
		free(g->gateway);
		free(g);
	}
	pthread_mutex_unlock(&reg_lock);
}
