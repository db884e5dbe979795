/*
 * relay: the raw lane (see relay.h).  One struct relay per request, in
 * one state at a time (enum relay_state); every way out goes through
 * relay_end().  The attempt loop is dial.c's; the heads are msghead.c's;
 * the request body is rawbody.c's; the framing of both bodies is
 * reqscan's.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "acl.h"
#include "avoid.h"
#include "bodyread.h"
#include "canned.h"
#include "client.h"
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
#include "relay.h"
#include "resume.h"
#include "tls.h"
#include "tunnel.h"
#include "util.h"
#include "worker.h"
#include "zbody.h"

#define RELAY_HWM (256 * 1024) /* stop reading a side above this */
#define RELAY_LWM (64 * 1024) /* resume below this */

enum relay_state {
	RS_BODY, /* reading a body to hold it whole */
	RS_CONNECTING, /* dial's attempt: resolving, connecting */
	RS_EXCHANGE, /* request going out, response head awaited */
	RS_BACKOFF, /* waiting to try again */
	RS_RESPONDING, /* the response's body goes to the client */
	RS_FLUSHING, /* the response is whole; the client has it queued */
	RS_ENDED,
};

struct relay {
	struct worker *w;
	char user[128]; /* auth = basic: who (for the access log) */
	int reply_flags; /* more canned flags for reply() (a 407's) */
	struct evhttp_connection *cevcon;
	struct bufferevent *cbev;
	struct bufferevent *ubev;
	struct config *cfg;
	const struct route *route;
	struct dial dial;
	enum relay_state state;
	struct msghead req;
	struct http_url url;
	char *target; /* origin-form, for upstream */
	char *uri; /* a gateway's request: the absolute URL built */
	const struct gateway *gw; /* came in on this gateway listener */
	char *xff, *fwd; /* the gateway's forwarding fields, or NULL */
	char client[64];
	bool upgrade, client_10, client_close;
	struct rawbody body; /* the request's */
	bool sent_any; /* a byte of this attempt went upstream */
	bool up_paused; /* the origin waits for the client */
	/* the response read in large pieces (libevent reads 4 KiB at a time) */
	struct bodyread uread;
	/* or its body spliced in the kernel (zbody.h, splice_body) */
	struct zbody zb;
	/* a streamed upload spliced to the origin (splice_upload) */
	struct zbody zup;
	/* the response */
	struct reqscan uscan;
	struct msghead resp;
	bool down_chunked; /* re-chunked for an HTTP/1.1 client */
	bool keep; /* the client connection goes on afterwards */
	/*
	 * The upstream connection: kept for the next request once the
	 * response is read whole (up_keep, to the pool under pool_key);
	 * this attempt's came from the pool (reused); a reused connection
	 * broke before any response byte and the request went again on a
	 * new one (stale_resent).
	 */
	bool up_may_keep, up_keep, reused, warm, stale_resent, force_fresh;
	struct sockaddr_storage up_peer;
	struct eagerwrite uew; /* the request goes out in the same loop turn */
	uint64_t up_keepalive_ms; /* the response's Keep-Alive: timeout= */
	/*
	 * ubev's timeouts, where known (from the pool, or set here): a write
	 * timeout of up_write_ms (0: none), a read timeout if up_read_timed.
	 */
	uint64_t up_write_ms;
	bool up_timeouts_known, up_read_timed;
	uint64_t idle_taken_ms; /* how long the pooled one had idled */
	char pool_key[RAWPOOL_KEY];
	/*
	 * A GET's body that breaks after the client's reply began is
	 * finished with "Range: bytes=N-" (resume.h; retryproxy.ini(5),
	 * resume): resuming while an attempt asks for the rest; resume_end
	 * says why it may not be (once known).
	 */
	struct resume resume;
	const char *resume_end;
	bool resuming;
	bool replying; /* the client has the response head */
	bool dial_stopped; /* stop_dial ran: no attempt ever again */
	/* outcome */
	int status;
	const char *error;
	uint64_t bytes_down;
	uint64_t wall_ms;
	struct event free_ev; /* frees it once the callbacks under way unwind */
	void (*done)(void *, enum relay_end);
	void *ctx;
};

static void relay_attempt(struct relay *);

/*
 * The attempts are over (the response is queued whole, or the request
 * ended): once, not at each of finish, relay_end and free_relay (three
 * event_dels each time, for every request).
 */
static void
stop_dial(struct relay *r)
{
	if (r->dial_stopped)
		return;
	r->dial_stopped = true;
	dial_stop(&r->dial);
}
struct policy_target;
static bool attempt_pooled(struct relay *, const struct policy_target *);

/*
 * The upstream connection is done with: stop reading it, and close it,
 * or keep it for the next request (up_keep: its response was read whole,
 * by its framing, and nothing followed).
 */
/* A spliced body stopped, its bytes counted as if copied (zbody.h). */
static void
splice_stop(struct relay *r)
{
	uint64_t n = zbody_stop(&r->zb);

	r->bytes_down += n;
	reqscan_body_taken(&r->uscan, n);
}

static void
upload_stop(struct relay *r)
{
	rawbody_spliced(&r->body, zbody_stop(&r->zup));
}

static void
close_upstream(struct relay *r)
{
	splice_stop(r); /* (before its socket goes) */
	upload_stop(r);
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

static void client_read_cb(struct bufferevent *, void *);
static void up_read_cb(struct bufferevent *, void *);

/* ---- the end ------------------------------------------------------- */

/* "addr:port" of the client, for the log: made when first asked for. */
static const char *
client_text(struct relay *r)
{
	if (r->client[0] == '\0')
		client_name(r->cevcon, r->client, sizeof r->client);
	return r->client;
}

static void
log_request(struct relay *r)
{
	struct access_entry e;

	metrics_request(r->route->metrics, r->status, r->dial.attempt,
	    util_now_ms() - r->dial.start_ms);
	metrics_raw_lane(rawbody_is_streamed(&r->body));
	if (!log_access_enabled())
		return;
	memset(&e, 0, sizeof e);
	e.wall_ms = r->wall_ms;
	e.client = client_text(r);
	e.method = r->req.method != NULL ? r->req.method : "-";
	e.url = r->uri != NULL	    ? r->uri
	    : r->req.target != NULL ? r->req.target
				    : "-";
	e.gateway = r->gw != NULL ? r->gw->addr.text : NULL;
	e.status = r->status;
	dial_log_fields(&r->dial, &e);
	e.bytes = r->bytes_down;
	e.error = r->error;
	e.conn = r->warm ? "warm" : r->reused ? "reused" : NULL;
	e.user = r->user;
	e.resumes = r->resume.count;
	log_access_entry(&r->w->line, &e);
}

/*
 * A request's memory comes from the worker's spares when it has some,
 * and goes back there: a struct relay is ~6 KB (its dial, two heads'
 * fields, its events), above what malloc keeps at hand for quick reuse,
 * and malloc and free were ~15 % of a GET's cycles (perf, bench get100).
 * As many as a busy worker has in flight at once: with 16, 25 keep-alive
 * clients a worker (bench's 50 on two) ended and began theirs in batches
 * past the spares, and each one past them cost a calloc of 6 KB (2,400
 * instructions of memset a request, callgrind, one worker, 50 clients:
 * 29.0k instructions a request with 16, 26.5k with 64).  64 of them are
 * 400 KB a worker, kept only once that many were in flight.
 */
#define SPARE_RELAYS 64

static struct relay *
relay_alloc(struct worker *w)
{
	struct relay *r = w->spare_relays;

	if (r == NULL)
		return xcalloc(1, sizeof *r);
	w->spare_relays = r->ctx; /* (the link while spare) */
	w->nspare_relays--;
	/* (all but the dial: dial_init, always next, zeroes what it needs) */
	memset(r, 0, offsetof(struct relay, dial));
	memset((char *)&r->dial + sizeof r->dial, 0,
	    sizeof *r - offsetof(struct relay, dial) - sizeof r->dial);
	return r;
}

static void
relay_release(struct relay *r)
{
	struct worker *w = r->w;

	if (w->nspare_relays >= SPARE_RELAYS) {
		free(r);
		return;
	}
	r->ctx = w->spare_relays;
	w->spare_relays = r;
	w->nspare_relays++;
}

void
relay_spares_free(struct worker *w)
{
	while (w->spare_relays != NULL) {
		struct relay *r = w->spare_relays;
		w->spare_relays = r->ctx;
		free(r);
	}
	w->nspare_relays = 0;
}

static void
free_relay(struct relay *r)
{
	stop_dial(r);
	close_upstream(r);
	rawbody_free(&r->body);
	msghead_free(&r->req);
	msghead_free(&r->resp);
	resume_clear(&r->resume);
	free(r->target);
	free(r->uri);
	free(r->xff);
	free(r->fwd);
	config_unref(r->cfg);
	worker_request_done(r->w);
	relay_release(r);
}

static void
free_later_cb(evutil_socket_t fd, short what, void *arg)
{
	free_relay(arg);
}

/* The one way out: log, hand the client connection back, free. */
static void
relay_end(struct relay *r, enum relay_end how)
{
	void (*done)(void *, enum relay_end) = r->done;
	void *ctx = r->ctx;

	if (r->state == RS_ENDED)
		return;
	r->state = RS_ENDED;
	if (r->status == 0)
		r->status = 499;
	splice_stop(r); /* (its bytes counted for the log) */
	upload_stop(r);
	log_request(r);
	if (how != RELAY_TUNNEL && how != RELAY_GONE)
		bufferevent_setcb(r->cbev, NULL, NULL, NULL, NULL);
	/* no more I/O; the memory goes once the callbacks under way unwind */
	rawbody_stop(&r->body);
	stop_dial(r);
	close_upstream(r);
	/* (its own event: event_base_once would allocate one) */
	evtimer_assign(&r->free_ev, r->w->base, free_later_cb, r);
	event_active(&r->free_ev, EV_TIMEOUT, 1);
	if (how != RELAY_GONE)
		done(ctx, how);
}

void
relay_client_gone(struct relay *r)
{
	client_text(r); /* (while evhttp's connection is there to ask) */
	if (r->status == 0)
		r->status = 499;
	relay_end(r, RELAY_GONE);
}

static void
close_written_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		relay_end(r, r->keep ? RELAY_KEEP : RELAY_CLOSE);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg);

/*
 * The response is queued whole: end once the client has it.  write_now:
 * the caller returns at once (it touches neither the relay's sockets nor
 * the client connection after), so the response may be written, and the
 * relay ended, from here.
 */
static void
finish_as(struct relay *r, bool write_now)
{
	struct evbuffer *out = bufferevent_get_output(r->cbev);

	/* (a response read whole by its framing, nothing after it: kept) */
	r->up_keep = r->up_may_keep && r->state == RS_RESPONDING &&
	    r->uscan.msg_done && r->body.done && r->ubev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(r->ubev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(r->ubev)) == 0;
	close_upstream(r);
	stop_dial(r);
	r->state = RS_FLUSHING;
	if (!r->body.done)
		r->keep = false; /* the rest of its body is in the way */
	rawbody_stop(&r->body);
	/*
	 * Most responses are whole here: written now, they end the relay
	 * at once (close_written_cb, below), without the write event's
	 * epoll change and wakeup, nor eagerwrite's turn, nor pausing the
	 * client's reading meanwhile (a TLS client's is the TLS layer's to
	 * write).
	 */
	if (write_now && evbuffer_get_length(out) > 0 &&
	    bufferevent_openssl_get_ssl(r->cbev) == NULL)
		(void)eagerwrite_now(r->cbev);
	if (evbuffer_get_length(out) > 0) {
		bufferevent_disable(r->cbev, EV_READ);
		bevset_watermark(r->cbev, EV_WRITE, 0, 0);
		bufferevent_enable(r->cbev, EV_WRITE);
	}
	bufferevent_setcb(r->cbev, NULL, close_written_cb, client_event_cb, r);
	close_written_cb(r->cbev, r);
}

static void
finish(struct relay *r)
{
	finish_as(r, false);
}

/*
 * The client's response ends short (why: in the log): its connection
 * closes where the bytes stop, so that it sees a cut, never a whole
 * response that is not -- after the bytes already queued for it (finish
 * flushes them; closing at once would drop them).
 */
static void
end_broken(struct relay *r, const char *why)
{
	log_info("%s %s: the body broke after %llu bytes and ends there: %s",
	    r->req.method, r->uri != NULL ? r->uri : r->req.target,
	    (unsigned long long)r->bytes_down, why);
	metrics_broken_body(false);
	if (r->error == NULL)
		r->error = "connection_terminated";
	r->up_may_keep = false;
	r->keep = false;
	finish(r);
}

/*
 * After the client's reply began, a reply of our own can only cut it:
 * true when it did (a resume's attempt was refused: held, ejected,
 * denied, failed).
 */
static bool
cut_if_replying(struct relay *r, const char *why)
{
	if (!r->replying)
		return false;
	end_broken(r, why);
	return true;
}

/*
 * May the client connection go on after a reply of our own?  Only when
 * the request was read whole (or had no body) and the client keeps it;
 * never after a malformed, cut or too large request (as evhttp's lane).
 */
static bool
reply_keeps(const struct relay *r, int status)
{
	/* (a HEAD's: our replies carry a body, which a HEAD's answer may not) */
	return r->body.done && !r->client_10 && !r->client_close &&
	    !r->upgrade && status != 400 && status != 408 && status != 413 &&
	    status != 508 && r->req.method != NULL &&
	    strcmp(r->req.method, "HEAD") != 0;
}

/* A reply of our own (nothing of a response was sent yet). */
static void
reply(struct relay *r, int status, const char *token, const char *body)
{
	struct sbuf out = {0};
	bool keep = reply_keeps(r, status);
	int flags = keep ? 0 : CANNED_CLOSE;

	if (cut_if_replying(r, token != NULL ? token : "refused"))
		return;
	r->status = status;
	r->error = token;
	if (status == 502 || status == 504) {
		if (r->cfg->proxy.via)
			flags |= CANNED_VIA;
		if (r->route->policy.report_attempts)
			flags |= CANNED_ATTEMPTS;
	}
	canned_format(&out, status, token,
	    status == 502 || status == 504 ? r->dial.attempt : 0,
	    flags | r->reply_flags, body);
	bufferevent_write(r->cbev, out.s, out.len);
	sbuf_free(&out);
	r->keep = keep;
	finish(r);
}

/* The origin is held and hold = fail (or the deadline is too near). */
static void
reply_held(struct relay *r, const char *host, unsigned port, int status,
    uint64_t left_ms)
{
	struct sbuf out = {0};
	char body[512];
	unsigned ra = dial_retry_after_s(left_ms);

	if (cut_if_replying(r, "origin_held"))
		return;
	r->status = status;
	r->error = "origin_held";
	snprintf(body, sizeof body,
	    "retryproxy: %s:%u answered %d with Retry-After; it is left alone "
	    "for %u s more (hold)\n",
	    host, port, status, ra);
	r->keep = reply_keeps(r, status);
	canned_format_later(&out, status, ra, CANNED_HELD_STATUS,
	    (r->keep ? 0 : CANNED_CLOSE) | (r->cfg->proxy.via ? CANNED_VIA : 0),
	    body);
	bufferevent_write(r->cbev, out.s, out.len);
	sbuf_free(&out);
	finish(r);
}

/* The origin is ejected and no fallback is left: 503 at once. */
static void
reply_ejected(
    struct relay *r, const char *host, unsigned port, uint64_t left_ms)
{
	struct sbuf out = {0};
	char body[512];
	unsigned ra = dial_retry_after_s(left_ms);

	if (cut_if_replying(r, "destination_unavailable"))
		return;
	r->status = 503;
	r->error = "destination_unavailable";
	snprintf(body, sizeof body,
	    "retryproxy: %s:%u %s; it is left alone for %u s more (%s)\n", host,
	    port, r->dial.ejected_why, ra, r->dial.ejected_key);
	r->keep = reply_keeps(r, 503);
	canned_format_later(&out, 503, ra, CANNED_EJECTED_STATUS,
	    (r->keep ? 0 : CANNED_CLOSE) | (r->cfg->proxy.via ? CANNED_VIA : 0),
	    body);
	bufferevent_write(r->cbev, out.s, out.len);
	sbuf_free(&out);
	finish(r);
}

static void
reply_failure(struct relay *r, enum fail_kind kind)
{
	char body[512];

	snprintf(body, sizeof body,
	    "retryproxy: %u attempt%s to %s:%u failed; last error: %s\n",
	    r->dial.attempt, r->dial.attempt == 1 ? "" : "s",
	    r->dial.host ? r->dial.host : r->url.host,
	    r->dial.host ? r->dial.port : r->url.port, fail_kind_token(kind));
	reply(r, fail_kind_status(kind), fail_kind_token(kind), body);
}

/* ---- attempts ------------------------------------------------------ */

/* May the request go again after something of it was sent? */
static bool
may_resend(const struct relay *r)
{
	return !rawbody_is_streamed(&r->body);
}

/*
 * May it be sent again even when an attempt may have reached the origin:
 * its whole body is here, and its method is listed (retry_methods) or it
 * carries an Idempotency-Key.
 */
static bool
resendable(const struct relay *r)
{
	return may_resend(r) && r->body.done &&
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
static void
body_broke(struct relay *r, enum fail_kind kind, const char *error)
{
	struct outcome o = {.fail = kind};
	const char *why;

	r->up_may_keep = false;
	close_upstream(r);
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
	end_broken(r, why);
}

/* This attempt failed (kind), or its response (status) is retried. */
static void
attempt_over(struct relay *r, const struct outcome *o)
{
	r->up_may_keep = false;
	close_upstream(r);
	/* a streamed body that started going is gone: nothing may repeat */
	if (dial_retry(&r->dial, o, may_resend(r) || !r->sent_any)) {
		r->state = RS_BACKOFF;
		return;
	}
	if (r->replying) {
		end_broken(r,
		    "no retry left (attempts, errors, retry_budget or "
		    "deadline)");
		return;
	}
	if (o->status == 0)
		reply_failure(r, o->fail);
}

static void
dial_failed_cb(struct dial *d, enum fail_kind kind)
{
	struct relay *r = d->arg;
	struct outcome o = {.fail = kind};

	if (r->state == RS_RESPONDING) {
		/* (the deadline) resumed when it may be, else cut */
		body_broke(r, kind, fail_kind_token(kind));
		return;
	}
	attempt_over(r, &o);
}

static void
dial_denied_cb(struct dial *d)
{
	struct relay *r = d->arg;

	reply(r, 403, "http_request_denied",
	    "retryproxy: the destination address is denied by [proxy] deny\n");
}

static void
dial_retry_cb(struct dial *d)
{
	relay_attempt(d->arg);
}

/* Body bytes from the client to the origin, as far as they go. */
static void
pump_up(struct relay *r)
{
	if (r->ubev == NULL || r->state != RS_EXCHANGE || r->zup.on)
		return;
	switch (rawbody_stream(
	    &r->body, bufferevent_get_output(r->ubev), RELAY_HWM)) {
	case RAWBODY_REFUSED:
		/* (a bad chunk, or past max_upload): cut both */
		r->error = "http_request_error";
		if (r->body.scan.status == 413) {
			reply(r, 413, "http_request_error",
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
		client_read_cb(r->cbev, r);
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
		end_broken(r,
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
		finish_as(r, true); /* (every caller returns after) */
		return;
	}
	if (evbuffer_get_length(out) >= RELAY_HWM && !r->up_paused) {
		/* the client reads slowly: stop reading the origin */
		r->up_paused = true;
		bodyread_reading(&r->uread, r->ubev, false);
		bufferevent_setwatermark(r->cbev, EV_WRITE, RELAY_LWM, 0);
	}
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
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
	from.client = client_text(r);
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
		free_relay(r);
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

	splice_stop(r);
	/* (the client's bufferevent writes again: a resumed body, a flush) */
	bufferevent_enable(r->cbev, EV_WRITE);
	switch (how) {
	case ZBODY_DONE:
		finish(r);
		return;
	case ZBODY_SHORT:
	case ZBODY_FROM_ERROR:
		body_broke(
		    r, FK_CONNECTION_TERMINATED, "connection_terminated");
		return;
	case ZBODY_FROM_TIMEOUT:
		body_broke(r, FK_RESPONSE_TIMEOUT, "http_response_timeout");
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
		finish_as(r, true); /* (response_head returns after) */
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
		end_broken(r, why);
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
	struct sbuf out = {0};
	const char *cause;
	char na[16], ra[24];
	const char *cl;
	int rc;

	/* (msghead copies what it parses: no copy of our own first) */
	msghead_free(&r->resp);
	rc = msghead_parse(
	    &r->resp, (const char *)evbuffer_pullup(in, n), n, true, &cause);
	evbuffer_drain(in, n);
	if (rc != 0) {
		o.fail = FK_HTTP_PROTOCOL_ERROR;
		attempt_over(r, &o);
		return;
	}
	if (r->resp.status == 101) {
		if (!r->upgrade) {
			o.fail = FK_HTTP_PROTOCOL_ERROR;
			attempt_over(r, &o);
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
	    !msghead_conn_has(&r->resp, "close");
	r->up_keepalive_ms =
	    http_keepalive_timeout_ms(msghead_get(&r->resp, "Keep-Alive"));
	/*
	 * Every response is decided, the last attempt's too: ejection counts
	 * it (dial_decide), and the policy says whether one more may go.
	 */
	if (r->resp.status != 101) {
		if (dial_retry(&r->dial, &o, may_resend(r) && r->body.done)) {
			/* its connection is kept when its body is all here */
			r->up_keep = r->up_may_keep && drained_whole(r);
			close_upstream(r);
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
	msghead_write_response(&r->resp, &mo, &out);
	/*
	 * (the client's writing is on from the response on, not before:
	 * from stream_body, or finish when the response is whole already)
	 */
	bufferevent_write(r->cbev, out.s, out.len);
	sbuf_free(&out);
	if (r->resp.status == 101) {
		bufferevent_enable(r->cbev, EV_WRITE);
		switch_protocols(r);
		return;
	}
	r->replying = true;
	stream_body(r);
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
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
				attempt_over(r, &o);
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

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
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
				end_broken(r,
				    "the answer to the range ended before "
				    "the original's length");
				return;
			}
			finish(r);
			return;
		}
		/* the body broke after it started: resumed, or cut */
		if (what & BEV_EVENT_TIMEOUT)
			body_broke(
			    r, FK_RESPONSE_TIMEOUT, "http_response_timeout");
		else
			body_broke(r, FK_CONNECTION_TERMINATED,
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
		close_upstream(r);
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
	attempt_over(r, &o);
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
	struct ssl_ctx_st *ctx = d->tls ? worker_tls_ctx(r->w) : NULL;

	r->pool_key[0] = '\0';
	if (!poolable(r) || d->parent != NULL || d->addr.family == 0 ||
	    (d->tls && ctx == NULL))
		return;
	avoid_addr_sockaddr(&d->addr, &r->up_peer);
	rawpool_key(r->pool_key, sizeof r->pool_key, d->host, d->port, d->tls,
	    d->verify, ctx != NULL ? tls_client_trust(ctx) : NULL);
}

/* The connection is up: send the head, then the body. */
/* The spliced upload ended (zbody.h): as pump_up would have seen it. */
static void
upload_end_cb(void *arg, enum zbody_end how)
{
	struct relay *r = arg;
	struct outcome o = {0};

	upload_stop(r);
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
		attempt_over(r, &o);
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
 * never re-sent once its head went (may_resend), spliced or not.
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

static void
dial_connected_cb(struct dial *d, struct bufferevent *bev)
{
	struct relay *r = d->arg;
	struct msghead_out mo = {0};
	struct sbuf out = {0};
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
	direct = !d->tls && r->body.done && evbuffer_get_length(uout) == 0;
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
	msghead_write_request(&r->req, &mo, &out);
	free(abs);
	evbuffer_add(uout, out.s, out.len);
	sbuf_free(&out);
	r->sent_any = true;
	rawbody_add_held(&r->body, uout);
	bufferevent_setcb(bev, up_read_cb, up_write_cb, up_event_cb, r);
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
	if (direct && eagerwrite_now(bev))
		bevset_events(bev, EV_READ, true);
	else
		bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (r->body.done)
		dial_arm(&r->dial, r->route->policy.per_try_timeout_ms,
		    FK_RESPONSE_TIMEOUT);
	if (!splice_upload(r))
		pump_up(r);
}

static void
relay_attempt(struct relay *r)
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
		reply_held(r, t.host, t.port, held_status, left);
		return;
	case DIAL_EJECTED:
		/* straight to a fallback, when a later attempt has one */
		if (pol->nfallbacks > 0 &&
		    r->dial.attempt + 1 < r->dial.max_attempts) {
			dial_skip(&r->dial);
			relay_attempt(r);
			return;
		}
		reply_ejected(r, t.host, t.port, left);
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
 * origin is closing sends it again (up_event_cb).  One that may not takes
 * only a warm one (warm_reuse; the README, "Retry semantics").  False:
 * connect.
 */
static bool
attempt_pooled(struct relay *r, const struct policy_target *t)
{
	const struct policy *pol = &r->route->policy;
	struct ssl_ctx_st *ctx = t->tls ? worker_tls_ctx(r->w) : NULL;
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
		dial_denied_cb(&r->dial);
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
	dial_connected_cb(&r->dial, bev);
	return true;
}

/* ---- the client side ----------------------------------------------- */

/* What the request body asks for before the first attempt. */
static void
body_next(struct relay *r, enum rawbody_next next)
{
	int status = r->body.scan.status;

	switch (next) {
	case RAWBODY_SEND:
		relay_attempt(r);
		return;
	case RAWBODY_REFUSED:
		reply(r, status, "http_request_error",
		    status == 413 ? "retryproxy: request body larger than "
				    "max_upload\n"
				  : "retryproxy: malformed request body\n");
		return;
	case RAWBODY_CONTINUE:
	case RAWBODY_FULL:
		return;
	}
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->state == RS_BODY)
		body_next(r, rawbody_hold(&r->body));
	else
		pump_up(r);
	if (r->state != RS_ENDED && rawbody_is_cut(&r->body)) {
		/* it ended before its body did: gone */
		r->status = 499;
		relay_end(r, RELAY_CLOSE);
		return;
	}
	/*
	 * Past its request a client may send its next ones (pipelining):
	 * up to RELAY_HWM of them are read, then none until this one ends
	 * (relay_done reads again).  The body before is rawbody's to pace.
	 * By hand, not a read watermark: while one is set libevent re-adds
	 * the read event at every change of the input, twice a request.
	 */
	if (r->state != RS_ENDED && r->body.done &&
	    evbuffer_get_length(bufferevent_get_input(bev)) >= RELAY_HWM)
		bufferevent_disable(bev, EV_READ);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    r->state != RS_FLUSHING) {
		/*
		 * A half-close after the request (what it sent may still
		 * wait in the input): answer, then close.
		 */
		r->keep = false;
		rawbody_eof(&r->body);
		client_read_cb(bev, r);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    r->body.done) {
		/*
		 * Quiet for client_timeout after its whole request: it waits
		 * for a slow response (rawbody_complete), it is not idle.
		 * libevent turned reading off for the timeout: on again.
		 */
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    !r->body.done && !r->sent_any && r->state != RS_RESPONDING) {
		reply(r, 408, "http_request_error",
		    "retryproxy: the request body stalled for longer than "
		    "client_timeout\n");
		return;
	}
	/* gone: before a response began, "client closed request" */
	if (!r->replying && r->state != RS_FLUSHING)
		r->status = 499;
	relay_end(r, RELAY_CLOSE);
}

/* Does a Via list name us ("1.1 retryproxy") as a received-by? */
static bool
via_loops(const struct msghead *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (util_ieq(h->f[i].name, "Via") &&
		    strstr(h->f[i].value, " retryproxy") != NULL)
			return true;
	return false;
}

/*
 * A request on a gateway listener (as gateway_start in proxy.c): build
 * its absolute URL and forwarding fields.  False when refused.
 */
static bool
gateway_begin(struct relay *r)
{
	char *xff, *fwd, body[320];
	char *addr = NULL;
	ev_uint16_t port = 0;

	metrics_gateway_request(r->gw->metrics);
	r->uri = gateway_url(r->gw, r->req.target);
	if (r->uri == NULL) {
		snprintf(body, sizeof body,
		    "retryproxy: this is a gateway to %s: send origin-form "
		    "requests (%s /path HTTP/1.1), not absolute URLs\n",
		    r->gw->base, r->req.method);
		reply(r, 400, NULL, body);
		return false;
	}
	xff = msghead_join(&r->req, "X-Forwarded-For");
	fwd = msghead_join(&r->req, "Forwarded");
	evhttp_connection_get_peer(r->cevcon, &addr, &port);
	gateway_forwarded(r->gw->forwarded, addr != NULL ? addr : "unknown",
	    xff, fwd, msghead_get(&r->req, "Host"), &r->xff, &r->fwd);
	free(xff);
	free(fwd);
	return true;
}

struct relay *
relay_start(struct worker *w, struct evhttp_connection *cevcon,
    struct bufferevent *bev, struct evbuffer *head, const struct reqscan *scan,
    void (*done)(void *, enum relay_end), void *ctx)
{
	struct relay *r = relay_alloc(w);
	const struct sockaddr *sa = evhttp_connection_get_addr(cevcon);
	size_t n = evbuffer_get_length(head);
	int rc;
	const char *cause, *xra;
	size_t plen;

	r->w = w;
	r->cevcon = cevcon;
	r->cbev = bev;
	r->cfg = config_ref(worker_config(w));
	r->route = &r->cfg->defaults;
	r->done = done;
	r->ctx = ctx;
	r->wall_ms = util_wall_ms();
	w->active++;
	dial_init(&r->dial, w, r->cfg, r->route, "-", r);
	r->dial.connected_cb = dial_connected_cb;
	r->dial.failed_cb = dial_failed_cb;
	r->dial.denied_cb = dial_denied_cb;
	r->dial.retry_cb = dial_retry_cb;
	r->state = RS_BODY;
	bufferevent_setcb(
	    bev, client_read_cb, client_write_cb, client_event_cb, r);
	/* (no read watermark: client_read_cb bounds the input itself) */
	bevset_watermark(bev, EV_READ, 0, 0);
	bevset_watermark(bev, EV_WRITE, 0, 0);
	/*
	 * (its timeouts are client_timeout both ways already: evhttp's
	 * evhttp_set_timeout_tv for a new connection, proxy.c's after a
	 * request on evhttp's lane, and the raw lane never changes them;
	 * setting them again re-added both events, for every request)
	 */
	/* (msghead copies what it parses: no copy of our own first) */
	rc = msghead_parse(
	    &r->req, (const char *)evbuffer_pullup(head, n), n, false, &cause);
	evbuffer_drain(head, n);
	if (rc != 0) {
		char body[160];
		snprintf(
		    body, sizeof body, "retryproxy: bad request: %s\n", cause);
		reply(r, 400, "http_request_error", body);
		return r;
	}
	r->dial.method = r->req.method;
	/* (no body follows the head: a reply before rawbody_start may keep) */
	r->body.done =
	    !scan->chunked && !(scan->has_cl && reqscan_body_left(scan) > 0);
	r->upgrade = scan->upgrade && scan->conn_upgrade;
	r->client_10 = r->req.minor == 0;
	r->client_close = msghead_conn_has(&r->req, "close") ||
	    (r->client_10 && !msghead_conn_has(&r->req, "keep-alive"));
	if (sa != NULL && !cidr_set_contains(&r->cfg->proxy.allow, sa)) {
		reply(r, 403, "http_request_denied",
		    "retryproxy: your address may not use this proxy "
		    "([proxy] allow)\n");
		return r;
	}
	r->gw = client_gateway(r->cfg, cevcon);
	if (r->gw == NULL &&
	    !client_authorized(w, r->cfg,
		msghead_get(&r->req, "Proxy-Authorization"), r->user,
		sizeof r->user)) {
		r->reply_flags = CANNED_AUTH;
		reply(r, 407, "http_request_denied", CLIENT_AUTH_BODY);
		return r;
	}
	if (via_loops(&r->req)) {
		reply(r, 508, "proxy_loop_detected",
		    "retryproxy: this request already passed through "
		    "retryproxy (Via): a proxy loop\n");
		return r;
	}
	if (r->gw != NULL && !gateway_begin(r))
		return r;
	if (r->gw == NULL &&
	    (r->req.target[0] == '/' || r->req.target[0] == '*')) {
		char body[320];
		snprintf(body, sizeof body,
		    "retryproxy is a forward proxy: send absolute-form "
		    "requests (%.32s http://host/path).\nSet HTTP_PROXY="
		    "http://ADDR:PORT in the client's environment, or use "
		    "curl -x http://ADDR:PORT URL.\n",
		    r->req.method);
		reply(r, 400, NULL, body);
		return r;
	}
	if (http_url_parse(r->uri != NULL ? r->uri : r->req.target, &r->url,
		&cause) != 0) {
		char body[160];
		snprintf(body, sizeof body,
		    "retryproxy: bad request target: %s\n", cause);
		reply(r, 400, NULL, body);
		return r;
	}
	if (r->url.has_fragment) {
		/* (as on evhttp's lane: RFC 9112 section 3.2) */
		reply(r, 400, NULL,
		    "retryproxy: bad request target: a fragment (#...) in "
		    "it\n");
		return r;
	}
	/* (by hand: xasprintf's format was a visible part of a request) */
	plen = r->url.path_add_slash ? 1 : 0;
	r->target = xmalloc(plen + r->url.path_len + 1);
	memcpy(r->target, "/", plen);
	memcpy(r->target + plen, r->url.path, r->url.path_len);
	r->target[plen + r->url.path_len] = '\0';
	r->route = config_match(r->cfg, r->url.host, r->url.port, r->target);
	r->dial.route = r->route;
	r->dial.pol = &r->route->policy;
	xra = msghead_get(&r->req, "X-Retry-Attempts");
	r->dial.max_attempts =
	    policy_effective_attempts(&r->route->policy, xra);
	r->dial.has_idem = r->route->policy.idempotency_header[0] != '\0' &&
	    msghead_get(&r->req, r->route->policy.idempotency_header) != NULL;
	budget_note_request(
	    &((struct route *)r->route)->budget, r->dial.start_ms);
	r->upgrade = scan->upgrade && scan->conn_upgrade;
	rawbody_start(&r->body, bev, r->cfg, &r->req, scan);
	/*
	 * Writing is turned on with the response (response_head), or now for
	 * a 100 Continue: on with nothing to write, it would cost an epoll
	 * change and a wakeup for each request.  (Reading is on already on a
	 * sticky connection: enabling it again re-added its event.)
	 */
	bevset_events(bev,
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0
		? EV_READ | EV_WRITE
		: EV_READ,
	    true);
	/* (first: rawbody_begin's large reads turn libevent's reading off) */
	body_next(r, rawbody_begin(&r->body));
	return r;
}
