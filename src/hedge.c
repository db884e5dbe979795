/*
 * hedge: second copies of a slow attempt (see hedge.h).  The timer runs
 * while an attempt waits for its response head; when it fires, a hedge
 * goes out over a connection of its own, with callbacks of its own until
 * its head arrives: then attempt.c takes it over and the rest of the
 * exchange is the attempt's.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config.h"
#include "hedge.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "preq.h"
#include "tail.h"
#include "upreq.h"
#include "util.h"
#include "worker.h"

static void hedge_fail(struct hedge *, enum fail_kind);
static void hedge_timer_cb(evutil_socket_t, short, void *);

void
hedge_init(struct preq *p, hedge_won_fn won)
{
	p->hedge_won_cb = won;
	evtimer_assign(&p->hedge_timer, p->w->base, hedge_timer_cb, p);
}

void
hedge_disarm(struct preq *p)
{
	/* (every request's attempts pass here: no event_del when unarmed) */
	if (p->hedge_armed) {
		evtimer_del(&p->hedge_timer);
		p->hedge_armed = false;
	}
}

/* Take h out of the request's list (it keeps its place otherwise). */
static void
unlink_hedge(struct hedge *h)
{
	struct preq *p = h->p;

	for (unsigned i = 0; i < HEDGE_MAX; i++)
		if (p->hedges[i] == h)
			p->hedges[i] = NULL;
}

/* Close a hedge's exchange (cancelled or failed) and free it. */
static void
destroy(struct hedge *h)
{
	unlink_hedge(h);
	dial_stop(&h->dial);
	if (h->sent_cbe != NULL && h->uc != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(
			evhttp_connection_get_bufferevent(h->uc->evcon)),
		    h->sent_cbe);
	h->sent_cbe = NULL;
	if (h->ureq != NULL) {
		struct evhttp_request *r = h->ureq;
		h->ureq = NULL; /* the cancel calls error_cb: ignored */
		evhttp_cancel_request(r);
	}
	if (h->uc != NULL) {
		/* (never pooled: it may be half-way through a response) */
		upstream_discard(h->uc);
		h->uc = NULL;
	}
	if (h->busy > 0) {
		h->dead = true;
		return;
	}
	free(h);
}

void
hedge_release(struct hedge *h)
{
	unlink_hedge(h);
	dial_stop(&h->dial);
	free(h);
}

struct hedge *
hedge_in_flight(struct preq *p)
{
	for (unsigned i = 0; i < HEDGE_MAX; i++)
		if (p->hedges[i] != NULL && p->hedges[i]->uc != NULL &&
		    !p->hedges[i]->dead)
			return p->hedges[i];
	return NULL;
}

void
hedge_cancel_all(struct preq *p, struct hedge *keep, int outcome)
{
	if (p->nhedges == 0)
		return; /* (most requests) */
	for (unsigned i = 0; i < HEDGE_MAX; i++) {
		struct hedge *h = p->hedges[i];
		if (h == NULL || h == keep)
			continue;
		metrics_hedge((enum metrics_hedge)outcome);
		if (log_debug_enabled())
			log_debug("%s %s: hedge to %s:%u cancelled", p->method,
			    p->uri, h->host, h->port);
		destroy(h);
	}
}

/* ---- the hedge's own exchange, until its head ----------------------- */

static int
hedge_header_cb(struct evhttp_request *ureq, void *arg)
{
	struct hedge *h = arg;

	if (h->ureq != ureq || h->dead)
		return 0;
	return h->p->hedge_won_cb(h->p, h, ureq);
}

static void
hedge_chunk_cb(struct evhttp_request *ureq, void *arg)
{
	/* (none before the head, and after it the callbacks are attempt's) */
}

static void
hedge_error_cb(enum evhttp_request_error err, void *arg)
{
	struct hedge *h = arg;

	if (h->ureq == NULL || h->dead)
		return; /* our cancel */
	h->ureq = NULL; /* evhttp frees it */
	hedge_fail(h,
	    err == EVREQ_HTTP_TIMEOUT
		? (h->sent_ms ? FK_RESPONSE_TIMEOUT : FK_CONNECTION_TIMEOUT)
		: h->sent_ms ? FK_CONNECTION_TERMINATED
			     : FK_CONNECTION_REFUSED);
}

static void
hedge_done_cb(struct evhttp_request *ureq, void *arg)
{
	struct hedge *h = arg;

	if (ureq == NULL || h->ureq != ureq || h->dead)
		return;
	/* (a head makes attempt.c take the request over first) */
	h->ureq = NULL;
	hedge_fail(h, FK_CONNECTION_REFUSED);
}

static void
hedge_refused_cb(const struct reqscan *scan, void *arg)
{
	struct hedge *h = arg;

	if (!h->dead)
		hedge_fail(h, FK_HTTP_PROTOCOL_ERROR);
}

static void
hedge_sent_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct hedge *h = arg;

	if (info->n_added == 0 || h->sent_ms != 0)
		return;
	h->sent_ms = util_now_ms();
	upstream_set_nodelay(h->uc);
	evbuffer_remove_cb_entry(buf, h->sent_cbe);
	h->sent_cbe = NULL;
	if (!h->reused)
		dial_connected(&h->dial);
	h->uc->connected = true;
	dial_arm(&h->dial, h->p->pol->per_try_timeout_ms, FK_RESPONSE_TIMEOUT);
}

/* A hedge failed: noted like any attempt (avoid, eject), then gone. */
static void
hedge_fail(struct hedge *h, enum fail_kind kind)
{
	struct preq *p = h->p;
	struct outcome o = {.fail = kind};

	dial_note(&h->dial, &o);
	dial_add_addr(&p->dial, &h->dial);
	metrics_hedge(METRICS_HEDGE_FAILED);
	if (log_debug_enabled())
		log_debug("%s %s: hedge to %s:%u failed: %s", p->method, p->uri,
		    h->host, h->port, fail_kind_token(kind));
	destroy(h);
}

static void
hedge_send(struct hedge *h)
{
	struct preq *p = h->p;
	struct evhttp_request *ureq;
	struct timeval tv;
	int rc;

	ureq = evhttp_request_new(hedge_done_cb, h);
	evhttp_request_set_header_cb(ureq, hedge_header_cb);
	evhttp_request_set_chunked_cb(ureq, hedge_chunk_cb);
	evhttp_request_set_error_cb(ureq, hedge_error_cb);
	upreq_build(p, ureq, h->host, h->port, h->tls);
	tv = rp_tv((p->pol->per_try_timeout_ms > p->pol->connect_timeout_ms
			   ? p->pol->per_try_timeout_ms
			   : p->pol->connect_timeout_ms) +
	    1000);
	upstream_set_timeout(h->uc, &tv);
	upstream_expect_response(
	    h->uc, p->cfg->proxy.max_header_size, hedge_refused_cb, h);
	h->sent_cbe = evbuffer_add_cb(
	    bufferevent_get_output(
		evhttp_connection_get_bufferevent(h->uc->evcon)),
	    hedge_sent_cb, h);
	h->ureq = ureq;
	h->busy++;
	rc = upstream_make_request(h->uc, ureq, p->cmd, p->target);
	h->busy--;
	if (h->dead) {
		free(h);
		return;
	}
	if (rc != 0 && h->ureq == ureq) {
		/* (2.1.12 does not free the request on this path) */
		h->ureq = NULL;
		evhttp_request_free(ureq);
		hedge_fail(h, FK_CONNECTION_REFUSED);
	}
}

/* ---- its address ------------------------------------------------------ */

static void
hedge_resolved_cb(struct dial *d, const struct sockaddr *sa)
{
	struct hedge *h = d->arg;

	h->uc = upstream_connect(
	    h->p->w->pool, &h->origin, sa, h->p->cfg->proxy.max_header_size);
	if (h->uc == NULL) {
		dial_using(d, NULL);
		hedge_fail(h, FK_CONNECTION_REFUSED);
		return;
	}
	h->reused = false;
	hedge_send(h);
}

static void
hedge_failed_cb(struct dial *d, enum fail_kind kind)
{
	hedge_fail(d->arg, kind);
}

static void
hedge_denied_cb(struct dial *d)
{
	/* (the first copy meets the deny and answers 403) */
	hedge_fail(d->arg, FK_NONE);
}

static void
hedge_retry_cb(struct dial *d)
{
	/* (a hedge is never retried: it has no backoff) */
}

/* ---- when a hedge goes ------------------------------------------------ */

/*
 * A hedge was due and is not sent (why: for the debug log); counted once
 * a request (a timer armed again after a take-over may come round again).
 */
static void
not_sent(struct preq *p, const char *why)
{
	if (!p->hedge_not_sent)
		metrics_hedge(METRICS_HEDGE_NOT_SENT);
	p->hedge_not_sent = true;
	if (log_debug_enabled())
		log_debug("%s %s: no hedge: %s", p->method, p->uri, why);
}

/* May this request have another hedge now? */
static bool
may_hedge(struct preq *p)
{
	if (p->state != PQ_CONNECTING && p->state != PQ_SENT)
		return false;
	if (p->nhedges >= p->pol->hedge_max || p->dial.parent != NULL)
		return false;
	if (p->dial.attempt >= p->dial.max_attempts) {
		not_sent(p, "no attempt left");
		return false;
	}
	return true;
}

static void
hedge_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct preq *p = arg;
	struct policy_target t;
	struct hedge *h;
	unsigned slot;
	int status;
	uint64_t left;

	p->hedge_armed = false;
	if (!may_hedge(p))
		return;
	for (slot = 0; slot < HEDGE_MAX && p->hedges[slot] != NULL; slot++)
		;
	if (slot == HEDGE_MAX)
		return;
	policy_target(p->pol, p->url.host, p->url.port, p->url.port_given,
	    p->url.scheme == HTTP_SCHEME_HTTPS, p->dial.attempt + 1, &t);
	h = xcalloc(1, sizeof *h);
	h->p = p;
	h->host = t.host;
	h->port = t.port;
	h->tls = t.tls;
	dial_init(&h->dial, p->w, p->cfg, p->route, p->method, h);
	h->dial.start_ms = p->dial.start_ms; /* (the request's deadline) */
	h->dial.failed_cb = hedge_failed_cb;
	h->dial.denied_cb = hedge_denied_cb;
	h->dial.retry_cb = hedge_retry_cb;
	h->dial.resolved_cb = hedge_resolved_cb;
	/* a held or ejected origin gets no second copy either */
	if (dial_gate(&h->dial, h->host, h->port, &status, &left) != DIAL_GO) {
		dial_stop(&h->dial);
		free(h);
		not_sent(p, "the origin is held or ejected");
		return;
	}
	h->origin.host = h->host;
	h->origin.port = h->port;
	h->origin.verify = p->pol->verify;
	h->origin.tls = NULL;
	h->origin.parent = false;
	if (h->tls &&
	    (h->origin.tls = worker_tls_ctx(p->w, p->pol->verify)) == NULL) {
		dial_stop(&h->dial);
		free(h);
		not_sent(p, "no TLS context");
		return;
	}
	/* the last check: it takes the token when there is one */
	if (!budget_try_retry(&((struct route *)p->route)->budget,
		p->pol->retry_budget_percent, p->pol->retry_budget_min,
		util_now_ms())) {
		dial_stop(&h->dial);
		free(h);
		not_sent(p, "the retry budget is spent");
		return;
	}
	p->hedges[slot] = h;
	p->nhedges++;
	/* counted as an attempt of the request (attempts, the log) */
	p->dial.attempt++;
	/* another address than the first copy's, when the name has one */
	h->dial.tried = p->dial.tried;
	dial_prefer_other(&h->dial, &p->dial);
	dial_begin(&h->dial);
	h->dial.host = h->host;
	h->dial.port = h->port;
	if (log_debug_enabled())
		log_debug("%s %s: no response head from %s:%u yet: hedge %u "
			  "to %s:%u",
		    p->method, p->uri, p->up_host, p->up_port, p->nhedges,
		    h->host, h->port);
	hedge_arm(p); /* the next one, if hedge_max allows */
	dial_arm(&h->dial, p->pol->connect_timeout_ms, FK_CONNECTION_TIMEOUT);
	h->uc = upstream_take_idle(
	    p->w->pool, &h->origin, dial_pool_usable, &h->dial);
	if (h->uc != NULL) {
		dial_using(&h->dial, (const struct sockaddr *)&h->uc->peer);
		h->reused = h->uc->connected;
		hedge_send(h);
		return;
	}
	dial_resolve(&h->dial, h->host, h->port);
}

void
hedge_arm(struct preq *p)
{
	uint64_t ms;
	struct timeval tv;

	if (p->nhedges >= p->pol->hedge_max || !p->resendable || p->replying ||
	    p->resuming || p->dial.parent != NULL)
		return;
	if (!policy_hedge_delay(
		p->pol, &((struct route *)p->route)->tail, util_now_ms(), &ms))
		return;
	tv = rp_tv(ms);
	evtimer_add(&p->hedge_timer, &tv);
	p->hedge_armed = true;
}
