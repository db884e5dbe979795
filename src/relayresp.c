/*
 * relayresp: the raw lane's response (relay-int.h) -- the upstream
 * connection read: its head scanned and decided (retried, or written out
 * to the client), its body moved down to the client as it comes (or
 * spliced in the kernel: zbody.h), a body that broke resumed with a Range
 * (resume.h) or cut, a 101 handed to tunnel.c.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodyread.h"
#include "config.h"
#include "dial.h"
#include "bevset.h"
#include "eagerwrite.h"
#include "gateway.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "parent.h"
#include "rawpool.h"
#include "msghead.h"
#include "rawbody.h"
#include "resume.h"
#include "tunnel.h"
#include "util.h"
#include "worker.h"
#include "zbody.h"
#include "relay-int.h"

/*
 * May it be sent again even when an attempt may have reached the origin:
 * its whole body is here, and its method is listed (retry_methods) or it
 * carries an Idempotency-Key.
 */
static bool
resendable(const struct relay *r)
{
	return relay_may_resend(r) && r->body.done &&
	    (r->dial.has_idem ||
		policy_method_is_listed(&r->route->policy, r->req.method));
}

/*
 * Why the broken body of this response cannot be resumed (now), or NULL:
 * the request, the response head the client got (resume_eligible, once:
 * r->resp is still that head) and the continuations used so far.
 */
static const char *
resume_why_not(struct relay *r)
{
	const struct policy *pol = &r->route->policy;
	struct resume_head h = {0};
	const char *why;

	if (r->resume_end != NULL)
		return r->resume_end;
	if (r->resume.validator == NULL) {
		if (!pol->resume || pol->resume_max == 0)
			return r->resume_end = "resume is off";
		if (strcmp(r->req.method, "GET") != 0 || !resendable(r))
			return r->resume_end = "not a GET that may be re-sent";
		if (msghead_get(&r->req, "Range") != NULL)
			return r->resume_end = "the client asked for a range";
		h.status = r->resp.status;
		h.etag = msghead_get(&r->resp, "ETag");
		h.last_modified = msghead_get(&r->resp, "Last-Modified");
		h.date = msghead_get(&r->resp, "Date");
		h.accept_ranges = msghead_get(&r->resp, "Accept-Ranges");
		h.content_length = r->uscan.chunked
		    ? NULL
		    : msghead_get(&r->resp, "Content-Length");
		if ((why = resume_begin(&r->resume, &h)) != NULL)
			return r->resume_end = why;
	}
	if (r->resume.count >= pol->resume_max)
		return r->resume_end = "resume_max continuations used";
	return NULL;
}

/*
 * The response's body broke (kind) after the client's reply began: the
 * next attempt asks for the rest, when it may (resume); else the
 * client's response ends short -- never a 502, never bytes spliced in
 * blind.  (As on evhttp's lane: attempt.c.)
 */
void
relayresp_body_broke(struct relay *r, enum fail_kind kind, const char *error)
{
	struct outcome o = {.fail = kind};
	const char *why;

	r->up_may_keep = false;
	relayup_close(r);
	/* (the next attempt's reading starts unpaused) */
	r->up_paused = false;
	bufferevent_setwatermark(r->cbev, EV_WRITE, 0, 0);
	r->error = error;
	if ((why = resume_why_not(r)) == NULL) {
		if (dial_retry(&r->dial, &o, true)) {
			r->resuming = true;
			r->state = RS_BACKOFF;
			return;
		}
		why = "no retry left (attempts, errors, retry_budget or "
		      "deadline)";
	}
	relay_end_broken(r, why);
}

/* Has a resumed body a known end, which the client was promised? */
static bool
resumed_with_length(const struct relay *r)
{
	return r->resume.count > 0 && r->resume.total != RESUME_LENGTH_UNKNOWN;
}

/*
 * A resumed body (a 206 spliced in) whose complete length is known:
 * moved through a buffer of its own, so that no byte past that length
 * reaches the client, and its end is checked against it -- a chunked or
 * connection-delimited 206 says no length that resume_accept could check.
 * 1: ended at the length; 0: more to come; -1: a broken chunk; -2: past
 * the length; -3: ended before it.
 */
static int
pump_resumed(struct relay *r, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer *tmp = evbuffer_new();
	uint64_t n = 0, left = r->resume.total - r->bytes_down;
	size_t k;
	int rc;

	if (tmp == NULL)
		return -1;
	rc = rawbody_move(&r->uscan, in, tmp, false, SIZE_MAX, &n);
	k = evbuffer_get_length(tmp) > left ? (size_t)left
					    : evbuffer_get_length(tmp);
	if (k > 0) {
		if (r->down_chunked)
			evbuffer_add_printf(out, "%zx\r\n", k);
		evbuffer_remove_buffer(tmp, out, k);
		if (r->down_chunked)
			evbuffer_add(out, "\r\n", 2);
		r->bytes_down += k;
	}
	n = evbuffer_get_length(tmp); /* (what ran past the length) */
	evbuffer_free(tmp);
	if (rc < 0)
		return -1;
	if (n > 0)
		return -2;
	if (rc == 1) {
		if (r->bytes_down != r->resume.total)
			return -3;
		if (r->down_chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
	}
	return rc;
}

/* The response's body, from the origin to the client, as it comes. */
static void
pump_down(struct relay *r)
{
	struct evbuffer *out = bufferevent_get_output(r->cbev);
	int rc;

	if (r->state != RS_RESPONDING)
		return;
	/* (all that was read: a read is at most a few tens of KiB) */
	if (resumed_with_length(r))
		rc = pump_resumed(r, bufferevent_get_input(r->ubev), out);
	else
		rc = rawbody_move(&r->uscan, bufferevent_get_input(r->ubev),
		    out, r->down_chunked, SIZE_MAX, &r->bytes_down);
	if (rc == -2 || rc == -3) {
		r->error = "http_protocol_error";
		relay_end_broken(r,
		    rc == -2 ? "the answer to the range ran past the "
			       "original's length"
			     : "the answer to the range ended before the "
			       "original's length");
		return;
	}
	if (rc < 0) {
		/* a broken chunk: the response is cut */
		r->error = "http_protocol_error";
		relay_end(r, RELAY_CLOSE);
		return;
	}
	if (rc == 1) {
		relay_finish_as(r, true); /* (every caller returns after) */
		return;
	}
	if (evbuffer_get_length(out) >= RELAY_HWM && !r->up_paused) {
		/* the client reads slowly: stop reading the origin */
		r->up_paused = true;
		bodyread_reading(&r->uread, r->ubev, false);
		bufferevent_setwatermark(r->cbev, EV_WRITE, RELAY_LWM, 0);
	}
}

void
relayresp_client_write_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->up_paused && r->ubev != NULL) {
		r->up_paused = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		bodyread_reading(&r->uread, r->ubev, true);
		pump_down(r);
	}
}

/* A 101: the exchange becomes a tunnel (tunnel.c), logged there. */
static void
switch_protocols(struct relay *r)
{
	struct tunnel_from from;
	struct bufferevent *ubev = r->ubev;
	char retries[sizeof r->dial.retries];
	char addrs[sizeof r->dial.addrs_text];

	memset(&from, 0, sizeof from);
	from.cfg = r->cfg;
	from.route = r->route;
	from.method = r->req.method;
	from.uri = r->uri != NULL ? r->uri : r->req.target;
	from.gateway = r->gw != NULL ? r->gw->addr.text : NULL;
	from.client = relay_client_text(r);
	from.attempts = r->dial.attempt;
	memcpy(retries, r->dial.retries, sizeof retries);
	from.retries = retries;
	snprintf(addrs, sizeof addrs, "%s", dial_addrs(&r->dial));
	from.addrs = addrs;
	from.start_ms = r->dial.start_ms;
	from.wall_ms = r->wall_ms;
	from.status = 101;
	rawbody_stop(&r->body);
	bodyread_stop(&r->uread);
	eagerwrite_detach(&r->uew);
	/* what the origin sent after its 101 is the client's */
	bufferevent_write_buffer(r->cbev, bufferevent_get_input(ubev));
	r->ubev = NULL;
	bufferevent_setcb(ubev, NULL, NULL, NULL, NULL);
	bufferevent_setcb(r->cbev, NULL, NULL, NULL, NULL);
	metrics_raw_lane(false);
	tunnel_adopt(r->w, r->cevcon, ubev, &from);
	/* (not logged here: the tunnel logs the exchange when it ends) */
	r->state = RS_ENDED;
	{
		void (*done)(void *, enum relay_end) = r->done;
		void *ctx = r->ctx;
		relay_free(r);
		done(ctx, RELAY_TUNNEL);
	}
}

static const char *
find_field(const char *name, void *h)
{
	return msghead_get(h, name);
}

/* The spliced body ended (zbody.h): as pump_down would have seen it. */
static void
zbody_end_cb(void *arg, enum zbody_end how)
{
	struct relay *r = arg;

	relay_splice_stop(r);
	/* (the client's bufferevent writes again: a resumed body, a flush) */
	bufferevent_enable(r->cbev, EV_WRITE);
	switch (how) {
	case ZBODY_DONE:
		relay_finish(r);
		return;
	case ZBODY_SHORT:
	case ZBODY_FROM_ERROR:
		relayresp_body_broke(
		    r, FK_CONNECTION_TERMINATED, "connection_terminated");
		return;
	case ZBODY_FROM_TIMEOUT:
		relayresp_body_broke(
		    r, FK_RESPONSE_TIMEOUT, "http_response_timeout");
		return;
	case ZBODY_TO_ERROR:
	case ZBODY_TO_TIMEOUT:
		/* the client is gone, or stopped reading: as client_event_cb */
		relay_end(r, RELAY_CLOSE);
		return;
	}
}

/*
 * A body of known length (Content-Length), more than ZBODY_WORTH of it
 * still to come, between two plain TCP sockets: spliced in the kernel
 * (zbody.h), after the head and whatever of the body came with it; the
 * upstream connection is kept afterwards as after any whole response.
 * Not a resumed body (its bytes are checked against the original's
 * length: pump_resumed), not while the request's body still goes up.
 */
static bool
splice_body(struct relay *r)
{
	struct evbuffer *in = bufferevent_get_input(r->ubev);
	uint64_t left = reqscan_body_left(&r->uscan);
	size_t have = evbuffer_get_length(in);
	struct timeval bt, ct;

	/*
	 * (without a pipe zsplice would copy through 64 KiB: bodyread's
	 * 256 KiB reads are the better copying path)
	 */
	if (r->w->zpool == NULL || !zsplice_pool_can_lend(r->w->zpool) ||
	    r->dial.tls || r->down_chunked || r->resume.count > 0 ||
	    !r->body.done || have >= left || left - have < ZBODY_WORTH ||
	    evbuffer_get_length(bufferevent_get_output(r->cbev)) >
		ZBODY_WORTH ||
	    bufferevent_openssl_get_ssl(r->cbev) != NULL ||
	    bufferevent_openssl_get_ssl(r->ubev) != NULL)
		return false;
	zbody_init(&r->zb, r->w->zpool);
	/* (the head, then the body's first bytes, go first) */
	zbody_take(&r->zb, bufferevent_get_output(r->cbev), true);
	zbody_take(&r->zb, in, false);
	reqscan_body_taken(&r->uscan, have);
	r->bytes_down += have;
	/* the sockets are zbody's until it ends */
	bufferevent_disable(r->ubev, EV_READ);
	bufferevent_disable(r->cbev, EV_WRITE);
	bt = rp_tv(r->route->policy.body_timeout_ms);
	ct = rp_tv(r->cfg->proxy.client_timeout_ms);
	zbody_start(&r->zb, r->w->base, bufferevent_getfd(r->ubev),
	    bufferevent_getfd(r->cbev), left - have, &bt, &ct, zbody_end_cb, r);
	return true;
}

/*
 * The body is the client's from here: only its gaps are timed
 * (body_timeout, as on evhttp's lane), and it is read in large pieces,
 * or spliced.
 */
static void
stream_body(struct relay *r)
{
	struct timeval tv = rp_tv(r->route->policy.body_timeout_ms);
	uint64_t left = reqscan_body_left(&r->uscan);

	r->state = RS_RESPONDING;
	if (r->uscan.msg_done) {
		relay_finish_as(r, true); /* (response_head returns after) */
		return;
	}
	/*
	 * A short body that came with its head (most small responses): it
	 * ends now, and timing it or taking its reading over would cost two
	 * epoll changes and a timer for nothing (callgrind).
	 */
	if (left > 0 &&
	    left <= evbuffer_get_length(bufferevent_get_input(r->ubev))) {
		pump_down(r);
		if (r->state != RS_RESPONDING)
			return;
	}
	bufferevent_enable(r->cbev, EV_WRITE);
	bufferevent_set_timeouts(r->ubev, &tv, NULL);
	r->up_read_timed = true;
	r->up_write_ms = 0;
	if (splice_body(r))
		return;
	if (!r->dial.tls) {
		bodyread_start(&r->uread, r->ubev, &tv, NULL, NULL);
		bodyread_kick(&r->uread); /* (more came after the head) */
	}
	pump_down(r);
}

/*
 * The head answering a resume's "Range: bytes=N-": the rest of the same
 * body goes on into the client's response, in its framing; anything
 * else (a 200, another validator, a range not N to the end) ends it
 * short.  (A status the policy retries was retried before this.)
 */
static void
resume_answer(struct relay *r, const char *cl)
{
	struct resume_head h = {.status = r->resp.status};
	uint64_t total;
	const char *why;

	h.content_length = r->uscan.chunked ? NULL : cl;
	h.etag = msghead_get(&r->resp, "ETag");
	h.last_modified = msghead_get(&r->resp, "Last-Modified");
	why = resume_accept(&r->resume, r->bytes_down, &h,
	    msghead_get(&r->resp, "Content-Range"), &total);
	if (why != NULL) {
		r->resume_end = why;
		r->up_may_keep = false;
		relay_end_broken(r, why);
		return;
	}
	r->resuming = false;
	r->resume.total = total;
	r->resume.count++;
	r->error = NULL;
	metrics_broken_body(true);
	log_info("%s %s: the body broke after %llu bytes; resumed (attempt %u)",
	    r->req.method, r->uri != NULL ? r->uri : r->req.target,
	    (unsigned long long)r->bytes_down, r->dial.attempt);
	stream_body(r);
}

/*
 * A retried response's body, when all of it came with its head (up to
 * DRAIN_MAX, as a 503's page does): read to its end and dropped, so
 * that its connection may serve the retry (as on evhttp's lane).  False:
 * the connection goes (a body still coming, or bytes after it).
 */
static bool
drained_whole(struct relay *r)
{
	struct evbuffer *in = bufferevent_get_input(r->ubev);
	struct evbuffer *sink;
	uint64_t n = 0;
	int rc;

	if (evbuffer_get_length(bufferevent_get_output(r->ubev)) > 0 ||
	    evbuffer_get_length(in) > DRAIN_MAX)
		return false;
	if (!r->uscan.msg_done) {
		if ((sink = evbuffer_new()) == NULL)
			return false;
		rc = rawbody_move(&r->uscan, in, sink, false, SIZE_MAX, &n);
		evbuffer_free(sink);
		if (rc != 1)
			return false;
	}
	return evbuffer_get_length(in) == 0;
}

/* The final response head (bytes n of the upstream input). */
static void
response_head(struct relay *r, size_t n)
{
	struct evbuffer *in = bufferevent_get_input(r->ubev);
	struct outcome o = {0};
	struct msghead_out mo = {0};
	struct sbuf *out;
	const char *cause;
	char na[16], ra[24];
	const char *cl;
	int rc;

	/* (msghead copies what it parses: no copy of our own first) */
	msghead_free(&r->resp);
	rc = msghead_parse_in(&r->resp, (const char *)evbuffer_pullup(in, n), n,
	    true, r->resp_store, sizeof r->resp_store, &cause);
	evbuffer_drain(in, n);
	if (rc != 0) {
		o.fail = FK_HTTP_PROTOCOL_ERROR;
		relayup_attempt_over(r, &o);
		return;
	}
	if (r->resp.status == 101) {
		if (!r->upgrade) {
			o.fail = FK_HTTP_PROTOCOL_ERROR;
			relayup_attempt_over(r, &o);
			return;
		}
		mo.upgrade = true;
	}
	dial_disarm(&r->dial);
	o.status = r->resp.status;
	o.retry_after = policy_retry_after(&r->route->policy, o.status,
	    find_field, &r->resp, util_wall_ms(), ra, sizeof ra);
	/* a parent's own error: the next attempt goes through another */
	if (r->dial.parent != NULL && !r->dial.tls &&
	    parent_response_is_own(o.status, find_field, &r->resp))
		dial_parent_failed(&r->dial);
	else
		dial_note_response(&r->dial, o.status, o.retry_after);
	o.header_matched =
	    policy_header_matches(&r->route->policy, find_field, &r->resp);
	cl = msghead_get(&r->resp, "Content-Length");
	/*
	 * The upstream connection goes back to the pool after a response
	 * whose end its framing tells (not one that ends with the
	 * connection), from an HTTP/1.1 origin that did not say close.
	 */
	r->up_may_keep = r->pool_key[0] != '\0' && r->resp.status != 101 &&
	    r->resp.minor >= 1 &&
	    (cl != NULL || r->uscan.chunked || r->uscan.msg_done) &&
	    !r->resp.conn_close;
	r->up_keepalive_ms =
	    http_keepalive_timeout_ms(msghead_get(&r->resp, "Keep-Alive"));
	/*
	 * Every response is decided, the last attempt's too: ejection counts
	 * it (dial_decide), and the policy says whether one more may go.
	 */
	if (r->resp.status != 101) {
		if (dial_retry(
			&r->dial, &o, relay_may_resend(r) && r->body.done)) {
			/* its connection is kept when its body is all here */
			r->up_keep = r->up_may_keep && drained_whole(r);
			relayup_close(r);
			r->state = RS_BACKOFF;
			return;
		}
	}
	if (r->resuming) {
		resume_answer(r, cl);
		return;
	}
	r->status = r->resp.status;
	/* (an HTTP/1.0 client that asked for keep-alive: client_close) */
	r->keep = !r->client_close;
	if (r->resp.status == 101) {
		mo.body = MSGHEAD_NO_BODY;
	} else if (r->uscan.chunked && !r->uscan.msg_done) {
		/* re-chunked for 1.1, de-chunked (then closed) for 1.0 */
		r->down_chunked = !r->client_10;
		mo.body = r->down_chunked ? MSGHEAD_CHUNKED : MSGHEAD_NO_BODY;
		if (r->client_10)
			r->keep = false;
	} else if (cl != NULL) {
		mo.body = MSGHEAD_LENGTH;
		mo.length = strtoull(cl, NULL, 10);
	} else if (!r->uscan.msg_done) {
		r->keep = false; /* it ends where the connection does */
	}
	if (!r->body.done)
		r->keep = false;
	mo.close = !r->keep;
	/* (HTTP/1.0 closes unless told: RFC 9112 section 9.3) */
	mo.keep_alive = r->keep && r->client_10;
	/* (the protocol the response came in, RFC 9110 section 7.6.3) */
	mo.via = r->cfg->proxy.via ? http_via(1, r->resp.minor) : NULL;
	if (r->route->policy.report_attempts) {
		snprintf(na, sizeof na, "%u", r->dial.attempt);
		mo.extra_name = "X-Retry-Attempts";
		mo.extra_value = na;
	}
	out = sbuf_scratch();
	msghead_write_response(&r->resp, &mo, out);
	/*
	 * (the client's writing is on from the response on, not before:
	 * from stream_body, or relay_finish_as when the response is whole
	 * already)
	 */
	/*
	 * A response read whole is written by relay_finish_as itself: no
	 * eager flush is scheduled for it (held); one is for what is left
	 * queued when the response goes on streaming (released; front's
	 * relay_done releases it when the relay ended here).
	 */
	if (r->resp.status != 101)
		eagerwrite_hold(r->cew);
	bufferevent_write(r->cbev, out->s, out->len);
	if (r->resp.status == 101) {
		bufferevent_enable(r->cbev, EV_WRITE);
		switch_protocols(r);
		return;
	}
	r->replying = true;
	stream_body(r);
	if (r->state != RS_ENDED)
		eagerwrite_release(r->cew);
}

void
relayresp_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (r->state == RS_RESPONDING) {
		pump_down(r);
		return;
	}
	if (r->state != RS_EXCHANGE)
		return;
	/* a head: scan what came, up to its end, without taking it yet */
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_ptr ptr;
		struct evbuffer_iovec v[4];
		size_t at = 0, len = evbuffer_get_length(in);
		bool ended = false;

		/* (the head so far was scanned: feed only what is new) */
		at = (size_t)r->uscan.head_bytes;
		if (at >= len)
			return;
		evbuffer_ptr_set(in, &ptr, at, EVBUFFER_PTR_SET);
		while (at < len && !ended) {
			int nv = evbuffer_peek(
			    in, (ev_ssize_t)(len - at), &ptr, v, 4);
			ssize_t k = 0;
			for (int i = 0; i < nv && i < 4 && !ended; i++) {
				k = reqscan_feed_step(
				    &r->uscan, v[i].iov_base, v[i].iov_len);
				if (k < 0)
					break;
				at += (size_t)k;
				evbuffer_ptr_set(
				    in, &ptr, (size_t)k, EVBUFFER_PTR_ADD);
				ended = r->uscan.head_done;
				if ((size_t)k < v[i].iov_len)
					break;
			}
			if (k < 0) {
				struct outcome o = {
				    .fail = r->uscan.status == 431
					? FK_RESPONSE_HEADER_TOO_BIG
					: FK_HTTP_PROTOCOL_ERROR};
				relayup_attempt_over(r, &o);
				return;
			}
			if (nv <= 0)
				break;
		}
		if (!ended)
			return;
		if (r->uscan.resp_status < 200 && r->uscan.resp_status != 101) {
			/* an interim response: dropped (as on evhttp's lane) */
			evbuffer_drain(in, at);
			r->uscan.head_bytes = 0;
			continue;
		}
		response_head(r, at);
		return;
	}
}

void
relayresp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	struct outcome o = {0};

	if (r->state == RS_RESPONDING) {
		if ((what & BEV_EVENT_EOF) && reqscan_is_tunnel(&r->uscan)) {
			/* a body that ends with the connection: it is whole */
			pump_down(r);
			if (r->state != RS_RESPONDING)
				return;
			if (resumed_with_length(r) &&
			    r->bytes_down != r->resume.total) {
				r->error = "http_protocol_error";
				relay_end_broken(r,
				    "the answer to the range ended before "
				    "the original's length");
				return;
			}
			relay_finish(r);
			return;
		}
		/* the body broke after it started: resumed, or cut */
		if (what & BEV_EVENT_TIMEOUT)
			relayresp_body_broke(
			    r, FK_RESPONSE_TIMEOUT, "http_response_timeout");
		else
			relayresp_body_broke(r, FK_CONNECTION_TERMINATED,
			    "connection_terminated");
		return;
	}
	if (r->state != RS_EXCHANGE)
		return;
	if (r->reused && !(what & BEV_EVENT_TIMEOUT) &&
	    r->uscan.head_bytes == 0)
		rawpool_note_stale(
		    r->w->rawpool, r->pool_key, r->idle_taken_ms);
	if (r->reused && !r->warm && !r->stale_resent &&
	    !(what & BEV_EVENT_TIMEOUT) && r->uscan.head_bytes == 0) {
		/*
		 * A pooled connection that breaks before any response byte:
		 * the origin had closed it.  Once more on a new connection,
		 * without counting an attempt (as on evhttp's lane).  (A
		 * request that may not be re-sent rode it only warm, and
		 * fails here.)
		 */
		r->up_may_keep = false;
		relayup_close(r);
		dial_disarm(&r->dial);
		r->stale_resent = true;
		r->force_fresh = true;
		r->dial.attempt--;
		r->state = RS_BACKOFF;
		if (log_debug_enabled())
			log_debug("%s %s: stale keep-alive connection, "
				  "re-sending",
			    r->req.method, r->req.target);
		dial_backoff(&r->dial, 0);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		o.fail = FK_RESPONSE_TIMEOUT;
	else
		o.fail = FK_CONNECTION_TERMINATED;
	relayup_attempt_over(r, &o);
}
