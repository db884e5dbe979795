/*
 * relayup: the raw lane's attempt (relay-int.h) -- the gate before each
 * (hold, ejection), a connection taken from the pool (rawpool.c) or
 * dialed (dial.c), the request's head written up it and its body after
 * (held, streamed, or spliced in the kernel), the connection closed or
 * kept after, an attempt that failed.  What comes back is relayresp.c's.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "acl.h"
#include "avoid.h"
#include "bodyread.h"
#include "config.h"
#include "dial.h"
#include "bevset.h"
#include "eagerwrite.h"
#include "http.h"
#include "metrics.h"
#include "rawpool.h"
#include "msghead.h"
#include "rawbody.h"
#include "tls.h"
#include "util.h"
#include "worker.h"
#include "zbody.h"
#include "relay-int.h"

struct policy_target;
static bool attempt_pooled(struct relay *, const struct policy_target *);

/*
 * The upstream connection is done with: stop reading it, and close it,
 * or keep it for the next request (up_keep: its response was read whole,
 * by its framing, and nothing followed).
 */
void
relayup_close(struct relay *r)
{
	relay_splice_stop(r); /* (before its socket goes) */
	relay_upload_stop(r);
	bodyread_stop(&r->uread);
	eagerwrite_detach(&r->uew);
	if (r->ubev != NULL) {
		if (r->up_keep) {
			/* (the pool takes no read timeout: rawpool_put) */
			if (!r->up_timeouts_known || r->up_read_timed) {
				bufferevent_set_timeouts(r->ubev, NULL, NULL);
				r->up_write_ms = 0;
			}
			rawpool_put(r->w->rawpool, r->pool_key, r->ubev,
			    (const struct sockaddr *)&r->up_peer,
			    r->up_keepalive_ms, r->up_write_ms);
		} else
			bufferevent_free(r->ubev);
		r->ubev = NULL;
	}
	/* (the next attempt's connection: its own, unknown till taken) */
	r->up_timeouts_known = false;
	r->up_read_timed = false;
	r->up_keep = false;
}

/* ---- attempts ------------------------------------------------------ */

/* This attempt failed (kind), or its response (status) is retried. */
void
relayup_attempt_over(struct relay *r, const struct outcome *o)
{
	r->up_may_keep = false;
	relayup_close(r);
	/* a streamed body that started going is gone: nothing may repeat */
	if (dial_retry(&r->dial, o, relay_may_resend(r) || !r->sent_any)) {
		r->state = RS_BACKOFF;
		return;
	}
	if (r->replying) {
		relay_end_broken(r,
		    "no retry left (attempts, errors, retry_budget or "
		    "deadline)");
		return;
	}
	if (o->status == 0)
		relay_reply_failure(r, o->fail);
}

void
relayup_failed_cb(struct dial *d, enum fail_kind kind)
{
	struct relay *r = d->arg;
	struct outcome o = {.fail = kind};

	if (r->state == RS_RESPONDING) {
		/* (the deadline) resumed when it may be, else cut */
		relayresp_body_broke(r, kind, fail_kind_token(kind));
		return;
	}
	relayup_attempt_over(r, &o);
}

void
relayup_denied_cb(struct dial *d)
{
	struct relay *r = d->arg;

	relay_reply(r, 403, "http_request_denied",
	    "retryproxy: the destination address is denied by [proxy] deny\n");
}

void
relayup_retry_cb(struct dial *d)
{
	relayup_attempt(d->arg);
}

/* Body bytes from the client to the origin, as far as they go. */
void
relayup_pump(struct relay *r)
{
	if (r->ubev == NULL || r->state != RS_EXCHANGE || r->zup.on)
		return;
	switch (rawbody_stream(
	    &r->body, bufferevent_get_output(r->ubev), RELAY_HWM)) {
	case RAWBODY_REFUSED:
		/* (a bad chunk, or past max_upload): cut both */
		r->error = "http_request_error";
		if (r->body.scan.status == 413) {
			relay_reply(r, 413, "http_request_error",
			    "retryproxy: request body larger than max_upload\n");
			return;
		}
		r->status = r->body.scan.status;
		relay_end(r, RELAY_CLOSE);
		return;
	case RAWBODY_FULL:
		/* (the client's reading is paused) until the origin catches up */
		bufferevent_setwatermark(r->ubev, EV_WRITE, RELAY_LWM, 0);
		return;
	case RAWBODY_CONTINUE:
	case RAWBODY_SEND:
		return;
	}
}

static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->body.paused) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		rawbody_resume(&r->body);
		relay_client_read_cb(r->cbev, r);
		if (r->state == RS_ENDED)
			return;
	}
	if (r->body.done && r->state == RS_EXCHANGE &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		/*
		 * All of the request is out: nothing more to write (in the
		 * loop turn that wrote it, the enable and this disable fold
		 * into no epoll change at all), time the response.
		 */
		bufferevent_disable(bev, EV_WRITE);
		if (!evtimer_pending(&r->dial.timer, NULL))
			dial_arm(&r->dial, r->route->policy.per_try_timeout_ms,
			    FK_RESPONSE_TIMEOUT);
	}
}

/*
 * May this request's upstream connection be kept afterwards?  Not through
 * a parent (its connections are not pooled yet), not for an upgrade.
 */
static bool
poolable(const struct relay *r)
{
	return r->route->policy.nparents == 0 && !r->upgrade;
}

/* The pool's key for the attempt d connected (empty: not to be kept). */
static void
pool_note(struct relay *r, const struct dial *d)
{
	struct ssl_ctx_st *ctx =
	    d->tls ? worker_tls_ctx(r->w, d->verify) : NULL;

	r->pool_key[0] = '\0';
	if (!poolable(r) || d->parent != NULL || d->addr.family == 0 ||
	    (d->tls && ctx == NULL))
		return;
	avoid_addr_sockaddr(&d->addr, &r->up_peer);
	rawpool_key(r->pool_key, sizeof r->pool_key, d->host, d->port, d->tls,
	    d->verify, ctx != NULL ? tls_client_trust(ctx) : NULL);
}

/* The spliced upload ended (zbody.h): as relayup_pump would have seen it. */
static void
upload_end_cb(void *arg, enum zbody_end how)
{
	struct relay *r = arg;
	struct outcome o = {0};

	relay_upload_stop(r);
	switch (how) {
	case ZBODY_DONE:
		/* (the client's reading back on: its next request, its end) */
		if (!r->body.eof)
			bufferevent_enable(r->cbev, EV_READ);
		/* all of the request is out: time the response (up_write_cb) */
		if (r->state == RS_EXCHANGE &&
		    !evtimer_pending(&r->dial.timer, NULL))
			dial_arm(&r->dial, r->route->policy.per_try_timeout_ms,
			    FK_RESPONSE_TIMEOUT);
		return;
	case ZBODY_SHORT:
	case ZBODY_FROM_ERROR:
	case ZBODY_FROM_TIMEOUT:
		/* it ended (or stalled) before its body did: gone */
		if (!r->replying)
			r->status = 499;
		relay_end(r, RELAY_CLOSE);
		return;
	case ZBODY_TO_ERROR:
	case ZBODY_TO_TIMEOUT:
		if (r->state != RS_EXCHANGE) {
			/* an answer came first: it goes on, the connection not */
			r->up_may_keep = false;
			return;
		}
		o.fail = how == ZBODY_TO_TIMEOUT ? FK_RESPONSE_TIMEOUT
						 : FK_CONNECTION_TERMINATED;
		relayup_attempt_over(r, &o);
		return;
	}
}

/*
 * A streamed upload of known length (Content-Length past
 * max_request_body), more than ZBODY_WORTH of it still to come, between
 * plain TCP sockets: the rest goes client -> origin in the kernel, after
 * the request head and what of the body came with it.  The origin's
 * answer is read meanwhile as ever (an early 413 goes to the client); the
 * client's reading is zbody's until the body's last byte.  Such a body is
 * never re-sent once its head went (relay_may_resend), spliced or not.
 */
static bool
splice_upload(struct relay *r)
{
	struct evbuffer *in = bufferevent_get_input(r->cbev);
	uint64_t left = reqscan_body_left(&r->body.scan);
	size_t have = evbuffer_get_length(in);
	struct timeval ct;

	if (r->body.mode != RAWBODY_LENGTH || r->body.done || r->body.eof ||
	    r->w->zpool == NULL || !zsplice_pool_can_lend(r->w->zpool) ||
	    r->dial.tls || have >= left || left - have < ZBODY_WORTH ||
	    r->zup.on || r->zb.on ||
	    bufferevent_openssl_get_ssl(r->cbev) != NULL ||
	    bufferevent_openssl_get_ssl(r->ubev) != NULL)
		return false;
	zbody_init(&r->zup, r->w->zpool);
	/* (the head, then the body's first bytes, go first) */
	zbody_take(&r->zup, bufferevent_get_output(r->ubev), true);
	zbody_take(&r->zup, in, false);
	rawbody_spliced(&r->body, have);
	/* the client's reading and the origin's writing are zbody's */
	rawbody_stop(&r->body);
	bufferevent_disable(r->cbev, EV_READ);
	bufferevent_disable(r->ubev, EV_WRITE);
	ct = rp_tv(r->cfg->proxy.client_timeout_ms);
	zbody_start(&r->zup, r->w->base, bufferevent_getfd(r->cbev),
	    bufferevent_getfd(r->ubev), left - have, &ct, &ct, upload_end_cb,
	    r);
	return true;
}

/* The connection is up: send the head, then the body. */
void
relayup_connected_cb(struct dial *d, struct bufferevent *bev)
{
	struct relay *r = d->arg;
	struct msghead_out mo = {0};
	struct sbuf *out;
	struct evbuffer *uout;
	char host[320], na[16], range[32], *abs = NULL;
	const char *ah = r->route->policy.attempt_header;
	struct timeval tv = rp_tv(r->cfg->proxy.client_timeout_ms);
	bool direct;

	r->ubev = bev;
	r->state = RS_EXCHANGE;
	r->up_may_keep = false;
	/*
	 * A request read whole goes out with one write, here (below); any
	 * other, as it comes: eagerwrite from before the head is queued.
	 */
	uout = bufferevent_get_output(bev);
	direct = r->body.done && evbuffer_get_length(uout) == 0;
	if (!d->tls && !direct)
		eagerwrite_attach(&r->uew, bev);
	if (!r->reused)
		pool_note(r, d);
	/* bodies go out in large writes (libevent's default: 16 KiB) */
	bufferevent_set_max_single_write(bev, RELAY_HWM);
	r->sent_any = false;
	r->uscan.head_bytes = 0;
	reqscan_init_response_msg(&r->uscan, r->cfg->proxy.max_header_size,
	    strcmp(r->req.method, "HEAD") == 0);
	http_host_value(host, sizeof host, d->host, d->port, d->tls);
	mo.target = r->target;
	if (d->parent != NULL && !d->tls) {
		/* plain http to a parent: absolute form, its credentials */
		abs = xasprintf("http://%s%s", host, r->target);
		mo.target = abs;
		if (r->route->policy.parent_auth[0] != '\0')
			mo.proxy_auth = r->route->policy.parent_auth;
	}
	mo.host = host;
	mo.upgrade = r->upgrade;
	/* (without a key the connection is this request's alone) */
	mo.close = r->pool_key[0] == '\0';
	mo.via = r->cfg->proxy.via ? http_via(1, r->req.minor) : NULL;
	mo.drop = *ah != '\0' ? ah : NULL;
	mo.xff = r->xff;
	mo.forwarded = r->fwd;
	if (*ah != '\0') {
		snprintf(na, sizeof na, "%u", d->attempt);
		mo.extra_name = ah;
		mo.extra_value = na;
	}
	if (r->resuming) {
		/* the rest of the same object, or all of a changed one */
		snprintf(range, sizeof range, "bytes=%llu-",
		    (unsigned long long)r->bytes_down);
		mo.range = range;
		mo.if_range = r->resume.validator;
	}
	rawbody_frame(&r->body, &mo);
	out = sbuf_scratch(); /* (copied out at once, below) */
	msghead_write_request(&r->req, &mo, out);
	free(abs);
	evbuffer_add(uout, out->s, out->len);
	r->sent_any = true;
	rawbody_add_held(&r->body, uout);
	bufferevent_setcb(
	    bev, relayresp_read_cb, up_write_cb, relayresp_event_cb, r);
	/* (a pooled connection has them already, mostly: rawpool_put) */
	if (!r->up_timeouts_known || r->up_read_timed ||
	    r->up_write_ms != r->cfg->proxy.client_timeout_ms) {
		bufferevent_set_timeouts(bev, NULL, &tv);
		r->up_write_ms = r->cfg->proxy.client_timeout_ms;
		r->up_timeouts_known = true;
		r->up_read_timed = false;
	}
	/*
	 * All of it written now: no write event, no write callback, no
	 * eagerwrite (they were a tenth of a small request's instructions,
	 * callgrind); else (the socket full, an error) the write event
	 * sends the rest, or meets the error, as for any request.
	 */
	if (direct && (d->tls ? eagerwrite_tls_now(bev) : eagerwrite_now(bev)))
		bevset_events(bev, EV_READ, true);
	else
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (r->body.done)
		dial_arm(&r->dial, r->route->policy.per_try_timeout_ms,
		    FK_RESPONSE_TIMEOUT);
	if (!splice_upload(r))
		relayup_pump(r);
}

void
relayup_attempt(struct relay *r)
{
	const struct policy *pol = &r->route->policy;
	int held_status = 0;
	uint64_t left = 0;
	struct policy_target t;

	policy_target(pol, r->url.host, r->url.port, r->url.port_given,
	    r->url.scheme == HTTP_SCHEME_HTTPS, r->dial.attempt + 1, &t);
	switch (dial_gate(&r->dial, t.host, t.port, &held_status, &left)) {
	case DIAL_GO:
		break;
	case DIAL_WAIT:
		/* (then here again: the hold may have grown meanwhile) */
		r->state = RS_BACKOFF;
		dial_backoff(&r->dial, left);
		return;
	case DIAL_HELD:
		relay_reply_held(r, t.host, t.port, held_status, left);
		return;
	case DIAL_EJECTED:
		/* straight to a fallback, when a later attempt has one */
		if (pol->nfallbacks > 0 &&
		    r->dial.attempt + 1 < r->dial.max_attempts) {
			dial_skip(&r->dial);
			relayup_attempt(r);
			return;
		}
		relay_reply_ejected(r, t.host, t.port, left);
		return;
	}
	r->state = RS_CONNECTING;
	if (attempt_pooled(r, &t))
		return;
	dial_attempt(&r->dial, t.host, t.port, t.tls, pol->verify);
}

/*
 * This attempt on a pooled connection to t, when the request may take
 * one.  A request that may be sent again (its whole body is here, its
 * method is listed or it has an Idempotency-Key) takes any: one the
 * origin is closing sends it again (relayresp_event_cb).  One that may not takes
 * only a warm one (warm_reuse; the README, "Retry semantics").  False:
 * connect.
 */
static bool
attempt_pooled(struct relay *r, const struct policy_target *t)
{
	const struct policy *pol = &r->route->policy;
	struct ssl_ctx_st *ctx =
	    t->tls ? worker_tls_ctx(r->w, pol->verify) : NULL;
	struct rawpool_taken taken;
	struct bufferevent *bev;
	bool fresh = r->force_fresh;
	bool resendable = !rawbody_is_streamed(&r->body) && r->body.done &&
	    (r->dial.has_idem || policy_method_is_listed(pol, r->req.method));

	r->force_fresh = false;
	r->reused = r->warm = false;
	if (fresh || !poolable(r) || (t->tls && ctx == NULL) ||
	    (!resendable && !pol->warm_reuse))
		return false;
	rawpool_key(r->pool_key, sizeof r->pool_key, t->host, t->port, t->tls,
	    pol->verify, ctx != NULL ? tls_client_trust(ctx) : NULL);
	bev = rawpool_take(r->w->rawpool, r->pool_key, dial_pool_usable,
	    &r->dial, !resendable, &taken);
	if (!resendable)
		metrics_warm_reuse(taken.why);
	if (bev == NULL)
		return false;
	r->up_peer = taken.peer;
	r->idle_taken_ms = taken.idle_ms;
	if (r->cfg->proxy.deny.n > 0 &&
	    cidr_set_contains(
		&r->cfg->proxy.deny, (const struct sockaddr *)&r->up_peer)) {
		/* opened before a reload that denies its address */
		bufferevent_free(bev);
		relayup_denied_cb(&r->dial);
		return true;
	}
	dial_begin(&r->dial);
	dial_using(&r->dial, (const struct sockaddr *)&r->up_peer);
	r->dial.host = t->host;
	r->dial.port = t->port;
	r->dial.tls = t->tls;
	r->dial.verify = pol->verify;
	r->dial.parent = NULL;
	r->reused = true;
	r->warm = !resendable;
	metrics_raw_lane_reused();
	r->up_write_ms = taken.write_timeout_ms;
	r->up_timeouts_known = true;
	r->up_read_timed = false;
	relayup_connected_cb(&r->dial, bev);
	return true;
}
