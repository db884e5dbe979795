/*
 * rawpool: idle keep-alive connections of the raw lane (see rawpool.h).
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "bevset.h"
#include "idlelearn.h"
#include "log.h"
#include "rawpool.h"
#include "util.h"

#define NBUCKETS 256

struct rawconn {
	LIST_ENTRY(rawconn) link;
	struct rawpool *pool;
	struct bufferevent *bev;
	struct sockaddr_storage peer;
	uint64_t idle_since_ms;
	uint64_t keepalive_ms; /* the origin's Keep-Alive: timeout=, or 0 */
	uint64_t write_timeout_ms; /* left on bev (rawpool_put) */
	unsigned hash;
	bool tls;
	char key[RAWPOOL_KEY];
};

LIST_HEAD(rawconn_list, rawconn);

struct rawpool {
	struct idlelearn *learn;
	struct rawconn_list idle[NBUCKETS];
	unsigned nidle, max_idle;
	uint64_t idle_timeout_ms;
	struct event *sweep;
	/* entries kept for the next put (a calloc and a free per request) */
	struct rawconn_list spare;
	unsigned nspare;
};

/* (as many as a busy worker puts back in one batch: see SPARE_RELAYS) */
#define SPARE_CONNS 64

static struct rawconn *
conn_new(struct rawpool *pool)
{
	struct rawconn *rc = LIST_FIRST(&pool->spare);

	if (rc == NULL)
		return xcalloc(1, sizeof *rc);
	LIST_REMOVE(rc, link);
	pool->nspare--;
	/* (all but the key, which rawpool_put writes) */
	memset(rc, 0, offsetof(struct rawconn, key));
	return rc;
}

static void
conn_release(struct rawpool *pool, struct rawconn *rc)
{
	if (pool->nspare >= SPARE_CONNS) {
		free(rc);
		return;
	}
	LIST_INSERT_HEAD(&pool->spare, rc, link);
	pool->nspare++;
}

void
rawpool_key(char *key, size_t len, const char *host, unsigned port, bool tls,
    bool verify, const char *trust)
{
	/*
	 * trust: a TLS connection was verified under its context's trust;
	 * after a reload that changes the trust it must not serve
	 */
	size_t at = 0;
	char kind[4] = {tls ? 's' : 'p', verify ? 'v' : 'n', ':', '\0'};

	/* "pv:host:port:" (by hand: once for every request of the raw lane) */
	util_append(key, len, &at, kind);
	util_append(key, len, &at, host);
	util_append(key, len, &at, ":");
	util_append_u(key, len, &at, port);
	util_append(key, len, &at, ":");
	if (tls && trust != NULL)
		util_append(key, len, &at, trust);
}

static void
conn_drop(struct rawconn *rc)
{
	LIST_REMOVE(rc, link);
	rc->pool->nidle--;
	bufferevent_free(rc->bev);
	conn_release(rc->pool, rc);
}

/*
 * Nothing is owed on an idle connection: a byte, the end of the stream,
 * an error or the timeout all mean it is not to be used again.
 */
static void
idle_read_cb(struct bufferevent *bev, void *arg)
{
	struct rawconn *rc = arg;

	if (log_debug_enabled())
		log_debug("%s: an idle raw-lane connection was written to: "
			  "closed",
		    rc->key + 3);
	conn_drop(rc);
}

static void
idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rawconn *rc = arg;

	/* the origin closed it for idling: what warm reuse must learn */
	idlelearn_close(rc->pool->learn, rc->key,
	    util_now_ms() - rc->idle_since_ms, util_now_ms());
	conn_drop(rc);
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rawpool *pool = arg;
	uint64_t now = util_now_ms();

	if (pool->nidle == 0)
		return;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct rawconn *rc, *next;
		for (rc = LIST_FIRST(&pool->idle[b]); rc != NULL; rc = next) {
			next = LIST_NEXT(rc, link);
			if (now - rc->idle_since_ms >= pool->idle_timeout_ms)
				conn_drop(rc);
		}
	}
}

struct rawpool *
rawpool_new(struct event_base *base, struct idlelearn *learn, unsigned max_idle,
    uint64_t idle_timeout_ms)
{
	struct rawpool *pool = xcalloc(1, sizeof *pool);
	struct timeval tv = {1, 0};

	pool->learn = learn;
	for (unsigned b = 0; b < NBUCKETS; b++)
		LIST_INIT(&pool->idle[b]);
	LIST_INIT(&pool->spare);
	pool->max_idle = max_idle;
	pool->idle_timeout_ms = idle_timeout_ms;
	pool->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, pool);
	event_add(pool->sweep, &tv);
	return pool;
}

void
rawpool_free(struct rawpool *pool)
{
	if (pool == NULL)
		return;
	for (unsigned b = 0; b < NBUCKETS; b++)
		while (!LIST_EMPTY(&pool->idle[b]))
			conn_drop(LIST_FIRST(&pool->idle[b]));
	while (!LIST_EMPTY(&pool->spare)) {
		struct rawconn *rc = LIST_FIRST(&pool->spare);
		LIST_REMOVE(rc, link);
		free(rc);
	}
	event_free(pool->sweep);
	free(pool);
}

void
rawpool_put(struct rawpool *pool, const char *key, struct bufferevent *bev,
    const struct sockaddr *peer, uint64_t keepalive_ms,
    uint64_t write_timeout_ms)
{
	struct rawconn *rc;
	size_t plen = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in);

	if (pool->nidle >= pool->max_idle ||
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		bufferevent_free(bev);
		return;
	}
	rc = conn_new(pool);
	rc->pool = pool;
	rc->bev = bev;
	memcpy(&rc->peer, peer, plen);
	rc->idle_since_ms = util_now_ms();
	rc->keepalive_ms = keepalive_ms;
	rc->write_timeout_ms = write_timeout_ms;
	rc->tls = key[0] == 's';
	/* (a key is shorter than RAWPOOL_KEY: rawpool_key made it) */
	{
		size_t klen = strnlen(key, sizeof rc->key - 1);
		memcpy(rc->key, key, klen);
		rc->key[klen] = '\0';
	}
	rc->hash = util_hash(rc->key);
	/* (most recent first: the others idled longer, nearer their close) */
	LIST_INSERT_HEAD(&pool->idle[rc->hash % NBUCKETS], rc, link);
	pool->nidle++;
	bufferevent_setcb(bev, idle_read_cb, NULL, idle_event_cb, rc);
	bevset_watermark(bev, EV_READ, 0, 0);
	bevset_watermark(bev, EV_WRITE, 0, 0);
	/* (its timeouts: the caller's, rawpool_put; writing off, none fires) */
	bevset_events(bev, EV_WRITE, false);
	bevset_events(bev, EV_READ, true);
}

/*
 * Has the origin closed or written since the loop last looked?  (Within
 * one turn of the loop the idle callbacks cannot have run yet.)  Plain
 * sockets only: on TLS a record may be a session ticket, not data.
 */
static bool
still_quiet(const struct rawconn *rc)
{
	evutil_socket_t fd = bufferevent_getfd(rc->bev);
	char c;

	if (evbuffer_get_length(bufferevent_get_input(rc->bev)) > 0)
		return false;
	if (rc->tls || fd < 0)
		return true;
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct bufferevent *
rawpool_take(struct rawpool *pool, const char *key,
    bool (*usable)(const struct sockaddr *, bool, void *), void *arg,
    bool warm_only, struct rawpool_taken *t)
{
	unsigned h;
	struct rawconn *rc, *next;
	struct bufferevent *bev;
	uint64_t now;

	t->why = WARM_NONE;
	if (pool->nidle == 0)
		return NULL;
	h = util_hash(key);
	now = util_now_ms();
	for (rc = LIST_FIRST(&pool->idle[h % NBUCKETS]); rc != NULL;
	     rc = next) {
		next = LIST_NEXT(rc, link);
		if (rc->hash != h || strcmp(rc->key, key) != 0)
			continue;
		t->idle_ms = now - rc->idle_since_ms;
		if (usable != NULL &&
		    !usable((const struct sockaddr *)&rc->peer, true, arg))
			continue;
		/*
		 * (the most recent first: when it is too idle, the others,
		 * idle longer, are too)
		 */
		if (warm_only &&
		    !idlelearn_is_warm(
			pool->learn, key, rc->keepalive_ms, t->idle_ms, now)) {
			t->why = WARM_TOO_IDLE;
			return NULL;
		}
		if (!still_quiet(rc)) {
			if (log_debug_enabled())
				log_debug("%s: an idle raw-lane connection was "
					  "closed or written to: not used",
				    rc->key + 3);
			idlelearn_close(pool->learn, rc->key, t->idle_ms, now);
			conn_drop(rc);
			if (warm_only) {
				t->why = WARM_PROBE_FAILED;
				return NULL;
			}
			continue;
		}
		LIST_REMOVE(rc, link);
		pool->nidle--;
		bev = rc->bev;
		t->peer = rc->peer;
		t->write_timeout_ms = rc->write_timeout_ms;
		t->why = WARM_REUSED;
		conn_release(pool, rc);
		/* (reading stays on: the caller reads the response next) */
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		return bev;
	}
	return NULL;
}

void
rawpool_note_stale(struct rawpool *pool, const char *key, uint64_t idle_ms)
{
	if (idle_ms >= IDLELEARN_STALE_TEACHES_MS)
		idlelearn_close(pool->learn, key, idle_ms, util_now_ms());
}

unsigned
rawpool_count(const struct rawpool *pool)
{
	return pool != NULL ? pool->nidle : 0;
}
