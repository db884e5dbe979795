/*
 * upstream: per-worker pool of keep-alive evhttp_connections to origins,
 * keyed by origin (TLS or not, verified or not, host, port), with a
 * bounded idle list and an idle timeout.  evhttp runs one request at a
 * time on a connection, so the pool hands a connection out exclusively and
 * takes it back when the exchange ends.
 */
#ifndef RP_UPSTREAM_H
#define RP_UPSTREAM_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bodyread.h"
#include "eagerwrite.h"
#include "metrics.h"
#include "resphold.h"

struct event_base;
struct evhttp_connection;
struct ssl_ctx_st;
struct upstream_pool;
struct idlelearn;

struct upstream_conn {
	struct evhttp_connection *evcon;
	struct upstream_pool *pool;
	struct upstream_conn *next; /* in the idle list */
	uint64_t idle_since_ms;
	uint64_t idle_taken_ms; /* how long it had idled when taken */
	uint64_t keepalive_ms; /* the origin's Keep-Alive: timeout=, or 0 */
	bool idle; /* in the idle list */
	struct sockaddr_storage peer; /* the address it was opened to */
	unsigned requests; /* exchanges completed on it */
	bool connected; /* a live socket, as far as we know */
	bool tls;
	bool nodelay; /* TCP_NODELAY set on its socket */
	int tls_verify_err; /* X509_V_ERR_* of a failed verification */
	struct resphold hold; /* response heads, before evhttp sees them */
	struct bodyread body; /* reading a response body ourselves */
	struct eagerwrite ew; /* writing requests without waiting */
	bool paused; /* the client lags: not reading */
	struct timeval timeout; /* evhttp's, also our body read gap */
	unsigned hash;
	/* "sv:host:port:trust": TLS?, verify?, origin, tls_client_trust */
	char key[300]; /* (a 255-byte host fits) */
};

/*
 * The origin of a connection: host:port, over TLS with ctx (NULL: plain
 * TCP) and, for TLS, with or without verification.
 */
struct upstream_origin {
	const char *host;
	unsigned port;
	struct ssl_ctx_st *tls;
	bool verify;
	bool parent; /* host:port is a parent proxy (absolute-form requests) */
};

/* learn: the worker's table of origins' idle timeouts (idlelearn.h) */
struct upstream_pool *upstream_pool_new(struct event_base *,
    struct idlelearn *learn, unsigned max_idle, uint64_t idle_timeout_ms);
void upstream_pool_free(struct upstream_pool *);

/*
 * Which pooled connections an attempt may take: usable(peer, connected,
 * arg) says of each (peer: the address it was opened to; connected: its
 * socket is still open, else evhttp connects it to peer again).  The
 * pool is keyed by origin, not by address; one that is not usable stays
 * in the pool.  NULL: any.
 */
typedef bool (*upstream_usable_fn)(
    const struct sockaddr *peer, bool connected, void *arg);

/* An idle connection to the origin, or NULL. */
struct upstream_conn *upstream_take_idle(struct upstream_pool *,
    const struct upstream_origin *, upstream_usable_fn, void *arg);

/*
 * An idle connection that a request which may not be re-sent can ride
 * (the README, "Retry semantics"): idle for less than half of how long the
 * origin keeps an idle connection -- its Keep-Alive: timeout=, else the
 * shortest idle time at which it was seen closing one (forgotten after
 * ten minutes), else IDLELEARN_ASSUMED_MS -- and a non-blocking read
 * of its socket shows neither an end of stream nor stray bytes.  NULL
 * otherwise (why says why: enum warm_outcome, metrics.h); a connection the
 * probe condemned is closed.
 */
struct upstream_conn *upstream_take_warm(struct upstream_pool *,
    const struct upstream_origin *, upstream_usable_fn, void *arg,
    enum warm_outcome *why);
/*
 * The response on uc said Keep-Alive: timeout= (ms; 0: it did not); kept
 * for the connection's next idle time.
 */
void upstream_note_keepalive(struct upstream_conn *, uint64_t timeout_ms);
/*
 * A connection taken from the pool broke before any response byte: the
 * origin had closed it after it idled idle_taken_ms.  Learned.
 */
void upstream_note_stale(struct upstream_conn *);
/* A new connection to the origin at the address sa (AF_INET or AF_INET6). */
struct upstream_conn *upstream_connect(struct upstream_pool *,
    const struct upstream_origin *, const struct sockaddr *sa,
    uint64_t max_header_bytes);
/*
 * evhttp_make_request on uc (which reconnects it if it was closed; a TLS
 * one then offers a kept session again, tls.h).
 */
int upstream_make_request(struct upstream_conn *, struct evhttp_request *,
    enum evhttp_cmd_type, const char *target);
/*
 * A request is about to go out: its response head (up to max_head bytes)
 * reaches evhttp only complete, valid and final (resphold.h); when it is
 * refused instead, refused_cb(scan, arg) runs from the event loop.
 */
void upstream_expect_response(struct upstream_conn *, uint64_t max_head,
    void (*refused_cb)(const struct reqscan *, void *), void *arg);
/* The exchange changes hands (a hedge taken over): refused_cb(scan, arg). */
void upstream_response_owner(struct upstream_conn *,
    void (*refused_cb)(const struct reqscan *, void *), void *arg);
/* Set evhttp's timeout on the connection (and on our body reads). */
void upstream_set_timeout(struct upstream_conn *, const struct timeval *);
/*
 * The response head is in and its body is to be streamed: read the body
 * ourselves, in large pieces (bodyread.h).  A no-op over TLS.
 */
void upstream_read_body(struct upstream_conn *);
/* Stop and resume reading the response (backpressure from the client). */
void upstream_pause(struct upstream_conn *);
void upstream_resume(struct upstream_conn *);
/*
 * Give a connection back after a complete exchange (keep-alive).  One
 * with anything left of the exchange (a byte past the response's end) is
 * closed instead: the next request must read only its own response.
 */
void upstream_release(struct upstream_conn *);
/* Drop a connection (its state is unknown); freed from the event loop. */
void upstream_discard(struct upstream_conn *);
/* Requests go out whole: never wait for an ACK (Nagle); once a connection. */
void upstream_set_nodelay(struct upstream_conn *);
/* Connections open now (idle + busy), for metrics. */
unsigned upstream_pool_count(const struct upstream_pool *);
/* Connections ever created, for the benchmark's conns-per-request. */
uint64_t upstream_pool_created(const struct upstream_pool *);

#endif
