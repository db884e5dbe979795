/*
 * front: what happens on a client connection before and around evhttp.
 * Every connection gets a struct client_conn that (1) runs reqscan over
 * the raw bytes as they arrive, before evhttp parses them, and answers a
 * refused request itself (400/431/501, then close); (2) limits the time a
 * request head may take (slow clients); (3) counts connections against
 * max_connections, pausing accept at the limit; (4) owns the connection's
 * one close callback and passes it on to the request using it; (5) keeps
 * a connection whose requests take the raw lane on it between them
 * (sticky: evhttp idle), handing it to evhttp for a head of evhttp's lane.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "bevset.h"
#include "bodyread.h"
#include "canned.h"
#include "eagerwrite.h"
#include "front.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "client.h"
#include "nodelay.h"
#include "relay.h"
#include "replaymem.h"
#include "reqscan.h"
#include "scanbuf.h"
#include "util.h"
#include "worker.h"

#define NBUCKETS 1024

/*
 * A request head taken for the raw lane, waiting until evhttp has
 * answered what came before it.  Made only then: most connections never
 * have one, and an idle connection should cost little (README
 * "Performance": 10,000 idle clients).
 */
struct relay_wait {
	struct evbuffer *head; /* the raw lane's request head */
	struct reqscan scan; /* the scan just after that head */
	struct event ev; /* start the raw lane once evhttp is idle */
	struct relay_wait *next; /* (while spare) */
};

/*
 * Spare relay_waits a worker keeps (with their head buffers): one is
 * needed for every raw-lane request, a moment each, and its calloc, its
 * evbuffer and their frees were a visible part of one (callgrind).  Not
 * in struct client_conn: 10,000 idle connections would carry them.
 */
#define SPARE_WAITS 16

/* What soon_cb does (client_conn.soon_what): one event for all three. */
enum {
	SOON_ATTACH = 1, /* learn the evhttp_connection evhttp just made */
	SOON_REJECT = 2, /* answer a refused request, then close */
	SOON_BODY = 4, /* read a long request body in large pieces */
};

struct client_conn {
	struct worker *w;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* once attached */
	/* (cbe: input_cb, on only while evhttp may read: watch_input) */
	struct evbuffer_cb_entry *cbe, *out_cbe;
	struct reqscan scan;
	/*
	 * Request-head bytes evhttp must not see yet: the start of a head
	 * (until the lane is known), or a head for the raw lane and what
	 * followed it (until evhttp is idle).  Made on first use (held()).
	 */
	struct evbuffer *held;
	struct relay_wait *rw; /* a head waits for the raw lane */
	struct relay *relay; /* the raw lane has the connection */
	uint64_t reserved; /* replaymem taken for evhttp's bodies */
	bool relaying;
	/*
	 * The raw lane keeps the connection between its requests: our
	 * callbacks (sticky_*), not evhttp's, are on bev while evhttp waits
	 * idle for a request line, and a head for the raw lane starts its
	 * relay from sticky_read_cb.  A head for evhttp's lane gives the
	 * connection back (unstick).
	 */
	bool sticky;
	bool scan_over; /* a tunnel has the connection: nothing to scan */
	/* evhttp's callbacks on bev, restored after the raw lane */
	bufferevent_data_cb ev_readcb, ev_writecb;
	bufferevent_event_cb ev_eventcb;
	void *ev_arg;
	struct bodyread body; /* a request body, read in large pieces */
	struct eagerwrite ew; /* replies written without waiting */
	struct event soon, head_timer;
	unsigned soon_what; /* SOON_* */
	void (*req_cb)(struct evhttp_connection *, void *);
	void *req_arg;
	bool attached, rejecting, moving;
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
	struct relay_wait *spare_waits;
	unsigned nspare_waits;
	struct evbuffer *head; /* a sticky connection's head, for relay_start */
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

static struct relay_wait *
relay_wait_new(struct front *f)
{
	struct relay_wait *rw = f->spare_waits;

	if (rw == NULL) {
		rw = xcalloc(1, sizeof *rw);
		rw->head = evbuffer_new();
		return rw;
	}
	f->spare_waits = rw->next;
	f->nspare_waits--;
	return rw;
}

static void
relay_wait_free(struct front *f, struct relay_wait *rw)
{
	if (rw == NULL)
		return;
	event_del(&rw->ev);
	if (f == NULL || f->nspare_waits >= SPARE_WAITS) {
		evbuffer_free(rw->head);
		free(rw);
		return;
	}
	evbuffer_drain(rw->head, evbuffer_get_length(rw->head));
	rw->next = f->spare_waits;
	f->spare_waits = rw;
	f->nspare_waits++;
}

/* The connection's held bytes (made now if it had none). */
static struct evbuffer *
held(struct client_conn *cc)
{
	if (cc->held == NULL)
		cc->held = evbuffer_new();
	return cc->held;
}

static size_t
held_len(const struct client_conn *cc)
{
	return cc->held != NULL ? evbuffer_get_length(cc->held) : 0;
}

/*
 * Have soon_cb do what: SOON_ATTACH in this turn of the event loop (evhttp
 * makes its connection just after new_conn_cb), the others at the next
 * (a zero timeout, as when each had an event of its own: after evhttp has
 * read what came with them).  An attach not yet done then goes with them.
 */
static void
soon(struct client_conn *cc, unsigned what)
{
	static const struct timeval zero = {0, 0};

	cc->soon_what |= what;
	if (what == SOON_ATTACH)
		event_active(&cc->soon, EV_TIMEOUT, 1);
	else
		evtimer_add(&cc->soon, &zero);
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
	event_del(&cc->soon);
	event_del(&cc->head_timer);
	relay_wait_free(cc->w->front, cc->rw);
	if (cc->cbe != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_input(cc->bev), cc->cbe);
	if (cc->out_cbe != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(cc->bev), cc->out_cbe);
	if (cc->held != NULL)
		evbuffer_free(cc->held);
	replaymem_release(cc->reserved);
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

	if (cc->relay != NULL) {
		struct relay *r = cc->relay;
		cc->relay = NULL;
		relay_client_gone(r);
	}
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
	/* evhttp's own, waiting for a request line: restored after a relay */
	bufferevent_getcb(cc->bev, &cc->ev_readcb, &cc->ev_writecb,
	    &cc->ev_eventcb, &cc->ev_arg);
	/* (TCP_NODELAY came from the listener: front_watch_listener) */
	evhttp_connection_set_closecb(cc->evcon, conn_closed_cb, cc);
	return true;
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
	const struct gateway *gw;
	char client[64];

	if (!log_access_enabled())
		return;
	client_name(cc->evcon, client, sizeof client);
	memset(&e, 0, sizeof e);
	e.wall_ms = util_wall_ms();
	e.client = client;
	e.method = cc->scan.method[0] != '\0' ? cc->scan.method : "-";
	e.url = "-";
	e.status = cc->status;
	e.route = "-";
	e.error =
	    cc->status == 408 ? "http_request_timeout" : "http_request_error";
	gw = client_gateway(worker_config(cc->w), cc->evcon);
	e.gateway = gw != NULL ? gw->addr.text : NULL;
	log_access_entry(&cc->w->line, &e);
}

/*
 * Answer a refused request ourselves and close: evhttp must never parse
 * it.  A request already in flight on the connection is cut instead.
 */
static void
reject_now(struct client_conn *cc)
{
	struct sbuf out = {0};
	char *body;

	if (cc->req_cb != NULL) {
		evhttp_connection_free(cc->evcon);
		return;
	}
	log_reject(cc);
	body = xasprintf("retryproxy: %s\n", cc->why);
	canned_format(&out, cc->status,
	    cc->status == 408 ? "http_request_timeout" : "http_request_error",
	    0, CANNED_CLOSE, body);
	free(body);
	event_del(&cc->head_timer);
	bufferevent_setcb(
	    cc->bev, NULL, reject_written_cb, reject_event_cb, cc);
	bufferevent_disable(cc->bev, EV_READ);
	bufferevent_set_timeouts(cc->bev, NULL, NULL);
	bufferevent_write(cc->bev, out.s, out.len);
	sbuf_free(&out);
	bufferevent_enable(cc->bev, EV_WRITE);
}

static void
reject(struct client_conn *cc, int status, const char *why)
{
	if (cc->rejecting)
		return;
	cc->rejecting = true;
	cc->status = status;
	cc->why = why;
	if (log_debug_enabled())
		log_debug("refusing a request: %d %s", status, why);
	bodyread_stop(&cc->body);
	bufferevent_disable(cc->bev, EV_READ);
	soon(cc, SOON_REJECT);
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

#define HEAD_LINE 2048
static const struct route *head_route(struct client_conn *, struct evbuffer *,
    size_t, char *line, struct http_url *);

/*
 * Does the request whose head ends at `at` in buf take the raw lane
 * (relay.c)?  With lane = raw every one but CONNECT does: it parses and
 * writes heads for half of evhttp's instructions (README, "Performance"),
 * unless its route needs what only evhttp's lane does (hedging,
 * retry_if_body, parents: looked up only when a route does).  Else those
 * evhttp would mangle or refuse: libevent 2.1.12 knows nine methods
 * (exactly these spellings), reads a whole body before its callback
 * runs, refuses one over its size limit, and drops Upgrade.
 */
static bool
wants_raw_lane(struct client_conn *cc, struct evbuffer *buf, size_t at)
{
	const struct reqscan *s = &cc->scan;
	const struct config *c = worker_config(cc->w);

	if (c->proxy.lane == LANE_RAW && !s->connect) {
		const struct route *r;
		struct http_url u;
		char line[HEAD_LINE];

		if (!c->needs_evhttp_lane)
			return true;
		/* (an origin-form target, a gateway's: as lane = evhttp) */
		r = head_route(cc, buf, at, line, &u);
		if (r != NULL && !policy_needs_evhttp_lane(&r->policy))
			return true;
	}
	if (!http_method_evhttp_knows(s->method))
		return true;
	if (s->connect)
		return false;
	return s->chunked ||
	    reqscan_body_left(s) >
	    worker_config(cc->w)->proxy.max_request_body ||
	    (s->upgrade && s->conn_upgrade);
}

/*
 * The route of the request whose head ends at `at` in buf, from its
 * absolute-form target (u: the target parsed, pointing into line, of
 * HEAD_LINE bytes); NULL when the target is not one (origin-form on a
 * gateway, or too long to tell here).
 */
static const struct route *
head_route(struct client_conn *cc, struct evbuffer *buf, size_t at, char *line,
    struct http_url *u)
{
	const struct config *c = worker_config(cc->w);
	size_t unheld = (size_t)cc->scan.head_bytes - held_len(cc);
	size_t n = held_len(cc), k;
	struct evbuffer_ptr ptr;
	char *sp, *end, path[1024];
	const char *why;

	k = n > 0 ? (size_t)evbuffer_copyout(cc->held, line, HEAD_LINE - 1) : 0;
	if (k < HEAD_LINE - 1 && n == k &&
	    evbuffer_ptr_set(buf, &ptr, at - unheld, EVBUFFER_PTR_SET) == 0)
		k += (size_t)evbuffer_copyout_from(
		    buf, &ptr, line + k, HEAD_LINE - 1 - k);
	line[k] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if ((sp = strchr(line, ' ')) == NULL ||
	    (end = strchr(sp + 1, ' ')) == NULL)
		return NULL;
	*end = '\0';
	if (http_url_parse(sp + 1, u, &why) != 0)
		return NULL;
	snprintf(path, sizeof path, "%s%.*s", u->path_add_slash ? "/" : "",
	    (int)u->path_len, u->path);
	return config_match(c, u->host, u->port, path);
}

/*
 * Does the request whose head ends at `at` in buf go over TLS through a
 * parent proxy (an https:// target, or a tls = yes route with a parent)?
 * evhttp's upstream connections cannot ride a CONNECT tunnel through the
 * parent (libevent 2.1 connects them itself), so such a request takes
 * the raw lane, which dials through the parent (dial.c).
 */
static bool
wants_parent_tunnel(struct client_conn *cc, struct evbuffer *buf, size_t at)
{
	const struct config *c = worker_config(cc->w);
	struct policy_target t;
	struct http_url u;
	const struct route *r;
	char line[HEAD_LINE];

	if (!c->any_parent || cc->scan.connect)
		return false;
	if ((r = head_route(cc, buf, at, line, &u)) == NULL ||
	    r->policy.nparents == 0)
		return false;
	policy_target(&r->policy, u.host, u.port, u.port_given,
	    u.scheme == HTTP_SCHEME_HTTPS, 1, &t);
	return t.tls;
}

/* Move bytes [from, from + n) of buf to the end of dst (quietly). */
static void
move_range(struct client_conn *cc, struct evbuffer *buf, size_t from, size_t n,
    struct evbuffer *dst)
{
	struct evbuffer *before;

	if (from == 0) {
		/* (most often: the head is all the buffer holds) */
		cc->moving = true;
		evbuffer_remove_buffer(buf, dst, n);
		cc->moving = false;
		return;
	}
	before = evbuffer_new();
	cc->moving = true;
	evbuffer_remove_buffer(buf, before, from);
	evbuffer_remove_buffer(buf, dst, n);
	evbuffer_prepend_buffer(buf, before);
	cc->moving = false;
	evbuffer_free(before);
}

/* Put the held start of a head back where it was taken from (at). */
static void
put_back(struct client_conn *cc, struct evbuffer *buf, size_t at)
{
	struct evbuffer *before;

	if (at == 0) {
		cc->moving = true;
		evbuffer_prepend_buffer(buf, held(cc));
		cc->moving = false;
		return;
	}
	before = evbuffer_new();
	cc->moving = true;
	evbuffer_remove_buffer(buf, before, at);
	evbuffer_prepend_buffer(buf, held(cc));
	evbuffer_prepend_buffer(buf, before);
	cc->moving = false;
	evbuffer_free(before);
}

/* Is evhttp waiting for a request line, with nothing of ours pending? */
static bool
evhttp_idle(struct client_conn *cc)
{
	bufferevent_data_cb rcb = NULL;

	bufferevent_getcb(cc->bev, &rcb, NULL, NULL, NULL);
	return cc->req_cb == NULL && rcb == cc->ev_readcb &&
	    evbuffer_get_length(bufferevent_get_input(cc->bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(cc->bev)) == 0;
}

static void relay_done(void *ctx, enum relay_end how);

/*
 * The output callback (out_cb) is on only while a head waits for the raw
 * lane; never into a tunnel (the tunnel owns the bufferevent and may free
 * it before the connection's own end).
 */
static void
out_cb_off(struct client_conn *cc)
{
	if (cc->out_cbe == NULL)
		return;
	evbuffer_remove_cb_entry(bufferevent_get_output(cc->bev), cc->out_cbe);
	cc->out_cbe = NULL;
}

/*
 * The raw lane takes the connection for the head in head (scan: just
 * after it); what follows the head is in the input already.
 */
static void
begin_relay(
    struct client_conn *cc, struct evbuffer *head, const struct reqscan *scan)
{
	/*
	 * (out_cb goes until the next head waits: kept on, its entry stayed
	 * with every idle connection, +0.5 MiB for bench's 10,000)
	 */
	out_cb_off(cc);
	cc->relaying = true;
	event_del(&cc->head_timer);
	bodyread_stop(&cc->body);
	/* (relay_start takes the head's bytes and a copy of the scan) */
	cc->relay = relay_start(
	    cc->w, cc->evcon, cc->bev, &cc->ew, head, scan, relay_done, cc);
	if (!cc->relaying)
		cc->relay = NULL; /* (it ended already) */
}

/* Start the raw lane once evhttp has finished what came before. */
static void
relay_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(cc->bev);
	struct relay_wait *rw = cc->rw;

	if (rw == NULL || cc->rejecting)
		return;
	if (!attach(cc) || !evhttp_idle(cc)) {
		/* (also woken when a reply is written or a request ends) */
		static const struct timeval later = {0, 50000};
		evtimer_add(&rw->ev, &later);
		return;
	}
	cc->rw = NULL;
	/* the body and whatever followed go back where the relay reads */
	cc->moving = true;
	evbuffer_prepend_buffer(in, held(cc));
	cc->moving = false;
	begin_relay(cc, rw->head, &rw->scan);
	relay_wait_free(cc->w->front, rw);
}

static void
out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct client_conn *cc = arg;

	if (info->n_deleted > 0 && evbuffer_get_length(buf) == 0 &&
	    cc->rw != NULL)
		event_active(&cc->rw->ev, EV_TIMEOUT, 1);
}

static void sticky_read_cb(struct bufferevent *bev, void *arg);
static void input_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/*
 * Scan what the client sends before evhttp reads it (input_cb): needed
 * once evhttp has the connection, not while it is sticky (sticky_read_cb
 * scans), so a connection of raw-lane requests never makes the entry.
 */
static void
watch_input(struct client_conn *cc)
{
	if (cc->cbe == NULL && !cc->scan_over)
		cc->cbe = evbuffer_add_cb(
		    bufferevent_get_input(cc->bev), input_cb, cc);
}

/* A sticky connection's EOF, error or client_timeout: closed, as evhttp's. */
static void
sticky_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client_conn *cc = arg;

	evhttp_connection_free(cc->evcon); /* -> conn_closed_cb */
}

/*
 * Keep the connection on the raw lane while evhttp waits idle for a
 * request line: the next head is scanned, and its relay started, from our
 * own read callback, without the hand-over to evhttp and the event that
 * waits for evhttp to be idle (relay_wait, relay_ev_cb): those were a
 * tenth of a small keep-alive request's instructions (callgrind).
 */
static void
stick(struct client_conn *cc)
{
	cc->sticky = true;
	bufferevent_setcb(cc->bev, sticky_read_cb, NULL, sticky_event_cb, cc);
}

/*
 * The head just scanned is evhttp's: give the connection back.  evhttp
 * reads the input at the next turn (deferred: this runs inside a read
 * callback of the same bufferevent, and evhttp may free it).
 */
static void
unstick(struct client_conn *cc)
{
	cc->sticky = false;
	bufferevent_setcb(
	    cc->bev, cc->ev_readcb, cc->ev_writecb, cc->ev_eventcb, cc->ev_arg);
	bevset_watermark(cc->bev, EV_READ, 0, 0);
	watch_input(cc);
	bufferevent_trigger(cc->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * A sticky connection's head, ending at `at` in buf, for the raw lane: its
 * relay starts now (evhttp is idle; sticky_read_cb is a safe place).
 */
static void
relay_now(struct client_conn *cc, struct evbuffer *buf, size_t at)
{
	struct front *f = cc->w->front;
	size_t unheld = (size_t)cc->scan.head_bytes - held_len(cc);

	if (f->head == NULL)
		f->head = evbuffer_new();
	if (held_len(cc) > 0)
		evbuffer_add_buffer(f->head, cc->held);
	move_range(cc, buf, at - unheld, unheld, f->head);
	begin_relay(cc, f->head, &cc->scan);
}

/*
 * The head that ends at `at` in buf takes the raw lane: evhttp must see
 * none of it, nor anything after it.  fresh: where this call's new bytes
 * begin (a held start of the head continues there).
 */
static void
take_for_relay(struct client_conn *cc, struct evbuffer *buf, size_t at)
{
	size_t unheld = (size_t)cc->scan.head_bytes - held_len(cc);
	size_t start = at - unheld;
	struct relay_wait *rw = relay_wait_new(cc->w->front);

	evtimer_assign(&rw->ev, bufferevent_get_base(cc->bev), relay_ev_cb, cc);
	evbuffer_add_buffer(rw->head, held(cc));
	move_range(cc, buf, start, unheld, rw->head);
	move_range(cc, buf, start, evbuffer_get_length(buf) - start, held(cc));
	rw->scan = cc->scan;
	cc->rw = rw;
	event_del(&cc->head_timer);
	bodyread_stop(&cc->body);
	/*
	 * (woken when evhttp's reply is out; not needed when evhttp is idle
	 * already, as between two raw-lane requests: the entry was a malloc
	 * and a free for each of those)
	 */
	if (cc->out_cbe == NULL && (!cc->attached || !evhttp_idle(cc)))
		cc->out_cbe = evbuffer_add_cb(
		    bufferevent_get_output(cc->bev), out_cb, cc);
	event_active(&rw->ev, EV_TIMEOUT, 1);
}

/*
 * Scan the last n bytes of buf, new from the client, deciding each
 * request's lane at the end of its head; the start of a head not yet
 * whole is held back (evhttp would start parsing it).
 */
static void
scan_new(struct client_conn *cc, struct evbuffer *buf, size_t n)
{
	size_t len = evbuffer_get_length(buf);
	size_t at = len - n, fresh = at;

	while (at < len) {
		struct evbuffer_ptr ptr;
		struct evbuffer_iovec v;
		ssize_t k;

		if (evbuffer_ptr_set(buf, &ptr, at, EVBUFFER_PTR_SET) != 0 ||
		    evbuffer_peek(buf, (ev_ssize_t)(len - at), &ptr, &v, 1) < 1)
			break;
		if (v.iov_len > len - at)
			v.iov_len = len - at;
		k = reqscan_feed_step(&cc->scan, v.iov_base, v.iov_len);
		if (k < 0) {
			reject(cc, cc->scan.status, cc->scan.why);
			/* evhttp must never parse what follows */
			evbuffer_drain(buf, evbuffer_get_length(buf));
			return;
		}
		at += (size_t)k;
		if (cc->scan.head_done) {
			uint64_t body = reqscan_body_left(&cc->scan);
			const struct config *c = worker_config(cc->w);
			/* evhttp holds a body whole: only within max_buffered */
			if (wants_raw_lane(cc, buf, at) ||
			    wants_parent_tunnel(cc, buf, at) ||
			    (body > 0 &&
				!replaymem_reserve(
				    body, c->proxy.max_buffered))) {
				if (cc->sticky)
					relay_now(cc, buf, at);
				else
					take_for_relay(cc, buf, at);
				return;
			}
			if (cc->sticky)
				unstick(cc);
			cc->reserved += body;
			if (held_len(cc) > 0) {
				size_t h = held_len(cc);
				put_back(cc, buf, fresh);
				at += h;
				len += h;
			}
		}
		if (reqscan_is_tunnel(&cc->scan)) {
			/* a CONNECT: the rest is tunnel data, not ours to scan */
			if (cc->cbe != NULL)
				evbuffer_remove_cb_entry(buf, cc->cbe);
			cc->cbe = NULL;
			cc->scan_over = true;
			out_cb_off(cc);
			return;
		}
	}
	if (reqscan_in_head(&cc->scan)) {
		size_t unheld = (size_t)cc->scan.head_bytes - held_len(cc);
		move_range(cc, buf, len - unheld, unheld, held(cc));
	}
}

/*
 * Scan the last n bytes of buf, new from the client; time a head (slow
 * clients), read a long body for evhttp in large pieces.
 */
static void
scan_input(struct client_conn *cc, struct evbuffer *buf, size_t n)
{
	bool was_in_head = reqscan_in_head(&cc->scan);

	scan_new(cc, buf, n);
	if (cc->rejecting || cc->rw != NULL || cc->scan_over || cc->relaying)
		return;
	if (reqscan_in_head(&cc->scan) && !was_in_head) {
		struct timeval tv =
		    rp_tv(worker_config(cc->w)->proxy.client_timeout_ms);
		evtimer_add(&cc->head_timer, &tv);
	} else if (!reqscan_in_head(&cc->scan) && was_in_head)
		event_del(&cc->head_timer);
	if (!cc->body.on && reqscan_body_left(&cc->scan) > BODYREAD_WORTH &&
	    !(cc->soon_what & SOON_BODY))
		soon(cc, SOON_BODY);
}

/* New bytes from the client: scan them before evhttp does. */
static void
input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct client_conn *cc = arg;

	if (info->n_added == 0 || cc->moving || cc->relaying)
		return; /* (the raw lane reads its own input) */
	if (cc->rejecting) {
		/* refused: evhttp must never parse anything after it */
		evbuffer_drain(buf, evbuffer_get_length(buf));
		return;
	}
	if (cc->sticky)
		return; /* (sticky_read_cb scans it) */
	if (cc->rw != NULL) {
		/* the raw lane's, once it starts */
		size_t len = evbuffer_get_length(buf);
		move_range(
		    cc, buf, len - info->n_added, info->n_added, held(cc));
		return;
	}
	scan_input(cc, buf, info->n_added);
}

/*
 * New bytes on a sticky connection: all of the input (a start of a head
 * not yet whole was held, and a relay ended with the input scanned).
 */
static void
sticky_read_cb(struct bufferevent *bev, void *arg)
{
	struct client_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (!cc->rejecting && evbuffer_get_length(in) > 0)
		scan_input(cc, in, evbuffer_get_length(in));
}

/*
 * The raw lane's request is over: the connection stays sticky for the
 * next request (scanned by sticky_read_cb; evhttp idle), or closes.
 */
static void
relay_done(void *ctx, enum relay_end how)
{
	struct client_conn *cc = ctx;
	struct evbuffer *in = bufferevent_get_input(cc->bev);
	const struct config *c = worker_config(cc->w);

	cc->relay = NULL;
	cc->relaying = false;
	eagerwrite_release(&cc->ew); /* (the relay's response_head held it) */
	switch (how) {
	case RELAY_GONE:
		return;
	case RELAY_TUNNEL:
		/* spliced from here on: nothing more to scan */
		out_cb_off(cc);
		if (cc->cbe != NULL) {
			evbuffer_remove_cb_entry(in, cc->cbe);
			cc->cbe = NULL;
		}
		cc->scan_over = true;
		return;
	case RELAY_CLOSE:
		evhttp_connection_free(cc->evcon); /* -> conn_closed_cb */
		return;
	case RELAY_KEEP:
		break;
	}
	stick(cc);
	bevset_watermark(cc->bev, EV_READ, 0, 0);
	bevset_watermark(cc->bev, EV_WRITE, 0, 0);
	/*
	 * (its timeouts are client_timeout both ways still: the raw lane
	 * never changes them, rawbody_complete)
	 */
	bevset_events(cc->bev, EV_WRITE, false);
	bevset_events(cc->bev, EV_READ, true);
	reqscan_init(&cc->scan, c->proxy.max_header_size);
	if (c->proxy.max_upload > 0)
		reqscan_set_max_body(&cc->scan, c->proxy.max_upload);
	/*
	 * What the client sent after the request is the next one's: scanned
	 * at the next turn (here we may be deep in the relay's callbacks,
	 * and a pipeline of replies of our own must not recurse)
	 */
	if (evbuffer_get_length(in) > 0)
		bufferevent_trigger(cc->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
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
body_start(struct client_conn *cc)
{
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

static void
soon_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_conn *cc = arg;
	struct bufferevent *bev = cc->bev;
	unsigned todo = cc->soon_what;

	cc->soon_what = 0;
	if (todo & SOON_ATTACH) {
		bool ok = attach(cc);
		if (!ok)
			conn_free(
			    cc); /* the connection died before we looked */
		bufferevent_decref(bev); /* (new_conn_cb's) */
		if (!ok)
			return;
		/*
		 * With lane = raw most first requests are the raw lane's:
		 * sticky from the start (nothing was read yet)
		 */
		if (worker_config(cc->w)->proxy.lane == LANE_RAW &&
		    !cc->rejecting && cc->rw == NULL && !cc->relaying &&
		    !reqscan_in_head(&cc->scan) &&
		    evbuffer_get_length(bufferevent_get_input(bev)) == 0)
			stick(cc);
		else
			watch_input(cc);
	}
	if (!attach(cc))
		return; /* (its SOON_ATTACH is still to come, and frees it) */
	if (todo & SOON_REJECT)
		reject_now(cc); /* (may free cc: nothing after it) */
	else if (todo & SOON_BODY)
		body_start(cc);
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
	/* (answered at once, before anything reads a body it would refuse) */
	if (worker_config(w)->proxy.max_upload > 0)
		reqscan_set_max_body(
		    &cc->scan, worker_config(w)->proxy.max_upload);
	/* big bodies: write more than libevent's 16 KiB a callback */
	bufferevent_set_max_single_write(cc->bev, 128 * 1024);
	eagerwrite_attach(&cc->ew, cc->bev);
	evtimer_assign(&cc->soon, base, soon_cb, cc);
	evtimer_assign(&cc->head_timer, base, head_timer_cb, cc);
	b = bucket_of(cc->bev);
	cc->hnext = f->bucket[b];
	f->bucket[b] = cc;
	/* evhttp makes its connection right after this returns */
	bufferevent_incref(cc->bev);
	soon(cc, SOON_ATTACH);
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
	if (l == NULL)
		return;
	evconnlistener_set_error_cb(l, accept_error_cb);
	/*
	 * Replies go out whole: never wait for an ACK (nodelay.h).  Set on
	 * the listener, it is each accepted socket's from its accept (Linux
	 * copies it; check_nodelay holds the kernel to it): one setsockopt
	 * less for every connection.  (A Unix socket has none: refused.)
	 */
	(void)nodelay_set(evconnlistener_get_fd(l));
}

/* (worker->set_closecb: client_set_closecb comes here) */
static void
set_closecb(struct evhttp_connection *evcon,
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
	if (cb == NULL && cc->reserved > 0) {
		/* the request that held its body ended */
		replaymem_release(cc->reserved);
		cc->reserved = 0;
	}
	if (cb == NULL && cc->rw != NULL)
		event_active(&cc->rw->ev, EV_TIMEOUT, 1);
}

void
front_init(struct worker *w, unsigned max_conns)
{
	w->front = xcalloc(1, sizeof *w->front);
	w->front->max_conns = max_conns > 0 ? max_conns : 1;
	evtimer_assign(&w->front->retry_accept, w->base, retry_accept_cb, w);
	w->set_closecb = set_closecb;
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
			event_del(&cc->soon);
			event_del(&cc->head_timer);
			relay_wait_free(NULL, cc->rw);
			if (cc->held != NULL)
				evbuffer_free(cc->held);
			free(cc);
		}
	}
	while (w->front->spare_waits != NULL) {
		struct relay_wait *rw = w->front->spare_waits;
		w->front->spare_waits = rw->next;
		relay_wait_free(NULL, rw);
	}
	if (w->front->head != NULL)
		evbuffer_free(w->front->head);
	event_del(&w->front->retry_accept);
	free(w->front);
	w->front = NULL;
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
