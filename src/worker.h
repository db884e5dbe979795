/*
 * worker: one thread with its own event loop, evhttp front end, DNS
 * resolver and upstream pool.  Nothing in a worker is touched by another
 * thread except the fields marked atomic.
 */
#ifndef RP_WORKER_H
#define RP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "config.h"
#include "util.h"

struct event;
struct event_base;
struct evdns_base;
struct evhttp;
struct evhttp_connection;
struct evhttp_request;
struct evhttp_bound_socket;
struct upstream_pool;
struct rawpool;
struct idlelearn;
struct dnscache;
struct avoid;
struct front;
struct intercept;
struct ssl_ctx_st;
struct relay;
struct zsplice_pool;

struct worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evdns_base *dns;
	struct evhttp *http;
	struct evhttp_bound_socket **bound;
	char **bound_text; /* the address of each, to rebind on reload */
	size_t nbound;
	struct upstream_pool *pool;
	struct rawpool *rawpool; /* the raw lane's idle connections */
	struct idlelearn *learn; /* origins' idle timeouts, for both pools */
	struct dnscache *dnscache; /* names this worker resolved */
	struct avoid *avoid; /* addresses whose connect failed (avoid.h) */
	struct auth_cache *auth_cache; /* credentials accepted (auth.h) */
	struct front *front;
	/* front's hand-over of a connection's close callback (client.h) */
	void (*set_closecb)(struct evhttp_connection *,
	    void (*)(struct evhttp_connection *, void *), void *,
	    struct worker *);
	struct intercept *intercept; /* NULL unless a route intercepts */
	struct zsplice_pool *zpool; /* tunnels' pipes (zsplice.h) */
	/* where a request from inside an intercepted tunnel goes (proxy.c) */
	void (*intercept_request)(struct evhttp_request *, struct worker *,
	    const char *host, int ipv6, unsigned port);
	struct config *cfg; /* this worker's reference to the snapshot */
	unsigned cfg_gen;
	/* upstream TLS: [1] verifies against cfg's [tls] trust, [0] not */
	struct ssl_ctx_st *tls_ctx[2];
	unsigned tls_gen[2];
	struct event *wake; /* the main thread writes wake_fd */
	int wake_fd; /* an eventfd */
	struct event *drain_timer;
	struct event *heartbeat;
	_Atomic uint64_t heartbeat_ms; /* for the systemd watchdog */
	bool stopping;
	uint64_t stop_deadline_ms;
	_Atomic unsigned active; /* client requests in flight (read by admin) */
	uint64_t rng;
	struct sbuf line; /* reused for access-log lines */
	/* the raw lane's request memory, kept for the next (relay.c) */
	struct relay *spare_relays;
	unsigned nspare_relays;
	int ready_fd; /* written once the worker is listening */
};

/* Milliseconds as a struct timeval, for libevent. */
static inline struct timeval
rp_tv(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	return tv;
}

/* The worker's current config snapshot (picks up a reload). */
struct config *worker_config(struct worker *);
/* The upstream TLS context for the current config (NULL: unusable). */
struct ssl_ctx_st *worker_tls_ctx(struct worker *, bool verify);
/* A uniform random number in [0, 1). */
double worker_random(struct worker *);
/* Called by proxy.c when a request ends, so a stopping worker can exit. */
void worker_request_done(struct worker *);

#endif
