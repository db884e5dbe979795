/*
 * metrics: counters for the admin /metrics endpoint, in Prometheus text
 * format.  Counters are C11 atomics updated by every worker without a
 * lock; per-route counters live in a registry keyed by route name, so
 * they survive a reload.  Pure: no libevent.
 */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

#define METRICS_REASONS (600 + 32) /* statuses, then fail kinds */
#define METRICS_BUCKETS 14

struct route_metrics {
	char *route;
	_Atomic uint64_t requests[600]; /* by final status */
	_Atomic uint64_t attempts;
	_Atomic uint64_t retries[METRICS_REASONS];
	_Atomic uint64_t suppressed[8]; /* by enum decision_why */
	struct route_metrics *next;
};

/* A gateway listener's counters, by its address (as a route's). */
struct gateway_metrics {
	char *gateway;
	_Atomic uint64_t requests;
	struct gateway_metrics *next;
};
struct gateway_metrics *metrics_gateway(const char *addr);
/* A request came in on a gateway listener. */
void metrics_gateway_request(struct gateway_metrics *);

/* The counters of a route (created on first use; never freed). */
struct route_metrics *metrics_route(const char *name);

void metrics_request(struct route_metrics *, int status, unsigned attempts,
    uint64_t duration_ms);
/* A retry taken: reason is a status (> 0) or a fail kind. */
void metrics_retry(struct route_metrics *, int status, enum fail_kind);
/* A retry suppressed (budget, deadline, method, retry_after). */
void metrics_suppressed(struct route_metrics *, enum decision_why);
void metrics_reload(int ok);
void metrics_tunnel(int delta);
/*
 * Tunnel bytes relayed (as the access log's bytes and bytes_in): spliced
 * in the kernel (zsplice.h), or copied through the daemon's memory.
 */
void metrics_tunnel_bytes(uint64_t spliced, uint64_t copied);
/* Body bytes the raw lane spliced in the kernel (zbody.h), either way. */
void metrics_body_spliced(uint64_t n);
/* A request took the raw lane (streamed: its body was not held). */
void metrics_raw_lane(bool streamed);
/* A raw-lane attempt rode a pooled connection (rawpool.h). */
void metrics_raw_lane_reused(void);

/*
 * What a request that may not be re-sent found in the pool (warm_reuse,
 * retryproxy.ini(5)).
 */
enum warm_outcome {
	WARM_REUSED, /* a warm connection: it rode it */
	WARM_NONE, /* no idle connection to the origin */
	WARM_TOO_IDLE, /* idle too long to be safe: a new one */
	WARM_PROBE_FAILED, /* the origin had closed or written: a new one */
};
#define WARM_OUTCOMES 4
void metrics_warm_reuse(enum warm_outcome);
/* An upstream TLS handshake finished: a resumed session, or a new one. */
void metrics_tls_handshake(bool resumed);
/* An origin is held after a 429/503 with Retry-After (hold, hold.h). */
void metrics_hold_started(void);
/* A request met a held origin: it waited, or got its status at once. */
void metrics_held(bool waited);
/*
 * An upstream address was marked after a failed connect; an attempt went
 * to another address because of a mark (avoid.h).
 */
void metrics_address_marked(void);
void metrics_address_avoided(void);
/* An attempt failed at parent proxy "host:port" itself (parent.h). */
void metrics_parent_failure(const char *parent);
/*
 * A response body broke after the client had some of it: its rest was
 * spliced in (resume.h), or the client's response ended short.
 */
void metrics_broken_body(bool resumed);
/* What became of a hedge (a second copy of a slow attempt, hedge.h). */
enum metrics_hedge {
	METRICS_HEDGE_WON, /* its head came first: it answered */
	METRICS_HEDGE_LOST, /* the first copy's came first: cancelled */
	METRICS_HEDGE_FAILED, /* it failed (connect, reset, timeout) */
	METRICS_HEDGE_TOOK_OVER, /* the first copy failed: it went on */
	METRICS_HEDGE_NOT_SENT, /* not sent: no retry budget or attempt left */
	METRICS_HEDGE_N
};
void metrics_hedge(enum metrics_hedge);
/* auth = basic: a password hash was computed (a credential not cached). */
void metrics_auth_hash(bool accepted);
/* An origin was ejected (eject.h); an attempt was not made to one. */
void metrics_ejection(void);
void metrics_ejected_request(void);

/* Gauges sampled at scrape time, from the workers. */
struct metrics_gauges {
	uint64_t client_connections;
	uint64_t upstream_connections;
	uint64_t upstream_connections_created;
	uint64_t requests_in_flight;
	uint64_t replay_buffer_bytes;
	uint64_t ejected_origins; /* eject_after */
};

/* The whole exposition. */
void metrics_render(const struct metrics_gauges *, struct sbuf *);
/* Free the registry (at exit, for leak checkers). */
void metrics_free(void);

#endif
