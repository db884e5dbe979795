/*
 * rawpool: per-worker pool of idle keep-alive upstream connections of the
 * raw lane (relay.c), as bufferevents, keyed by origin (TLS or not,
 * verified or not, host, port, TLS trust).  A connection is put back only
 * after a response whose end was known from its framing; while it idles
 * the pool watches it and drops it at the origin's first byte or close,
 * or after the idle timeout.  (evhttp's lane has its own pool of
 * evhttp_connections, upstream.c: libevent 2.1 cannot hand a connection
 * from one to the other.)
 */
#ifndef RP_RAWPOOL_H
#define RP_RAWPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics.h"

struct bufferevent;
struct event_base;
struct idlelearn;
struct rawpool;

/* The key of an origin: "sv:host:port:trust" (trust: TLS only). */
#define RAWPOOL_KEY 300
void rawpool_key(char *key, size_t len, const char *host, unsigned port,
    bool tls, bool verify, const char *trust);

/* learn: the worker's table of origins' idle timeouts (idlelearn.h) */
struct rawpool *rawpool_new(struct event_base *, struct idlelearn *learn,
    unsigned max_idle, uint64_t idle_timeout_ms);
void rawpool_free(struct rawpool *);

/*
 * Keep bev (connected to peer, its last response read whole, nothing
 * more in its input) for the next request to key; keepalive_ms: the
 * response's Keep-Alive: timeout= (0: none).  bev has no read timeout
 * (an idle connection's reading watches for the origin's close) and
 * write_timeout_ms as its write timeout (0: none), which the pool leaves
 * and rawpool_take tells: setting the same again cost every request a
 * re-arm.  The pool owns it from here (it may free it at once: full).
 */
void rawpool_put(struct rawpool *, const char *key, struct bufferevent *bev,
    const struct sockaddr *peer, uint64_t keepalive_ms,
    uint64_t write_timeout_ms);

/* What rawpool_take gave (what the caller needs of it). */
struct rawpool_taken {
	struct sockaddr_storage peer; /* its address */
	uint64_t idle_ms; /* how long it had idled */
	uint64_t write_timeout_ms; /* its write timeout (rawpool_put) */
	enum warm_outcome why; /* (warm_only) */
};

/*
 * The most recently idle connection to key whose address usable()
 * accepts (connected: always true here), or NULL.  warm_only: for a
 * request that may not be re-sent, only when that connection is warm
 * (idle under half of what the origin keeps, idlelearn.h); t->why says
 * what the pool had.  A connection the origin closed or wrote to is
 * dropped on the way (and its idle time learned).  The connection is the
 * caller's: its callbacks and timeouts are cleared, writing is off and
 * reading on (set the callbacks before the loop runs).
 */
struct bufferevent *rawpool_take(struct rawpool *, const char *key,
    bool (*usable)(const struct sockaddr *, bool, void *), void *arg,
    bool warm_only, struct rawpool_taken *t);

/*
 * A connection taken after idling idle_ms broke under a request before
 * any response byte: learned as the origin's idle close when it had
 * idled long enough to tell (IDLELEARN_STALE_TEACHES_MS).
 */
void rawpool_note_stale(struct rawpool *, const char *key, uint64_t idle_ms);

/* Idle connections now. */
unsigned rawpool_count(const struct rawpool *);

#endif
