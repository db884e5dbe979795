/*
 * attempt: the upstream side of the request path -- one attempt after
 * another under the policy engine's decisions: connect (with DNS and the
 * pool), send, read the response, decide, wait, retry; the final
 * response goes to proxy.c's reply functions.  How each libevent
 * signal maps to a failure class is in upstream_error_cb() and
 * upstream_done_cb().
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "canned.h"
#include "http.h"
#include "dnscache.h"
#include "hedge.h"
#include "log.h"
#include "metrics.h"
#include "parent.h"
#include "policy.h"
#include "client.h"
#include "proxy.h"
#include "resume.h"
#include "tail.h"
#include "tls.h"
#include "tunnel.h"
#include "upreq.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"
#include "preq.h"

static void attempt_failed(struct preq *, enum fail_kind);
static void end_broken(struct preq *, const char *why);
static void take_over(struct preq *, struct hedge *);
static int hedge_won(struct preq *, struct hedge *, struct evhttp_request *);

/* ---- ending an attempt ---------------------------------------------- */

void
attempt_stop_io(struct preq *p, bool keep_conn)
{
	/* (the timer, the resolver; never a backoff: none runs with I/O) */
	dial_stop(&p->dial);
	hedge_disarm(p);
	if (p->sent_cbe != NULL && p->uc != NULL) {
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(
			evhttp_connection_get_bufferevent(p->uc->evcon)),
		    p->sent_cbe);
	}
	p->sent_cbe = NULL;
	if (p->ureq != NULL) {
		struct evhttp_request *r = p->ureq;
		p->ureq = NULL; /* the cancel calls error_cb: ignore it */
		evhttp_cancel_request(r);
		keep_conn = false;
	}
	if (p->uc != NULL) {
		if (p->paused)
			upstream_resume(p->uc);
		if (keep_conn)
			upstream_release(p->uc);
		else
			upstream_discard(p->uc);
		p->uc = NULL;
	}
	p->paused = false;
	if (p->peek != NULL) {
		evbuffer_free(p->peek);
		p->peek = NULL;
	}
}

static void
schedule_retry(struct preq *p, uint64_t delay_ms)
{
	if (p->uri_owned == NULL)
		proxy_watch_client(p);
	p->state = PQ_BACKOFF;
	if (log_debug_enabled())
		log_debug("%s %s: attempt %u in %llums", p->method, p->uri,
		    p->dial.attempt + 1, (unsigned long long)delay_ms);
	dial_backoff(&p->dial, delay_ms);
}

/* The final failure: 502/504 with Proxy-Status. */
static void
reply_failure(struct preq *p, enum fail_kind kind)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->creq);
	char ps[192], body[512], n[16];
	int status = fail_kind_status(kind);

	if (p->replying) {
		end_broken(p, fail_kind_token(kind));
		return;
	}
	p->status = status;
	p->error = fail_kind_token(kind);
	snprintf(ps, sizeof ps,
	    "retryproxy; error=%s; details=\"%u attempt%s\"", p->error,
	    p->dial.attempt, p->dial.attempt == 1 ? "" : "s");
	snprintf(body, sizeof body,
	    "retryproxy: %u attempt%s to %s:%u failed; last error: %s\n",
	    p->dial.attempt, p->dial.attempt == 1 ? "" : "s", p->up_host,
	    p->up_port, p->error);
	if (p->pol->report_attempts) {
		snprintf(n, sizeof n, "%u", p->dial.attempt);
		evhttp_add_header(out, "X-Retry-Attempts", n);
	}
	if (p->cfg->proxy.via)
		evhttp_add_header(out, "Via", "1.1 retryproxy");
	proxy_restore_client(p);
	p->hedge_won = false; /* (the answer is ours) */
	proxy_done(p);
	client_reply_text(p->creq, status,
	    status == 504 ? "Gateway Timeout" : "Bad Gateway", ps, false, body);
	proxy_free(p);
}

/* ---- a body that broke after the client had some of it ------------- */

/*
 * Why the broken body of this response cannot be resumed (now), or NULL:
 * the request, the response head the client got (resume_eligible, once)
 * and the continuations used so far.
 */
static const char *
resume_why_not(struct preq *p)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->creq);
	struct resume_head h;
	const char *why;

	if (p->resume_end != NULL)
		return p->resume_end;
	if (p->resume.validator == NULL) {
		if (!p->pol->resume || p->pol->resume_max == 0)
			return p->resume_end = "resume is off";
		if (p->cmd != EVHTTP_REQ_GET || !p->resendable)
			return p->resume_end = "not a GET that may be re-sent";
		if (evhttp_find_header(
			evhttp_request_get_input_headers(p->creq), "Range"))
			return p->resume_end = "the client asked for a range";
		h.status = p->status;
		h.etag = evhttp_find_header(out, "ETag");
		h.last_modified = evhttp_find_header(out, "Last-Modified");
		h.date = evhttp_find_header(out, "Date");
		h.accept_ranges = evhttp_find_header(out, "Accept-Ranges");
		h.content_length = evhttp_find_header(out, "Content-Length");
		if ((why = resume_begin(&p->resume, &h)) != NULL)
			return p->resume_end = why;
	}
	if (p->resume.count >= p->pol->resume_max)
		return p->resume_end = "resume_max continuations used";
	return NULL;
}

/* The client's response ends short (why: in the log). */
static void
end_broken(struct preq *p, const char *why)
{
	log_info("%s %s: the body broke after %llu bytes and ends there: %s",
	    p->method, p->uri, (unsigned long long)p->bytes, why);
	metrics_broken_body(false);
	proxy_truncate(p);
}

/*
 * Decide after a failed attempt: retry later, or answer 502/504.  Once
 * the client's reply has started, the next attempt is a resume, when
 * there may be one; the end is a truncated response, never a 502.
 */
static void
attempt_failed(struct preq *p, enum fail_kind kind)
{
	struct outcome o = {0};
	struct hedge *h;
	const char *why;
	uint64_t delay;

	attempt_stop_io(p, false);
	if ((h = hedge_in_flight(p)) != NULL) {
		/* a hedge is on its way: it goes on in place of a retry */
		o.fail = kind;
		dial_note(&p->dial, &o);
		metrics_hedge(METRICS_HEDGE_TOOK_OVER);
		if (log_debug_enabled())
			log_debug("%s %s: attempt to %s:%u failed (%s); its "
				  "hedge to %s:%u goes on",
			    p->method, p->uri, p->up_host, p->up_port,
			    fail_kind_token(kind), h->host, h->port);
		take_over(p, h);
		return;
	}
	/* (one still resolving has nothing sent: the retry is as good) */
	hedge_cancel_all(p, NULL, METRICS_HEDGE_FAILED);
	if (p->replying && (why = resume_why_not(p)) != NULL) {
		end_broken(p, why);
		return;
	}
	o.fail = kind;
	if (dial_decide(&p->dial, &o, true, &delay)) {
		p->resuming = p->replying;
		schedule_retry(p, delay);
		return;
	}
	if (p->replying)
		end_broken(p,
		    "no retry left (attempts, errors, retry_budget or "
		    "deadline)");
	else
		reply_failure(p, kind);
}

/* ---- the response --------------------------------------------------- */

static const char *
find_field(const char *name, void *h)
{
	return evhttp_find_header(h, name);
}

static bool
header_matches(const struct policy *pol, struct evkeyvalq *h)
{
	return policy_header_matches(pol, find_field, h);
}

static bool
body_matches(struct preq *p)
{
	size_t n = evbuffer_get_length(p->peek);
	char *s;

	if (n > PEEK_MAX)
		return false; /* retryproxy.ini(5): up to 64K, then no match */
	s = xmalloc(n + 1);
	evbuffer_copyout(p->peek, s, n);
	s[n] = '\0';
	/* a NUL in the body ends what the regex sees */
	bool m = regexec(p->pol->retry_if_body, s, 0, NULL, 0) == 0;
	free(s);
	return m;
}

/*
 * Decide on a response (headers in, maybe a peeked body).  Returns true
 * when it will be retried.
 */
static bool
decide_response(struct preq *p, struct evhttp_request *ureq, bool body_match)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(ureq);
	struct outcome o = {0};
	uint64_t delay;
	char ra[24];

	o.status = evhttp_request_get_response_code(ureq);
	o.retry_after = policy_retry_after(
	    p->pol, o.status, find_field, in, util_wall_ms(), ra, sizeof ra);
	o.header_matched = header_matches(p->pol, in);
	o.body_matched = body_match;
	if (!dial_decide(&p->dial, &o, true, &delay))
		return false;
	p->state = PQ_DISCARDING;
	p->retry_delay_ms = delay; /* taken once the body is gone */
	return true;
}

/* Does a response to this request carry a body (RFC 9110 section 6.4.1)? */
static bool
response_has_body(const struct preq *p, int status)
{
	return p->cmd != EVHTTP_REQ_HEAD && status >= 200 && status != 204 &&
	    status != 304;
}

/*
 * A response head arrived and its body is not the client's yet (peeked
 * or drained): the deadline still holds (per_try_timeout ended with the
 * head).
 */
static void
arm_body_deadline(struct preq *p)
{
	if (p->pol->deadline_ms > 0)
		dial_arm(&p->dial, p->pol->deadline_ms, FK_RESPONSE_TIMEOUT);
}

/*
 * The body is the client's from here: allow body_timeout between reads
 * (unless it is all here already) and read a body of more than a few
 * reads in big pieces.
 */
static void
stream_body(struct preq *p, const char *cl)
{
	uint64_t n = cl != NULL ? strtoull(cl, NULL, 10) : UINT64_MAX;
	struct timeval tv;

	if (p->uc == NULL)
		return;
	if (n > evbuffer_get_length(bufferevent_get_input(
		    evhttp_connection_get_bufferevent(p->uc->evcon)))) {
		tv = rp_tv(p->pol->body_timeout_ms);
		upstream_set_timeout(p->uc, &tv);
	}
	if (n > BODYREAD_WORTH)
		upstream_read_body(p->uc);
}

/* A retried response: drain a short body (keeping the connection), or close. */
static int
drain_or_close(struct preq *p, int status, const char *cl)
{
	if (response_has_body(p, status) &&
	    (cl == NULL || strtoull(cl, NULL, 10) > DRAIN_MAX)) {
		uint64_t delay = p->retry_delay_ms;
		p->ureq = NULL; /* the abort calls error_cb: ignore */
		upstream_discard(p->uc);
		p->uc = NULL;
		schedule_retry(p, delay);
		return -1;
	}
	arm_body_deadline(p);
	return 0;
}

/*
 * The head answering a resume's range request: the rest of the body
 * (spliced in: the client's reply goes on), a status the policy retries,
 * or the end of the client's response (from the loop: evhttp calls back
 * while it aborts).
 */
static int
resume_answer(
    struct preq *p, struct evhttp_request *ureq, int status, const char *cl)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(ureq);
	struct resume_head h = {.status = status, .content_length = cl};
	const char *why;
	uint64_t total;

	h.etag = evhttp_find_header(in, "ETag");
	h.last_modified = evhttp_find_header(in, "Last-Modified");
	why = resume_accept(&p->resume, p->bytes, &h,
	    evhttp_find_header(in, "Content-Range"), &total);
	if (why == NULL) {
		p->resuming = false;
		p->resume.total = total;
		p->resume.count++;
		p->state = PQ_STREAMING;
		metrics_broken_body(true);
		log_info("%s %s: the body broke after %llu bytes; resumed "
			 "(attempt %u)",
		    p->method, p->uri, (unsigned long long)p->bytes,
		    p->dial.attempt);
		stream_body(p, cl);
		return 0;
	}
	if (decide_response(p, ureq, false))
		return drain_or_close(p, status, cl);
	p->resume_end = why;
	p->ureq = NULL;
	dial_arm(&p->dial, 0, FK_CONNECTION_TERMINATED);
	return -1;
}

static int
upstream_header_cb(struct evhttp_request *ureq, void *arg)
{
	struct preq *p = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(ureq);
	const char *cl = evhttp_find_header(in, "Content-Length");
	int status = evhttp_request_get_response_code(ureq);
	char ra[24];

	if (p->ureq != ureq)
		return 0;
	p->state = PQ_HEAD;
	dial_disarm(&p->dial);
	/* the first head: any hedge still on its way has lost */
	hedge_disarm(p);
	hedge_cancel_all(p, NULL, METRICS_HEDGE_LOST);
	if (p->pol->hedge_after.pct > 0 && !p->ttfb_noted && !p->resuming &&
	    status != 101) {
		uint64_t now = util_now_ms();
		tail_add(&((struct route *)p->route)->tail,
		    now - p->dial.attempt_start_ms, now);
	}
	p->ttfb_noted = false;
	/* how long the origin keeps the connection idle, if it says */
	if (p->uc != NULL)
		upstream_note_keepalive(p->uc,
		    http_keepalive_timeout_ms(
			evhttp_find_header(in, "Keep-Alive")));
	/*
	 * resphold passed evhttp only a valid, final head (reqscan refuses
	 * bad names, control characters, two lengths, CL with TE), but a
	 * 101: we asked for no upgrade.
	 */
	if (status == 101) {
		/*
		 * Never forwarded: a failed attempt.  Aborting here makes
		 * evhttp call our callbacks again, so decide from the loop.
		 */
		p->ureq = NULL;
		dial_arm(&p->dial, 0, FK_HTTP_PROTOCOL_ERROR);
		return -1;
	}
	/*
	 * libevent reads a keep-alive response without a length as empty;
	 * without Connection it reads until close, which is right.
	 */
	if (cl == NULL && evhttp_find_header(in, "Transfer-Encoding") == NULL)
		evhttp_remove_header(in, "Connection");
	/* what comes after this field is not the head's (trailers) */
	p->last_field = TAILQ_LAST(in, evkeyvalq);
	/* a parent's own error: the next attempt goes through another */
	if (p->dial.parent != NULL &&
	    parent_response_is_own(status, find_field, in))
		dial_parent_failed(&p->dial);
	else
		dial_note_response(&p->dial, status,
		    policy_retry_after(p->pol, status, find_field, in,
			util_wall_ms(), ra, sizeof ra));
	if (p->resuming)
		return resume_answer(p, ureq, status, cl);
	if (p->pol->retry_if_body != NULL &&
	    p->dial.attempt < p->dial.max_attempts &&
	    response_has_body(p, status)) {
		struct outcome o = {.status = status};
		o.header_matched = header_matches(p->pol, in);
		if (!policy_outcome_is_retryable(p->pol, &o)) {
			p->state = PQ_PEEKING;
			p->peek = evbuffer_new();
			arm_body_deadline(p);
			return 0;
		}
	}
	if (decide_response(p, ureq, false))
		return drain_or_close(p, status, cl);
	proxy_start_reply(p, ureq);
	stream_body(p, cl);
	return 0;
}

/*
 * The peeked response is the client's after all (no match within
 * PEEK_MAX, or no time left to retry): send what was peeked, then
 * stream the rest as it comes.
 */
static void
stop_peeking(struct preq *p, struct evhttp_request *ureq)
{
	struct evbuffer *peek = p->peek;

	p->state = PQ_HEAD;
	p->peek = NULL;
	dial_disarm(&p->dial);
	proxy_start_reply(p, ureq);
	proxy_forward_chunk(p, peek);
	evbuffer_free(peek);
	stream_body(p,
	    evhttp_find_header(
		evhttp_request_get_input_headers(ureq), "Content-Length"));
}

static void
upstream_chunk_cb(struct evhttp_request *ureq, void *arg)
{
	struct preq *p = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(ureq);

	if (p->ureq != ureq)
		return;
	if (p->state == PQ_DISCARDING)
		return; /* evhttp drains the buffer after this */
	if (p->state == PQ_PEEKING) {
		evbuffer_add_buffer(p->peek, in);
		/* retryproxy.ini(5): a body longer than PEEK_MAX does not match */
		if (evbuffer_get_length(p->peek) > PEEK_MAX &&
		    !decide_response(p, ureq, false))
			stop_peeking(p, ureq);
		return;
	}
	if (p->state == PQ_STREAMING)
		/*
		 * Straight on: eagerwrite sends what a loop turn queued in
		 * one write, and bodyread reads big bodies in big pieces.
		 */
		proxy_forward_chunk(p, in);
}

/*
 * Why a connection failed before the request went out: a certificate
 * that did not verify (final), another TLS failure, or TCP.
 */
static enum fail_kind
connect_failure(struct preq *p)
{
	struct bufferevent *bev;
	unsigned long err;

	if (p->uc == NULL || !p->uc->tls)
		return FK_CONNECTION_REFUSED;
	if (p->uc->tls_verify_err != 0) {
		log_warnx("%s:%u: certificate not accepted: %s", p->up_host,
		    p->up_port, tls_verify_error_string(p->uc->tls_verify_err));
		return FK_TLS_CERTIFICATE_ERROR;
	}
	bev = evhttp_connection_get_bufferevent(p->uc->evcon);
	/*
	 * bufferevent_openssl records a TCP failure during the handshake as
	 * the bare SSL_ERROR_SYSCALL (no library code): the TCP connect
	 * failed, not TLS.
	 */
	err = bufferevent_get_openssl_error(bev);
	return err != 0 && ERR_GET_LIB(err) != 0 ? FK_TLS_PROTOCOL_ERROR
						 : FK_CONNECTION_REFUSED;
}

static void
upstream_error_cb(enum evhttp_request_error err, void *arg)
{
	struct preq *p = arg;
	enum fail_kind kind;

	if (p->ureq == NULL || p->state == PQ_DONE)
		return; /* ours: a cancel or an abort already handled */
	p->ureq = NULL; /* evhttp frees it */
	if (p->state == PQ_STREAMING) {
		/*
		 * The body broke after it started: resumed when it may be
		 * (attempt_failed), else truncated -- never spliced blind.
		 */
		attempt_failed(p,
		    err == EVREQ_HTTP_TIMEOUT ? FK_RESPONSE_TIMEOUT
					      : FK_CONNECTION_TERMINATED);
		return;
	}
	if (p->state == PQ_DISCARDING) {
		uint64_t delay = p->retry_delay_ms;
		upstream_discard(p->uc);
		p->uc = NULL;
		schedule_retry(p, delay);
		return;
	}
	switch (err) {
	case EVREQ_HTTP_TIMEOUT:
		kind = p->state >= PQ_SENT ? FK_RESPONSE_TIMEOUT
					   : FK_CONNECTION_TIMEOUT;
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		kind = FK_HTTP_PROTOCOL_ERROR;
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		kind = p->state >= PQ_HEAD ? FK_HTTP_PROTOCOL_ERROR
					   : FK_RESPONSE_HEADER_TOO_BIG;
		break;
	default:
		if (p->state == PQ_CONNECTING) {
			/* nothing went out: a connect or handshake failure */
			kind = connect_failure(p);
			break;
		}
		kind = FK_CONNECTION_TERMINATED;
		/*
		 * A reused keep-alive connection that breaks before any
		 * response byte: the server had closed it (learned, for the
		 * next warm_reuse).  Re-send once on a fresh connection,
		 * without counting an attempt, if the request may be re-sent
		 * at all; one that may not (warm_reuse) fails here.
		 */
		if (p->reused && p->state < PQ_HEAD && p->uc != NULL)
			upstream_note_stale(p->uc);
		if (p->reused && p->state < PQ_HEAD && !p->stale_resent &&
		    p->resendable && hedge_in_flight(p) == NULL) {
			p->stale_resent = true;
			p->force_fresh = true;
			p->dial.attempt--;
			attempt_stop_io(p, false);
			if (log_debug_enabled())
				log_debug("%s %s: stale keep-alive "
					  "connection, re-sending",
				    p->method, p->uri);
			schedule_retry(p, 0);
			return;
		}
		break;
	}
	attempt_failed(p, kind);
}

static void
upstream_done_cb(struct evhttp_request *ureq, void *arg)
{
	struct preq *p = arg;

	if (ureq == NULL || p->ureq != ureq || p->state == PQ_DONE)
		return;
	if (evhttp_request_get_response_code(ureq) == 0 && p->state < PQ_HEAD) {
		/* connect failed: refused, unreachable or timed out */
		uint64_t took = util_now_ms() - p->dial.attempt_start_ms;
		p->ureq = NULL;
		attempt_failed(p,
		    took + 5 >= p->pol->connect_timeout_ms
			? FK_CONNECTION_TIMEOUT
			: connect_failure(p));
		return;
	}
	p->ureq = NULL; /* evhttp frees it after this callback */
	if (p->state == PQ_DISCARDING) {
		uint64_t delay = p->retry_delay_ms;
		attempt_stop_io(p, true);
		schedule_retry(p, delay);
		return;
	}
	if (p->state == PQ_PEEKING) {
		p->state = PQ_HEAD;
		if (decide_response(p, ureq, body_matches(p))) {
			uint64_t delay = p->retry_delay_ms;
			attempt_stop_io(p, true);
			schedule_retry(p, delay);
			return;
		}
		proxy_start_reply(p, ureq);
		if (p->peek != NULL)
			proxy_forward_chunk(p, p->peek);
	}
	proxy_finish_reply(p);
}

/* ---- starting an attempt -------------------------------------------- */

/*
 * dial's attempt timer ran out (kind: what it meant), or the name did
 * not resolve.
 */
static void
dial_failed_cb(struct dial *d, enum fail_kind kind)
{
	struct preq *p = d->arg;

	if (p->state == PQ_PEEKING && p->ureq != NULL) {
		/* the deadline, while peeking: what decides now is final */
		if (!decide_response(p, p->ureq, body_matches(p)))
			stop_peeking(p, p->ureq);
		return;
	}
	if (p->state == PQ_DISCARDING) {
		/* the deadline, while a retried body drained: no retry */
		attempt_stop_io(p, false);
		reply_failure(p, FK_RESPONSE_TIMEOUT);
		return;
	}

	if (p->state == PQ_CONNECTING && kind == FK_RESPONSE_TIMEOUT)
		kind = FK_CONNECTION_TIMEOUT;
	attempt_failed(p, kind);
}

/*
 * resphold refused the response head (evhttp never saw it): too big is
 * final, anything else malformed is a failed attempt like a reset.
 */
static void
head_refused_cb(const struct reqscan *scan, void *arg)
{
	struct preq *p = arg;

	if (p->state == PQ_DONE || p->uc == NULL)
		return;
	if (log_debug_enabled())
		log_debug("%s %s: attempt %u to %s:%u: response head refused: "
			  "%s",
		    p->method, p->uri, p->dial.attempt, p->up_host, p->up_port,
		    scan->why);
	attempt_failed(p,
	    scan->status == 431 ? FK_RESPONSE_HEADER_TOO_BIG
				: FK_HTTP_PROTOCOL_ERROR);
}

/* evhttp wrote the request: the connection is up; time the response. */
static void
sent_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct preq *p = arg;

	if (info->n_added == 0 || p->state != PQ_CONNECTING)
		return;
	p->state = PQ_SENT;
	if (p->uc != NULL)
		upstream_set_nodelay(p->uc);
	/* (removing an entry from inside its callback is allowed) */
	evbuffer_remove_cb_entry(buf, p->sent_cbe);
	p->sent_cbe = NULL;
	if (!p->reused)
		dial_connected(&p->dial); /* a new connection: not avoided */
	if (p->uc != NULL)
		p->uc->connected = true;
	dial_arm(&p->dial, p->pol->per_try_timeout_ms, FK_RESPONSE_TIMEOUT);
}

static void
send_on(struct preq *p)
{
	struct evhttp_request *ureq;
	struct evhttp_connection *evcon = p->uc->evcon;
	struct timeval tv;
	int rc;

	ureq = evhttp_request_new(upstream_done_cb, p);
	evhttp_request_set_header_cb(ureq, upstream_header_cb);
	evhttp_request_set_chunked_cb(ureq, upstream_chunk_cb);
	evhttp_request_set_error_cb(ureq, upstream_error_cb);
	upreq_build(p, ureq, p->up_host, p->up_port, p->up_tls);
	/* evhttp's own timeout only backs ours up (and limits body gaps) */
	tv = rp_tv((p->pol->per_try_timeout_ms > p->pol->connect_timeout_ms
			   ? p->pol->per_try_timeout_ms
			   : p->pol->connect_timeout_ms) +
	    1000);
	upstream_set_timeout(p->uc, &tv);
	upstream_expect_response(
	    p->uc, p->cfg->proxy.max_header_size, head_refused_cb, p);
	p->sent_cbe = evbuffer_add_cb(
	    bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)),
	    sent_cb, p);
	p->ureq = ureq;
	p->busy++;
	if (p->dial.parent != NULL) {
		/* a parent gets the absolute form (RFC 9112 section 3.2.2) */
		char host[320], *abs;
		http_host_value(
		    host, sizeof host, p->up_host, p->up_port, false);
		abs = xasprintf("http://%s%s", host, p->target);
		rc = upstream_make_request(p->uc, ureq, p->cmd, abs);
		free(abs);
	} else
		rc = upstream_make_request(p->uc, ureq, p->cmd, p->target);
	p->busy--;
	if (p->free_pending) {
		proxy_free(p);
		return;
	}
	if (rc != 0 && p->ureq == ureq) {
		/* (2.1.12 does not free the request on this path) */
		p->ureq = NULL;
		evhttp_request_free(ureq);
		attempt_failed(p, FK_CONNECTION_REFUSED);
	}
}

static bool
addr_denied(struct preq *p, const struct sockaddr *sa)
{
	return p->cfg->proxy.deny.n > 0 &&
	    cidr_set_contains(&p->cfg->proxy.deny, sa);
}

static void
reply_denied(struct preq *p)
{
	if (p->replying) {
		end_broken(p, "the address is denied");
		return;
	}
	attempt_stop_io(p, false);
	p->status = 403;
	p->error = "http_request_denied";
	proxy_restore_client(p);
	p->hedge_won = false; /* (the answer is ours) */
	proxy_done(p);
	client_reply_text(p->creq, 403, "Forbidden",
	    "retryproxy; error=http_request_denied", false,
	    "retryproxy: the destination address is denied by [proxy] deny\n");
	proxy_free(p);
}

/* dial found the address for this attempt: connect (through the pool). */
static void
dial_resolved_cb(struct dial *d, const struct sockaddr *sa)
{
	struct preq *p = d->arg;

	/* (through a parent, dial resolved the parent's name) */
	d->host = p->up_host;
	d->port = p->up_port;
	p->uc = upstream_connect(
	    p->w->pool, &p->origin, sa, p->cfg->proxy.max_header_size);
	if (p->uc == NULL) {
		/* (out of memory here, not a refusal by the address) */
		dial_using(d, NULL);
		attempt_failed(p, FK_CONNECTION_REFUSED);
		return;
	}
	p->reused = false;
	send_on(p);
}

static void
dial_denied_cb(struct dial *d)
{
	reply_denied(d->arg);
}

static void
dial_retry_cb(struct dial *d)
{
	attempt_start(d->arg);
}

/* A warm pooled connection for a request that may not be re-sent. */
static struct upstream_conn *
take_warm(struct preq *p)
{
	enum warm_outcome why;
	struct upstream_conn *uc = upstream_take_warm(
	    p->w->pool, &p->origin, dial_pool_usable, &p->dial, &why);

	metrics_warm_reuse(why);
	return uc;
}

/* Where attempt n goes (policy_target). */
static void
pick_target(struct preq *p, unsigned n)
{
	struct policy_target t;

	policy_target(p->pol, p->url.host, p->url.port, p->url.port_given,
	    p->url.scheme == HTTP_SCHEME_HTTPS, n, &t);
	p->up_host = t.host;
	p->up_port = t.port;
	p->up_tls = t.tls;
}

/* The origin is held and hold = fail (or the deadline is too near). */
static void
reply_held(struct preq *p, int status, uint64_t left_ms)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->creq);
	char body[512], ra[16];

	if (p->replying) {
		end_broken(p, "the origin is held (hold)");
		return;
	}
	p->status = status;
	p->error = "origin_held";
	snprintf(ra, sizeof ra, "%u", dial_retry_after_s(left_ms));
	snprintf(body, sizeof body,
	    "retryproxy: %s:%u answered %d with Retry-After; it is left alone "
	    "for %s s more (hold)\n",
	    p->up_host, p->up_port, status, ra);
	evhttp_add_header(out, "Retry-After", ra);
	if (p->cfg->proxy.via)
		evhttp_add_header(out, "Via", "1.1 retryproxy");
	proxy_restore_client(p);
	p->hedge_won = false; /* (the answer is ours) */
	proxy_done(p);
	client_reply_text(p->creq, status, canned_reason(status),
	    CANNED_HELD_STATUS, false, body);
	proxy_free(p);
}

/* The origin is ejected and no fallback is left: 503 at once. */
static void
reply_ejected(struct preq *p, uint64_t left_ms)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->creq);
	char body[512], ra[16];

	if (p->replying) {
		end_broken(p, "the origin is ejected");
		return;
	}
	p->status = 503;
	p->error = "destination_unavailable";
	snprintf(ra, sizeof ra, "%u", dial_retry_after_s(left_ms));
	snprintf(body, sizeof body,
	    "retryproxy: %s:%u %s; it is left alone for %s s more (%s)\n",
	    p->up_host, p->up_port, p->dial.ejected_why, ra,
	    p->dial.ejected_key);
	evhttp_add_header(out, "Retry-After", ra);
	if (p->cfg->proxy.via)
		evhttp_add_header(out, "Via", "1.1 retryproxy");
	proxy_restore_client(p);
	p->hedge_won = false; /* (the answer is ours) */
	proxy_done(p);
	client_reply_text(p->creq, 503, canned_reason(503),
	    CANNED_EJECTED_STATUS, false, body);
	proxy_free(p);
}

void
attempt_start(struct preq *p)
{
	const struct policy *pol = p->pol;
	const struct parent *parent;
	struct upstream_origin origin;
	int held_status = 0;
	uint64_t left = 0;
	bool fresh;

	pick_target(p, p->dial.attempt + 1);
	switch (
	    dial_gate(&p->dial, p->up_host, p->up_port, &held_status, &left)) {
	case DIAL_GO:
		break;
	case DIAL_WAIT:
		/* (then here again: the hold may have grown meanwhile) */
		schedule_retry(p, left);
		return;
	case DIAL_HELD:
		reply_held(p, held_status, left);
		return;
	case DIAL_EJECTED:
		/* straight to a fallback, when a later attempt has one */
		if (p->pol->nfallbacks > 0 &&
		    p->dial.attempt + 1 < p->dial.max_attempts) {
			dial_skip(&p->dial);
			attempt_start(p);
			return;
		}
		reply_ejected(p, left);
		return;
	}
	dial_begin(&p->dial);
	p->state = PQ_CONNECTING;
	p->hedge_won = false;
	p->reused = false;
	p->warm = false;
	p->dial.host = p->up_host; /* (for its log lines) */
	p->dial.port = p->up_port;
	origin.host = p->up_host;
	origin.port = p->up_port;
	origin.verify = pol->verify;
	origin.tls = NULL;
	origin.parent = false;
	if (p->up_tls &&
	    (origin.tls = worker_tls_ctx(p->w, pol->verify)) == NULL) {
		attempt_failed(p, FK_TLS_PROTOCOL_ERROR);
		return;
	}
	/*
	 * Through a parent: a plain request goes to it, over a connection
	 * pooled per parent.  (Over TLS it would need a CONNECT tunnel
	 * under evhttp, which libevent 2.1 cannot take: direct.)
	 */
	if (!p->up_tls && (parent = dial_pick_parent(&p->dial)) != NULL) {
		origin.host = parent->host;
		origin.port = parent->port;
		origin.parent = true;
		p->dial.host = parent->host;
		p->dial.port = parent->port;
		/* (a failure to resolve or reach the parent: dial restores) */
		p->dial.origin_host = p->up_host;
		p->dial.origin_port = p->up_port;
	} else {
		p->dial.parent = NULL;
		p->dial.origin_host = NULL;
	}
	p->origin = origin;
	dial_arm(&p->dial, pol->connect_timeout_ms, FK_CONNECTION_TIMEOUT);
	hedge_arm(p);
	/*
	 * A request that may not be re-sent rides a pooled connection only
	 * when it is warm (upstream_take_warm): one the origin is closing
	 * would lose it, and it may not be sent again.
	 */
	fresh = p->force_fresh || (!p->resendable && !pol->warm_reuse);
	p->force_fresh = false;
	if (!fresh) {
		if (p->resendable)
			p->uc = upstream_take_idle(
			    p->w->pool, &p->origin, dial_pool_usable, &p->dial);
		else
			p->uc = take_warm(p);
		/* opened before a reload that denies its address: not used */
		if (p->uc != NULL &&
		    addr_denied(p, (const struct sockaddr *)&p->uc->peer)) {
			reply_denied(p);
			return;
		}
		if (p->uc != NULL) {
			dial_using(
			    &p->dial, (const struct sockaddr *)&p->uc->peer);
			p->dial.host = p->up_host;
			p->dial.port = p->up_port;
			p->reused = p->uc->connected;
			p->warm = p->reused && !p->resendable;
			send_on(p);
			return;
		}
	}
	dial_resolve(&p->dial, origin.host, origin.port);
}

void
attempt_init(struct preq *p)
{
	dial_init(&p->dial, p->w, p->cfg, p->route, p->method, p);
	p->dial.failed_cb = dial_failed_cb;
	p->dial.denied_cb = dial_denied_cb;
	p->dial.retry_cb = dial_retry_cb;
	p->dial.resolved_cb = dial_resolved_cb;
	hedge_init(p, hedge_won);
}

/* ---- hedges (hedge.h) ----------------------------------------------- */

/*
 * The hedge h (its request sent, or its connection under way) becomes
 * the attempt in flight: its connection, request and timer are the
 * attempt's from here, and its callbacks are the attempt's.
 */
static void
take_over(struct preq *p, struct hedge *h)
{
	struct evhttp_request *ureq = h->ureq;
	uint64_t now = util_now_ms(), ms;

	p->uc = h->uc;
	h->uc = NULL;
	p->ureq = ureq;
	h->ureq = NULL;
	p->origin = h->origin;
	p->up_host = h->host;
	p->up_port = h->port;
	p->up_tls = h->tls;
	p->reused = h->reused;
	p->warm = false;
	p->hedge_won = true; /* (until another attempt, or an answer of ours) */
	if (h->sent_cbe != NULL) {
		struct evbuffer *out = bufferevent_get_output(
		    evhttp_connection_get_bufferevent(p->uc->evcon));
		evbuffer_remove_cb_entry(out, h->sent_cbe);
		h->sent_cbe = NULL;
		p->sent_cbe = evbuffer_add_cb(out, sent_cb, p);
	}
	if (ureq != NULL) {
		ureq->cb = upstream_done_cb;
		ureq->cb_arg = p;
		evhttp_request_set_header_cb(ureq, upstream_header_cb);
		evhttp_request_set_chunked_cb(ureq, upstream_chunk_cb);
		evhttp_request_set_error_cb(ureq, upstream_error_cb);
	}
	upstream_response_owner(p->uc, head_refused_cb, p);
	dial_take_over(&p->dial, &h->dial);
	/* the time it has left, as if it had been the attempt all along */
	if (h->sent_ms != 0) {
		p->state = PQ_SENT;
		ms = p->pol->per_try_timeout_ms;
		ms = now - h->sent_ms < ms ? ms - (now - h->sent_ms) : 1;
		dial_arm(&p->dial, ms, FK_RESPONSE_TIMEOUT);
	} else {
		p->state = PQ_CONNECTING;
		ms = p->pol->connect_timeout_ms;
		ms = now - h->dial.attempt_start_ms < ms
		    ? ms - (now - h->dial.attempt_start_ms)
		    : 1;
		dial_arm(&p->dial, ms, FK_CONNECTION_TIMEOUT);
	}
	hedge_release(h);
	/* (the next hedge, if hedge_max allows: as for any attempt) */
	hedge_arm(p);
}

/*
 * A hedge's response head came first (from its header callback): the
 * hedge becomes the attempt, the first copy is cancelled, and the head
 * is decided on as the attempt's.  Returns the header callback's answer.
 */
static int
hedge_won(struct preq *p, struct hedge *h, struct evhttp_request *ureq)
{
	uint64_t now = util_now_ms();

	metrics_hedge(METRICS_HEDGE_WON);
	if (log_debug_enabled())
		log_debug("%s %s: the hedge to %s:%u answered first", p->method,
		    p->uri, h->host, h->port);
	/* the first copy took at least this long (for hedge_after = pNN) */
	if (p->pol->hedge_after.pct > 0) {
		tail_add(&((struct route *)p->route)->tail,
		    now - p->dial.attempt_start_ms, now);
		p->ttfb_noted = true;
	}
	dial_log_unfinished(&p->dial);
	attempt_stop_io(p, false); /* the first copy: cancelled, closed */
	hedge_cancel_all(p, h, METRICS_HEDGE_LOST);
	take_over(p, h);
	return upstream_header_cb(ureq, p);
}
