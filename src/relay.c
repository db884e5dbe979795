/*
 * relay: the raw lane (see relay.h) -- its client side and its end.  One
 * struct relay per request (relay-int.h), in one state at a time (enum
 * relay_state); every way out goes through relay_end().  Here: the
 * request head's checks (relay_start), the request body as it comes,
 * replies of our own, the response flushed to the client, the end and
 * the request's memory.  The attempt is relayup.c's, the response
 * relayresp.c's.  The attempt loop is dial.c's; the heads are msghead.c's;
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
#include "msghead.h"
#include "rawbody.h"
#include "relay.h"
#include "resume.h"
#include "util.h"
#include "worker.h"
#include "relay-int.h"

/*
 * The attempts are over (the response is queued whole, or the request
 * ended): once, not at each of relay_finish_as, relay_end and relay_free (three
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

/* ---- the end ------------------------------------------------------- */

/* "addr:port" of the client, for the log: made when first asked for. */
const char *
relay_client_text(struct relay *r)
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
	e.client = relay_client_text(r);
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
	    offsetof(struct relay, req_store) - offsetof(struct relay, dial) -
		sizeof r->dial);
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

void
relay_free(struct relay *r)
{
	stop_dial(r);
	relayup_close(r);
	rawbody_free(&r->body);
	msghead_free(&r->req);
	msghead_free(&r->resp);
	resume_clear(&r->resume);
	if (r->target != r->target_store)
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
	relay_free(arg);
}

/* The one way out: log, hand the client connection back, free. */
void
relay_end(struct relay *r, enum relay_end how)
{
	void (*done)(void *, enum relay_end) = r->done;
	void *ctx = r->ctx;

	if (r->state == RS_ENDED)
		return;
	r->state = RS_ENDED;
	if (r->status == 0)
		r->status = 499;
	relay_splice_stop(r); /* (its bytes counted for the log) */
	relay_upload_stop(r);
	log_request(r);
	if (how != RELAY_TUNNEL && how != RELAY_GONE)
		bufferevent_setcb(r->cbev, NULL, NULL, NULL, NULL);
	/* no more I/O; the memory goes once the callbacks under way unwind */
	rawbody_stop(&r->body);
	stop_dial(r);
	relayup_close(r);
	/* (its own event: event_base_once would allocate one) */
	evtimer_assign(&r->free_ev, r->w->base, free_later_cb, r);
	event_active(&r->free_ev, EV_TIMEOUT, 1);
	if (how != RELAY_GONE)
		done(ctx, how);
}

void
relay_client_gone(struct relay *r)
{
	relay_client_text(r); /* (while evhttp's connection is there to ask) */
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
void
relay_finish_as(struct relay *r, bool write_now)
{
	struct evbuffer *out = bufferevent_get_output(r->cbev);

	/* (a response read whole by its framing, nothing after it: kept) */
	r->up_keep = r->up_may_keep && r->state == RS_RESPONDING &&
	    r->uscan.msg_done && r->body.done && r->ubev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(r->ubev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(r->ubev)) == 0;
	relayup_close(r);
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

/*
 * The client's response ends short (why: in the log): its connection
 * closes where the bytes stop, so that it sees a cut, never a whole
 * response that is not -- after the bytes already queued for it (relay_finish
 * flushes them; closing at once would drop them).
 */
void
relay_end_broken(struct relay *r, const char *why)
{
	log_info("%s %s: the body broke after %llu bytes and ends there: %s",
	    r->req.method, r->uri != NULL ? r->uri : r->req.target,
	    (unsigned long long)r->bytes_down, why);
	metrics_broken_body(false);
	if (r->error == NULL)
		r->error = "connection_terminated";
	r->up_may_keep = false;
	r->keep = false;
	relay_finish(r);
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
	relay_end_broken(r, why);
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
void
relay_reply(struct relay *r, int status, const char *token, const char *body)
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
	relay_finish(r);
}

/* The origin is held and hold = fail (or the deadline is too near). */
void
relay_reply_held(struct relay *r, const char *host, unsigned port, int status,
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
	relay_finish(r);
}

/* The origin is ejected and no fallback is left: 503 at once. */
void
relay_reply_ejected(
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
	relay_finish(r);
}

void
relay_reply_failure(struct relay *r, enum fail_kind kind)
{
	char body[512];

	snprintf(body, sizeof body,
	    "retryproxy: %u attempt%s to %s:%u failed; last error: %s\n",
	    r->dial.attempt, r->dial.attempt == 1 ? "" : "s",
	    r->dial.host ? r->dial.host : r->url.host,
	    r->dial.host ? r->dial.port : r->url.port, fail_kind_token(kind));
	relay_reply(r, fail_kind_status(kind), fail_kind_token(kind), body);
}

/* ---- the client side ----------------------------------------------- */

/* What the request body asks for before the first attempt. */
static void
body_next(struct relay *r, enum rawbody_next next)
{
	int status = r->body.scan.status;

	switch (next) {
	case RAWBODY_SEND:
		relayup_attempt(r);
		return;
	case RAWBODY_REFUSED:
		relay_reply(r, status, "http_request_error",
		    status == 413 ? "retryproxy: request body larger than "
				    "max_upload\n"
				  : "retryproxy: malformed request body\n");
		return;
	case RAWBODY_CONTINUE:
	case RAWBODY_FULL:
		return;
	}
}

void
relay_client_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;

	if (r->state == RS_BODY)
		body_next(r, rawbody_hold(&r->body));
	else
		relayup_pump(r);
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
		relay_client_read_cb(bev, r);
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
		relay_reply(r, 408, "http_request_error",
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
		relay_reply(r, 400, NULL, body);
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
    struct bufferevent *bev, struct eagerwrite *ew, struct evbuffer *head,
    const struct reqscan *scan, void (*done)(void *, enum relay_end), void *ctx)
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
	r->cew = ew;
	r->cfg = config_ref(worker_config(w));
	r->route = &r->cfg->defaults;
	r->done = done;
	r->ctx = ctx;
	r->wall_ms = util_wall_ms();
	w->active++;
	dial_init(&r->dial, w, r->cfg, r->route, "-", r);
	r->dial.connected_cb = relayup_connected_cb;
	r->dial.failed_cb = relayup_failed_cb;
	r->dial.denied_cb = relayup_denied_cb;
	r->dial.retry_cb = relayup_retry_cb;
	r->state = RS_BODY;
	bufferevent_setcb(bev, relay_client_read_cb, relayresp_client_write_cb,
	    client_event_cb, r);
	/* (no read watermark: relay_client_read_cb bounds the input itself) */
	bevset_watermark(bev, EV_READ, 0, 0);
	bevset_watermark(bev, EV_WRITE, 0, 0);
	/*
	 * (its timeouts are client_timeout both ways already: evhttp's
	 * evhttp_set_timeout_tv for a new connection, proxy.c's after a
	 * request on evhttp's lane, and the raw lane never changes them;
	 * setting them again re-added both events, for every request)
	 */
	/* (msghead copies what it parses: no copy of our own first) */
	rc = msghead_parse_in(&r->req, (const char *)evbuffer_pullup(head, n),
	    n, false, r->req_store, sizeof r->req_store, &cause);
	evbuffer_drain(head, n);
	if (rc != 0) {
		char body[160];
		snprintf(
		    body, sizeof body, "retryproxy: bad request: %s\n", cause);
		relay_reply(r, 400, "http_request_error", body);
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
		relay_reply(r, 403, "http_request_denied",
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
		relay_reply(r, 407, "http_request_denied", CLIENT_AUTH_BODY);
		return r;
	}
	if (via_loops(&r->req)) {
		relay_reply(r, 508, "proxy_loop_detected",
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
		relay_reply(r, 400, NULL, body);
		return r;
	}
	if (http_url_parse(r->uri != NULL ? r->uri : r->req.target, &r->url,
		&cause) != 0) {
		char body[160];
		snprintf(body, sizeof body,
		    "retryproxy: bad request target: %s\n", cause);
		relay_reply(r, 400, NULL, body);
		return r;
	}
	if (r->url.has_fragment) {
		/* (as on evhttp's lane: RFC 9112 section 3.2) */
		relay_reply(r, 400, NULL,
		    "retryproxy: bad request target: a fragment (#...) in "
		    "it\n");
		return r;
	}
	/* (by hand: xasprintf's format was a visible part of a request) */
	plen = r->url.path_add_slash ? 1 : 0;
	r->target = plen + r->url.path_len < sizeof r->target_store
	    ? r->target_store
	    : xmalloc(plen + r->url.path_len + 1);
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
