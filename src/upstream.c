/*
 * upstream: the origin connection pool.  A 256-bucket hash of idle
 * lists; a sweep timer closes connections idle past the timeout.  Freeing
 * an evhttp_connection is always deferred to the loop, because callers
 * are often inside that connection's own callbacks.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bodyread.h"
#include "idlelearn.h"
#include "log.h"
#include "nodelay.h"
#include "tls.h"
#include "upstream.h"
#include "util.h"

#define NBUCKETS 256
#define IO_CHUNK (128 * 1024)

struct upstream_pool {
	struct event_base *base;
	struct upstream_conn *idle[NBUCKETS];
	struct idlelearn *learn; /* the worker's (idlelearn.h) */
	unsigned nidle, max_idle;
	_Atomic unsigned open; /* (read by the admin thread) */
	_Atomic uint64_t created;
	uint64_t idle_timeout_ms;
	struct event *sweep;
};

static void body_stop(struct upstream_conn *);

/* ---- what origins showed of their idle timeouts (idlelearn.h) ---- */

/* The origin of uc closed a connection that had idled idle_ms. */
static void
learn_close(struct upstream_conn *uc, uint64_t idle_ms)
{
	idlelearn_close(uc->pool->learn, uc->key, idle_ms, util_now_ms());
	if (log_debug_enabled())
		log_debug("%s: closed a connection idle for %llums "
			  "(limit now %llums)",
		    uc->key + 3, (unsigned long long)idle_ms,
		    (unsigned long long)idlelearn_limit_ms(uc->pool->learn,
			uc->key, uc->keepalive_ms, util_now_ms()));
}

/* ---- connections ---------------------------------------------------- */

static void
conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct upstream_conn *uc = arg;

	/* an idle one: the origin closed it (ours are freed, not closed) */
	if (uc->idle && uc->connected)
		learn_close(uc, util_now_ms() - uc->idle_since_ms);
	/* (evhttp is about to close the socket our body reader watches) */
	body_stop(uc);
	uc->connected = false;
	uc->nodelay = false; /* a reconnect gets a new socket */
}

static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_conn *uc = arg;

	body_stop(uc);
	eagerwrite_detach(&uc->ew);
	resphold_detach(&uc->hold);
	evhttp_connection_set_closecb(uc->evcon, NULL, NULL);
	evhttp_connection_free(uc->evcon);
	uc->pool->open--;
	free(uc);
}

static void
conn_free_later(struct upstream_conn *uc)
{
	static const struct timeval zero = {0, 0};

	if (event_base_once(
		uc->pool->base, -1, EV_TIMEOUT, conn_free_cb, uc, &zero) != 0)
		log_warnx("cannot schedule an upstream connection's release");
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_pool *pool = arg;
	uint64_t now = util_now_ms();

	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct upstream_conn **pp = &pool->idle[b], *uc;
		while ((uc = *pp) != NULL) {
			if (now - uc->idle_since_ms >= pool->idle_timeout_ms) {
				*pp = uc->next;
				uc->idle = false;
				pool->nidle--;
				conn_free_later(uc);
			} else
				pp = &uc->next;
		}
	}
}

struct upstream_pool *
upstream_pool_new(struct event_base *base, struct idlelearn *learn,
    unsigned max_idle, uint64_t idle_timeout_ms)
{
	struct upstream_pool *pool = xcalloc(1, sizeof *pool);
	struct timeval tv = {1, 0};

	pool->base = base;
	pool->learn = learn;
	pool->max_idle = max_idle;
	pool->idle_timeout_ms = idle_timeout_ms;
	pool->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, pool);
	event_add(pool->sweep, &tv);
	return pool;
}

void
upstream_pool_free(struct upstream_pool *pool)
{
	if (pool == NULL)
		return;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct upstream_conn *uc, *next;
		for (uc = pool->idle[b]; uc != NULL; uc = next) {
			next = uc->next;
			eagerwrite_detach(&uc->ew);
			resphold_detach(&uc->hold);
			evhttp_connection_set_closecb(uc->evcon, NULL, NULL);
			evhttp_connection_free(uc->evcon);
			free(uc);
		}
	}
	event_free(pool->sweep);
	free(pool);
}

static void
make_key(char *key, size_t len, const struct upstream_origin *o)
{
	/*
	 * trust: a TLS connection (and evhttp's reconnect of it, resuming
	 * with its old context) was verified under its context's trust; after
	 * a reload that changes the trust it must not serve
	 */
	snprintf(key, len, "%c%c:%s:%u:%s",
	    o->parent	 ? 'P'
		: o->tls ? 's'
			 : 'p',
	    o->verify ? 'v' : 'n', o->host, o->port,
	    o->tls ? tls_client_trust(o->tls) : "");
}

struct upstream_conn *
upstream_take_idle(struct upstream_pool *pool, const struct upstream_origin *o,
    upstream_usable_fn usable, void *arg)
{
	char key[300];
	unsigned h;
	struct upstream_conn **pp, *uc;

	if (pool->nidle == 0)
		return NULL;
	make_key(key, sizeof key, o);
	h = util_hash(key);
	for (pp = &pool->idle[h % NBUCKETS]; (uc = *pp) != NULL;
	     pp = &uc->next) {
		if (uc->hash == h && strcmp(uc->key, key) == 0 &&
		    (usable == NULL ||
			usable((const struct sockaddr *)&uc->peer,
			    uc->connected, arg))) {
			*pp = uc->next;
			uc->next = NULL;
			uc->idle = false;
			uc->idle_taken_ms = util_now_ms() - uc->idle_since_ms;
			pool->nidle--;
			return uc;
		}
	}
	return NULL;
}

static void
idle_push(struct upstream_conn *uc)
{
	struct upstream_pool *pool = uc->pool;
	struct upstream_conn **head = &pool->idle[uc->hash % NBUCKETS];

	uc->next = *head;
	*head = uc;
	uc->idle = true;
	pool->nidle++;
}

/*
 * Has the origin closed or written since the last exchange?  A peek at
 * the socket, without waiting: an end of stream, an error or any byte
 * (nothing is owed on an idle connection) condemns it.
 */
static bool
probe_quiet(struct upstream_conn *uc)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(uc->evcon);
	evutil_socket_t fd = bufferevent_getfd(bev);
	char c;

	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		return false;
	if (fd < 0)
		return true; /* no socket yet: evhttp opens a new one */
	return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct upstream_conn *
upstream_take_warm(struct upstream_pool *pool, const struct upstream_origin *o,
    upstream_usable_fn usable, void *arg, enum warm_outcome *why)
{
	struct upstream_conn *uc = upstream_take_idle(pool, o, usable, arg);

	*why = WARM_REUSED;
	if (uc == NULL) {
		*why = WARM_NONE;
		return NULL;
	}
	if (!uc->connected) {
		/* the origin closed it: evhttp connects it afresh */
		*why = WARM_NONE;
		return uc;
	}
	/* (the most recently used of the origin's: the others idled longer) */
	if (!idlelearn_is_warm(pool->learn, uc->key, uc->keepalive_ms,
		uc->idle_taken_ms, util_now_ms())) {
		uc->idle_taken_ms = 0;
		idle_push(uc);
		*why = WARM_TOO_IDLE;
		return NULL;
	}
	if (!probe_quiet(uc)) {
		if (log_debug_enabled())
			log_debug("%s: an idle connection was closed or "
				  "written to: not used",
			    uc->key + 3);
		learn_close(uc, uc->idle_taken_ms);
		conn_free_later(uc);
		*why = WARM_PROBE_FAILED;
		return NULL;
	}
	return uc;
}

void
upstream_note_keepalive(struct upstream_conn *uc, uint64_t timeout_ms)
{
	uc->keepalive_ms = timeout_ms;
}

/*
 * A reused connection broke before any response byte.  Either the origin
 * closed it for idling (what warm_reuse must learn) or the request itself
 * made the origin reset or close (a crash, a refusal), which says nothing
 * about its idle limit.  A connection that had idled only moments cannot
 * tell them apart, and learning "0 ms" would end warm reuse to the origin
 * for IDLELEARN_FOR_MS: only a longer idle teaches.  (A close seen while
 * the connection sat in the pool, or by the probe, always teaches.)
 */
void
upstream_note_stale(struct upstream_conn *uc)
{
	if (uc->idle_taken_ms >= IDLELEARN_STALE_TEACHES_MS)
		learn_close(uc, uc->idle_taken_ms);
}

struct upstream_conn *
upstream_connect(struct upstream_pool *pool, const struct upstream_origin *o,
    const struct sockaddr *sa, uint64_t max_header_bytes)
{
	struct upstream_conn *uc = xcalloc(1, sizeof *uc);
	struct evhttp_connection *evcon;
	char addr[INET6_ADDRSTRLEN];
	const void *a = sa->sa_family == AF_INET6
	    ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	evutil_inet_ntop(sa->sa_family, a, addr, sizeof addr);
	memcpy(&uc->peer, sa,
	    sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
				      : sizeof(struct sockaddr_in));

	if (o->tls != NULL) {
		/* the bufferevent gets its socket when evhttp connects */
		SSL *ssl = tls_client_ssl(
		    o->tls, o->host, o->port, o->verify, &uc->tls_verify_err);
		struct bufferevent *bev = ssl == NULL
		    ? NULL
		    : bufferevent_openssl_socket_new(pool->base, -1, ssl,
			  BUFFEREVENT_SSL_CONNECTING, TLS_BEV_OPTIONS);
		if (bev == NULL) {
			if (ssl != NULL)
				SSL_free(ssl);
			free(uc);
			return NULL;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
		evcon = evhttp_connection_base_bufferevent_new(
		    pool->base, NULL, bev, addr, (unsigned short)o->port);
		uc->tls = true;
	} else
		evcon = evhttp_connection_base_new(
		    pool->base, NULL, addr, (unsigned short)o->port);
	if (evcon == NULL) {
		free(uc);
		return NULL;
	}
	if (!uc->tls)
		eagerwrite_attach(
		    &uc->ew, evhttp_connection_get_bufferevent(evcon));
	uc->evcon = evcon;
	uc->pool = pool;
	/* big bodies: read more than libevent's 16 KiB a callback */
	bufferevent_set_max_single_read(
	    evhttp_connection_get_bufferevent(evcon), IO_CHUNK);
	make_key(uc->key, sizeof uc->key, o);
	uc->hash = util_hash(uc->key);
	resphold_attach(&uc->hold, pool->base,
	    bufferevent_get_input(evhttp_connection_get_bufferevent(evcon)));
	/*
	 * The head limit is resphold's (exact, and "too big" is final);
	 * evhttp's, counted its own way, only backs it up.
	 */
	evhttp_connection_set_max_headers_size(
	    evcon, (ev_ssize_t)(max_header_bytes * 2 + 4096));
	evhttp_connection_set_closecb(evcon, conn_closed_cb, uc);
	pool->open++;
	pool->created++;
	return uc;
}

int
upstream_make_request(struct upstream_conn *uc, struct evhttp_request *req,
    enum evhttp_cmd_type cmd, const char *target)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(uc->evcon);
	int rc = evhttp_make_request(uc->evcon, req, cmd, target);

	if (uc->tls)
		tls_client_reconnected(bufferevent_openssl_get_ssl(bev));
	return rc;
}

void
upstream_expect_response(struct upstream_conn *uc, uint64_t max_head,
    void (*refused_cb)(const struct reqscan *, void *), void *arg)
{
	resphold_expect(&uc->hold, max_head, refused_cb, arg);
}

/* ---- reading a response body ourselves ------------------------------ */

static struct bufferevent *
conn_bev(struct upstream_conn *uc)
{
	return evhttp_connection_get_bufferevent(uc->evcon);
}

void
upstream_response_owner(struct upstream_conn *uc,
    void (*refused_cb)(const struct reqscan *, void *), void *arg)
{
	resphold_owner(&uc->hold, refused_cb, arg);
}

void
upstream_set_timeout(struct upstream_conn *uc, const struct timeval *tv)
{
	uc->timeout = *tv;
	evhttp_connection_set_timeout_tv(uc->evcon, tv);
}

void
upstream_read_body(struct upstream_conn *uc)
{
	if (uc->tls || uc->body.on)
		return;
	bodyread_start(&uc->body, conn_bev(uc), &uc->timeout, NULL, NULL);
	if (uc->paused)
		bodyread_pause(&uc->body);
}

void
upstream_pause(struct upstream_conn *uc)
{
	if (uc->paused)
		return;
	uc->paused = true;
	if (uc->body.on)
		bodyread_pause(&uc->body);
	else
		bufferevent_disable(conn_bev(uc), EV_READ);
}

void
upstream_resume(struct upstream_conn *uc)
{
	if (!uc->paused)
		return;
	uc->paused = false;
	if (uc->body.on)
		bodyread_resume(&uc->body);
	else
		bufferevent_enable(conn_bev(uc), EV_READ);
}

static void
body_stop(struct upstream_conn *uc)
{
	bodyread_stop(&uc->body);
	uc->paused = false;
}

/* ---- the pool ------------------------------------------------------- */

void
upstream_release(struct upstream_conn *uc)
{
	struct upstream_pool *pool = uc->pool;

	body_stop(uc);
	resphold_cancel(&uc->hold);
	uc->requests++;
	if (!resphold_is_clean(&uc->hold)) {
		if (log_debug_enabled())
			log_debug("%s: bytes past the end of a response: "
				  "connection closed, not pooled",
			    uc->key + 3);
		conn_free_later(uc);
		return;
	}
	if (pool->nidle >= pool->max_idle) {
		conn_free_later(uc);
		return;
	}
	uc->idle_since_ms = util_now_ms();
	idle_push(uc);
}

void
upstream_discard(struct upstream_conn *uc)
{
	if (uc != NULL) {
		body_stop(uc);
		resphold_cancel(&uc->hold);
		conn_free_later(uc);
	}
}

unsigned
upstream_pool_count(const struct upstream_pool *pool)
{
	return pool->open;
}

uint64_t
upstream_pool_created(const struct upstream_pool *pool)
{
	return pool->created;
}

void
upstream_set_nodelay(struct upstream_conn *uc)
{
	if (uc->nodelay)
		return;
	uc->nodelay = true;
	(void)nodelay_set(bufferevent_getfd(conn_bev(uc)));
}
