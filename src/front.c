/*
 * front: what happens on a client connection before and around evhttp.
 * Every connection gets a struct client_conn that (1) runs reqscan over
 * the raw bytes as they arrive, before evhttp parses them, and answers a
 * refused request itself (400/431/501, then close); (2) limits the time a
 * request head may take (slow clients); (3) counts connections against
 * max_connections, pausing accept at the limit; (4) owns the connection's
 * one close callback and passes it on to the request using it.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "bodyread.h"
#include "eagerwrite.h"
#include "front.h"
#include "log.h"
#include "proxy.h"
#include "reqscan.h"
#include "scanbuf.h"
#include "util.h"
#include "worker.h"

#define NBUCKETS 1024

struct client_conn {
	struct worker *w;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* once attached */
	struct evbuffer_cb_entry *cbe;
	struct reqscan scan;
	struct bodyread body; /* a request body, read in large pieces */
	struct eagerwrite ew; /* replies written without waiting */
	struct event attach_ev, reject_ev, head_timer, body_ev;
	void (*req_cb)(struct evhttp_connection *, void *);
	void *req_arg;
	bool attached, rejecting;
	int status;
	const char *why;
	struct client_conn *hnext;
};

struct front {
	struct client_conn *bucket[NBUCKETS];
	_Atomic unsigned nconns; /* (read by the admin thread) */
	unsigned max_conns;
	bool paused;
	bool starved; /* accept() failed (EMFILE...): resting */
	struct event retry_accept;
	uint64_t warned_ms; /* the last warning about it */
};

/* The worker whose thread this is (listener callbacks carry evhttp's arg). */
static _Thread_local struct worker *this_worker;

static unsigned
bucket_of(const struct bufferevent *bev)
{
	uintptr_t v = (uintptr_t)bev;

	return (unsigned)((v >> 4) ^ (v >> 14)) % NBUCKETS;
}

static struct client_conn *
lookup(struct worker *w, const struct bufferevent *bev)
{
	struct client_conn *cc;

	for (cc = w->front->bucket[bucket_of(bev)]; cc != NULL; cc = cc->hnext)
		if (cc->bev == bev)
			return cc;
	return NULL;
}

static void
set_accepting(struct worker *w, bool on)
{
	for (size_t i = 0; i < w->nbound; i++) {
		struct evconnlistener *l =
		    evhttp_bound_socket_get_listener(w->bound[i]);
		if (on)
			evconnlistener_enable(l);
		else
			evconnlistener_disable(l);
	}
	w->front->paused = !on;
}

static void
conn_free(struct client_conn *cc)
{
	struct front *f = cc->w->front;
	struct client_conn **pp = &f->bucket[bucket_of(cc->bev)];

	while (*pp != cc)
		pp = &(*pp)->hnext;
	*pp = cc->hnext;
	bodyread_stop(&cc->body);
	eagerwrite_detach(&cc->ew);
	event_del(&cc->body_ev);
	event_del(&cc->attach_ev);
	event_del(&cc->reject_ev);
	event_del(&cc->head_timer);
	if (cc->cbe != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_input(cc->bev), cc->cbe);
	f->nconns--;
	if (f->paused && !f->starved && f->nconns < f->max_conns &&
	    !cc->w->stopping)
		set_accepting(cc->w, true);
	free(cc);
}

/* evhttp frees the connection: tell the request on it, then forget it. */
static void
conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct client_conn *cc = arg;

	if (cc->req_cb != NULL)
		cc->req_cb(evcon, cc->req_arg);
	conn_free(cc);
}

/* Learn the evhttp_connection evhttp made for our bufferevent. */
static bool
attach(struct client_conn *cc)
{
	void *arg = NULL;

	if (cc->attached)
		return true;
	bufferevent_getcb(cc->bev, NULL, NULL, NULL, &arg);
	if (arg == NULL)
		return false;
	cc->evcon = arg;
	cc->attached = true;
	{
		/* replies go out whole: never wait for an ACK (Nagle) */
		int one = 1;
		setsockopt(bufferevent_getfd(cc->bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof one);
	}
	evhttp_connection_set_closecb(cc->evcon, conn_closed_cb, cc);
	return true;
}

static void
attach_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;
	struct bufferevent *bev = cc->bev;

	if (!attach(cc))
		conn_free(cc); /* the connection died before we looked */
	bufferevent_decref(bev);
}

static void
reject_written_cb(struct bufferevent *bev, void *arg)
{
	struct client_conn *cc = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		evhttp_connection_free(cc->evcon); /* -> conn_closed_cb */
}

static void
reject_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client_conn *cc = arg;

	evhttp_connection_free(cc->evcon);
}

static void
log_reject(struct client_conn *cc)
{
	struct access_entry e;
	char client[64];

	if (!log_access_enabled())
		return;
	proxy_client_name(cc->evcon, client, sizeof client);
	memset(&e, 0, sizeof e);
	e.wall_ms = util_wall_ms();
	e.client = client;
	e.method = "-";
	e.url = "-";
	e.status = cc->status;
	e.route = "-";
	e.error =
	    cc->status == 408 ? "http_request_timeout" : "http_request_error";
	cc->w->line.len = 0;
	accesslog_format(&e, log_access_json(), &cc->w->line);
	log_access(cc->w->line.s, cc->w->line.len);
}

/*
 * Answer a refused request ourselves and close: evhttp must never parse
 * it.  A request already in flight on the connection is cut instead.
 */
static void
reject_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;
	const char *reason;
	char resp[512];
	int n;

	if (!attach(cc))
		return; /* attach_cb will free it */
	if (cc->req_cb != NULL) {
		evhttp_connection_free(cc->evcon);
		return;
	}
	switch (cc->status) {
	case 408:
		reason = "Request Timeout";
		break;
	case 413:
		reason = "Content Too Large";
		break;
	case 431:
		reason = "Request Header Fields Too Large";
		break;
	case 501:
		reason = "Not Implemented";
		break;
	default:
		reason = "Bad Request";
		break;
	}
	log_reject(cc);
	n = snprintf(resp, sizeof resp,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Proxy-Status: retryproxy; error=%s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\nretryproxy: %s\n",
	    cc->status, reason,
	    cc->status == 408 ? "http_request_timeout" : "http_request_error",
	    strlen(cc->why) + 13, cc->why);
	event_del(&cc->head_timer);
	bufferevent_setcb(
	    cc->bev, NULL, reject_written_cb, reject_event_cb, cc);
	bufferevent_disable(cc->bev, EV_READ);
	bufferevent_set_timeouts(cc->bev, NULL, NULL);
	bufferevent_write(cc->bev, resp, (size_t)n);
	bufferevent_enable(cc->bev, EV_WRITE);
}

static void
reject(struct client_conn *cc, int status, const char *why)
{
	static const struct timeval zero = {0, 0};

	if (cc->rejecting)
		return;
	cc->rejecting = true;
	cc->status = status;
	cc->why = why;
	if (log_debug_enabled())
		log_debug("refusing a request: %d %s", status, why);
	bodyread_stop(&cc->body);
	bufferevent_disable(cc->bev, EV_READ);
	evtimer_add(&cc->reject_ev, &zero);
}

static void
head_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;

	reject(cc, 408, "the request head took longer than client_timeout");
	/* stop reading: evhttp must not see the rest */
	evbuffer_drain(bufferevent_get_input(cc->bev),
	    evbuffer_get_length(bufferevent_get_input(cc->bev)));
}

static uint64_t
body_left(void *arg)
{
	struct client_conn *cc = arg;

	return reqscan_body_left(&cc->scan);
}

/* New bytes from the client: scan them before evhttp does. */
static void
input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct client_conn *cc = arg;
	bool was_in_head;

	if (info->n_added == 0)
		return;
	if (cc->rejecting) {
		/* refused: evhttp must never parse anything after it */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	was_in_head = reqscan_in_head(&cc->scan);
	if (scanbuf_feed_strip(&cc->scan, buf, cc->cbe, info->n_added) != 0) {
		reject(cc, cc->scan.status, cc->scan.why);
		/* evhttp must never parse what follows */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (reqscan_is_tunnel(&cc->scan)) {
		/* a CONNECT: the rest is tunnel data, not ours to scan */
		evbuffer_remove_cb_entry(buf, cc->cbe);
		cc->cbe = NULL;
	}
	if (reqscan_in_head(&cc->scan) && !was_in_head) {
		struct timeval tv =
		    rp_tv(worker_config(cc->w)->proxy.client_timeout_ms);
		evtimer_add(&cc->head_timer, &tv);
	} else if (!reqscan_in_head(&cc->scan) && was_in_head)
		event_del(&cc->head_timer);
	if (!cc->body.on && reqscan_body_left(&cc->scan) > BODYREAD_WORTH &&
	    !evtimer_pending(&cc->body_ev, NULL)) {
		static const struct timeval zero = {0, 0};
		evtimer_add(&cc->body_ev, &zero);
	}
}

/*
 * A long request body is coming: read it, up to its last byte, in large
 * pieces.  Only once evhttp reads this request: the scan may run ahead
 * into a pipelined request while evhttp still answers the one before
 * (its reading off, or on only for the abort watch while a request is in
 * flight: req_cb set), and it must never be handed bytes then.  Nor when
 * evhttp will refuse the body for its size.
 */
static void
body_start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;
	const struct config *c = worker_config(cc->w);
	uint64_t left = reqscan_body_left(&cc->scan);
	struct timeval tv;

	if (cc->body.on || cc->rejecting || left <= BODYREAD_WORTH ||
	    left > c->proxy.max_request_body || cc->req_cb != NULL ||
	    !(bufferevent_get_enabled(cc->bev) & EV_READ))
		return;
	tv = rp_tv(c->proxy.client_timeout_ms);
	bodyread_start(&cc->body, cc->bev, &tv, body_left, cc);
}

/* evhttp's bevcb: a new client connection. */
static struct bufferevent *
new_conn_cb(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	struct front *f = w->front;
	struct client_conn *cc = xcalloc(1, sizeof *cc);
	unsigned b;

	cc->w = w;
	cc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (cc->bev == NULL) {
		free(cc);
		return NULL;
	}
	reqscan_init(&cc->scan, worker_config(w)->proxy.max_header_size);
	/* (answered at once, before evhttp reads a body it would refuse) */
	reqscan_set_max_body(
	    &cc->scan, worker_config(w)->proxy.max_request_body);
	/* big bodies: write more than libevent's 16 KiB a callback */
	bufferevent_set_max_single_write(cc->bev, 128 * 1024);
	cc->cbe = evbuffer_add_cb(bufferevent_get_input(cc->bev), input_cb, cc);
	eagerwrite_attach(&cc->ew, cc->bev);
	evtimer_assign(&cc->attach_ev, base, attach_cb, cc);
	evtimer_assign(&cc->reject_ev, base, reject_cb, cc);
	evtimer_assign(&cc->head_timer, base, head_timer_cb, cc);
	evtimer_assign(&cc->body_ev, base, body_start_cb, cc);
	b = bucket_of(cc->bev);
	cc->hnext = f->bucket[b];
	f->bucket[b] = cc;
	/* evhttp makes its connection right after this returns */
	bufferevent_incref(cc->bev);
	event_active(&cc->attach_ev, EV_TIMEOUT, 1);
	if (++f->nconns >= f->max_conns && !f->paused)
		set_accepting(w, false);
	return cc->bev;
}

static void
retry_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct front *f = w->front;

	f->starved = false;
	if (f->paused && f->nconns < f->max_conns && !w->stopping)
		set_accepting(w, true);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	static const struct timeval rest = {0, 100000};
	struct worker *w = this_worker;
	int err = EVUTIL_SOCKET_ERROR();

	if (w == NULL)
		return;
	if (util_now_ms() - w->front->warned_ms >= 10000) {
		/* (at most one a 10 s: it may last) */
		w->front->warned_ms = util_now_ms();
		log_warnx("cannot accept a connection (%s, %u open on this "
			  "worker): not accepting for 100 ms at a time",
		    evutil_socket_error_to_string(err), w->front->nconns);
	}
	w->front->starved = true;
	set_accepting(w, false);
	evtimer_add(&w->front->retry_accept, &rest);
}

void
front_thread_init(struct worker *w)
{
	this_worker = w;
}

void
front_watch_listener(struct worker *w, struct evconnlistener *l)
{
	if (l != NULL)
		evconnlistener_set_error_cb(l, accept_error_cb);
}

void
front_init(struct worker *w, unsigned max_conns)
{
	w->front = xcalloc(1, sizeof *w->front);
	w->front->max_conns = max_conns > 0 ? max_conns : 1;
	evtimer_assign(&w->front->retry_accept, w->base, retry_accept_cb, w);
	evhttp_set_bevcb(w->http, new_conn_cb, w);
}

void
front_free(struct worker *w)
{
	/* connections evhttp never told us about (they died unattached) */
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct client_conn *cc, *next;
		for (cc = w->front->bucket[b]; cc != NULL; cc = next) {
			next = cc->hnext;
			bodyread_stop(&cc->body);
			eagerwrite_detach(&cc->ew);
			event_del(&cc->body_ev);
			event_del(&cc->attach_ev);
			event_del(&cc->reject_ev);
			event_del(&cc->head_timer);
			free(cc);
		}
	}
	event_del(&w->front->retry_accept);
	free(w->front);
	w->front = NULL;
}

void
front_set_closecb(struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg, struct worker *w)
{
	struct client_conn *cc =
	    lookup(w, evhttp_connection_get_bufferevent(evcon));

	if (cc == NULL) {
		/* not a front connection (an intercepted tunnel's inside) */
		evhttp_connection_set_closecb(evcon, cb, arg);
		return;
	}
	if (!cc->attached) {
		cc->evcon = evcon;
		cc->attached = true;
		evhttp_connection_set_closecb(evcon, conn_closed_cb, cc);
	}
	cc->req_cb = cb;
	cc->req_arg = arg;
}

unsigned
front_connections(const struct worker *w)
{
	return w->front->nconns;
}

bool
front_output_pending(struct worker *w)
{
	for (unsigned b = 0; b < NBUCKETS; b++)
		for (struct client_conn *cc = w->front->bucket[b]; cc != NULL;
		     cc = cc->hnext)
			if (evbuffer_get_length(
				bufferevent_get_output(cc->bev)) > 0)
				return true;
	return false;
}
