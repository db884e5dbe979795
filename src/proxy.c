/*
 * proxy: the client side of the request path.  A client request
 * (absolute-form) is checked and matched to a route, handed to attempt.c
 * to be replayed upstream, watched for the client going away, answered
 * (the final response streams with backpressure), and ended in one place
 * (proxy_free).
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
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "fields.h"
#include "gateway.h"
#include "canned.h"
#include "client.h"
#include "halfclose.h"
#include "proxy.h"
#include "tls.h"
#include "tunnel.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"
#include "preq.h"

static const char *
cmd_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "GET";
}

/* Refuse a request before anything is sent upstream, and log it. */
static void
refuse(struct preq *p, int status, const char *reason, const char *token,
    const char *body)
{
	char ps[128];

	p->status = status;
	p->error = token;
	if (token != NULL)
		snprintf(ps, sizeof ps, "retryproxy; error=%s", token);
	proxy_restore_client(p);
	proxy_done(p);
	/*
	 * (a 407 keeps the connection: clients send the request again on
	 * it with credentials; evhttp has read the whole of this one)
	 */
	client_reply_text(
	    p->creq, status, reason, token ? ps : NULL, status != 407, body);
	proxy_free(p);
}

/* Does a Via list name us ("1.1 retryproxy") as a received-by? */
static bool
via_has_us(const char *via)
{
	const char *p = via;

	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ','), *sp;
		size_t n;
		while (*p == ' ' || *p == '\t')
			p++;
		n = end ? (size_t)(end - p) : strlen(p);
		sp = memchr(p, ' ', n);
		if (sp != NULL && n - (size_t)(sp + 1 - p) >= 10 &&
		    util_strncasecmp(sp + 1, "retryproxy", 10) == 0 &&
		    (n - (size_t)(sp + 1 - p) == 10 || sp[11] == ' '))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* ---- the client side ------------------------------------------------ */

/* The client went away (or we closed it): tear the request down. */
static void
client_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct preq *p = arg;

	if (p->status == 0)
		p->status = 499; /* client closed request (nginx's code) */
	p->cevcon = NULL;
	proxy_done(p);
	/*
	 * A request evhttp detached from the failed connection is ours to
	 * free; an attached one evhttp frees right after this callback.
	 */
	if (evhttp_request_get_connection(p->creq) == NULL)
		evhttp_request_free(p->creq);
	proxy_free(p);
}

/*
 * Watches the client while we wait upstream (evhttp does not).  A reset
 * or error means it is gone.  An end of stream may be a half-close (nc,
 * scripts: shutdown(SHUT_WR) after the request) from a client still
 * reading, so the request goes on; a client that closed both ways looks
 * the same from here and is noticed when the reply is written.
 */
static void
client_early_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct preq *p = arg;

	if (what & BEV_EVENT_ERROR)
		evhttp_connection_free(p->cevcon); /* -> client_closed_cb */
	else if (what & BEV_EVENT_EOF) {
		if (log_debug_enabled())
			log_debug("%s %s: the client closed its side; the "
				  "request goes on",
			    p->method, p->uri);
		halfclose_client(p->creq, bev);
	}
}

void
proxy_watch_client(struct preq *p)
{
	struct bufferevent *bev;

	/* (once the reply started, evhttp itself sees the client go) */
	if (p->watching || p->replying || p->cevcon == NULL)
		return;
	p->watching = true;
	bev = evhttp_connection_get_bufferevent(p->cevcon);
	bufferevent_setcb(bev, NULL, NULL, client_early_event_cb, p);
	bufferevent_setwatermark(bev, EV_READ, 0, 16384);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ);
}

void
proxy_restore_client(struct preq *p)
{
	struct bufferevent *bev;
	struct timeval tv;

	if (p->cevcon == NULL)
		return;
	bev = evhttp_connection_get_bufferevent(p->cevcon);
	tv = rp_tv(p->cfg->proxy.client_timeout_ms);
	halfclose_guard_reply(p->creq, bev);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	/* evhttp must see the reply finished only once it is all written */
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(bev, &tv, &tv);
	client_set_closecb(p->cevcon, NULL, NULL, p->w);
	/*
	 * The final reply may finish the exchange at once and even start
	 * the next pipelined request or free the connection: never touch
	 * the connection after this.
	 */
	p->cevcon = NULL;
}

void
proxy_client_drained_cb(struct evhttp_connection *evcon, void *arg)
{
	struct preq *p = arg;

	if (p->paused && p->uc != NULL) {
		p->paused = false;
		upstream_resume(p->uc);
	}
}

/* ---- the reply ---------------------------------------------------- */

void
proxy_start_reply(struct preq *p, struct evhttp_request *ureq)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(ureq);
	struct evkeyvalq *out = evhttp_request_get_output_headers(p->creq);
	char *owned;
	const char *conn = fields_list(in, "Connection", &owned);
	struct evkeyval *kv, *next;
	struct bufferevent *cbev;
	struct timeval wtv;
	char n[16];

	/*
	 * Move the end-to-end fields over rather than copy them (3 mallocs
	 * and 3 frees a field).  evhttp goes on reading the response by
	 * Content-Length, Transfer-Encoding and Connection: those stay (the
	 * last two are hop-by-hop; Content-Length is copied).
	 */
	for (kv = TAILQ_FIRST(in); kv != NULL; kv = next) {
		/*
		 * Trailer fields are never header fields (RFC 9110 section
		 * 6.5.1): a libevent that merges them into the list puts
		 * them after the head's last field.
		 */
		next = kv == p->last_field ? NULL : TAILQ_NEXT(kv, next);
		if (http_is_hop_by_hop(kv->key, conn))
			continue;
		if (util_strcasecmp(kv->key, "Content-Length") == 0) {
			evhttp_add_header(out, kv->key, kv->value);
			continue;
		}
		TAILQ_REMOVE(in, kv, next);
		TAILQ_INSERT_TAIL(out, kv, next);
	}
	free(owned);
	if (p->cfg->proxy.via)
		evhttp_add_header(
		    out, "Via", http_via(ureq->major, ureq->minor));
	if (p->pol->report_attempts) {
		snprintf(n, sizeof n, "%u", p->dial.attempt);
		evhttp_add_header(out, "X-Retry-Attempts", n);
	}
	p->status = evhttp_request_get_response_code(ureq);
	p->state = PQ_STREAMING;
	p->replying = true;
	if (p->creq->major == 1 && p->creq->minor == 0 &&
	    evhttp_find_header(out, "Content-Length") == NULL)
		/*
		 * An HTTP/1.0 client cannot take chunks, and for one that
		 * asked for keep-alive evhttp would announce a length of 0
		 * before the body: without a length the body ends where
		 * the connection does (RFC 9112 section 6.3).
		 */
		evhttp_remove_header(
		    evhttp_request_get_input_headers(p->creq), "Connection");
	evhttp_send_reply_start(
	    p->creq, p->status, evhttp_request_get_response_code_line(ureq));
	/*
	 * evhttp's read timeout would cut a long download (the client sends
	 * nothing while it reads): keep only a write-stall limit.
	 */
	cbev = evhttp_connection_get_bufferevent(p->cevcon);
	wtv = rp_tv(p->cfg->proxy.client_timeout_ms);
	bufferevent_set_timeouts(cbev, NULL, &wtv);
	halfclose_guard_reply(p->creq, cbev);
}

void
proxy_forward_chunk(struct preq *p, struct evbuffer *data)
{
	struct bufferevent *cbev;

	p->bytes += evbuffer_get_length(data);
	evhttp_send_reply_chunk_with_cb(
	    p->creq, data, proxy_client_drained_cb, p);
	if (p->cevcon == NULL)
		return;
	cbev = evhttp_connection_get_bufferevent(p->cevcon);
	if (evbuffer_get_length(bufferevent_get_output(cbev)) > CLIENT_HWM &&
	    p->uc != NULL && !p->paused) {
		p->paused = true;
		/* resume below the low mark, not at empty: keep data flowing */
		bufferevent_setwatermark(cbev, EV_WRITE, CLIENT_LWM, 0);
		upstream_pause(p->uc);
	}
}

/* The response is final: send it to the client from here on. */
void
proxy_finish_reply(struct preq *p)
{
	/* the upstream exchange is complete: keep the connection */
	attempt_stop_io(p, true);
	proxy_restore_client(p);
	proxy_done(p);
	evhttp_send_reply_end(p->creq);
	proxy_free(p);
}

void
proxy_truncate(struct preq *p)
{
	attempt_stop_io(p, false);
	if (p->error == NULL)
		p->error = "connection_terminated";
	if (p->cevcon != NULL)
		/* -> client_closed_cb, which ends the request */
		evhttp_connection_free(p->cevcon);
}

/* ---- entry ---------------------------------------------------------- */

/* The request is over: stop its I/O and write its access-log line. */
void
proxy_done(struct preq *p)
{
	struct access_entry e;

	if (p->state == PQ_DONE)
		return;
	p->state = PQ_DONE;
	attempt_stop_io(p, false);
	hedge_cancel_all(p, NULL, METRICS_HEDGE_LOST);
	dial_stop(&p->dial);
	if (p->cevcon != NULL)
		client_set_closecb(p->cevcon, NULL, NULL, p->w);
	metrics_request(p->route->metrics, p->status, p->dial.attempt,
	    util_now_ms() - p->dial.start_ms);
	if (log_access_enabled()) {
		memset(&e, 0, sizeof e);
		e.wall_ms = p->wall_ms;
		e.client = p->client;
		e.method = p->method;
		e.url = p->uri;
		e.status = p->status;
		dial_log_fields(&p->dial, &e);
		e.bytes = p->bytes;
		e.error = p->error;
		e.conn = p->warm ? "warm" : p->reused ? "reused" : NULL;
		e.resumes = p->resume.count;
		e.hedges = p->nhedges;
		e.hedge_won = p->hedge_won;
		e.user = p->user;
		e.gateway = p->gw != NULL ? p->gw->addr.text : NULL;
		log_access_entry(&p->w->line, &e);
	}
}

/* The one place a preq is freed (deferred while a call is under way). */
void
proxy_free(struct preq *p)
{
	if (p->busy > 0) {
		p->free_pending = true;
		return;
	}
	proxy_done(p);
	free(p->target);
	free(p->uri_owned);
	free(p->xff);
	free(p->fwd);
	resume_clear(&p->resume);
	config_unref(p->cfg);
	worker_request_done(p->w);
	free(p);
}

/*
 * A request on a gateway listener: its absolute URL is the gateway's
 * origin + its origin-form target, and its origin learns the client from
 * X-Forwarded-For / Forwarded.  False when it was refused (and freed).
 */
static bool
gateway_start(struct preq *p)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(p->creq);
	char *url = gateway_url(p->gw, p->uri), *o1, *o2, body[320];
	const char *xff, *fwd;

	metrics_gateway_request(p->gw->metrics);
	if (url == NULL) {
		snprintf(body, sizeof body,
		    "retryproxy: this is a gateway to %s: send origin-form "
		    "requests (GET /path HTTP/1.1), not absolute URLs (for "
		    "those, use the proxy's listen address)\n",
		    p->gw->base);
		refuse(p, 400, "Bad Request", NULL, body);
		return false;
	}
	p->uri = p->uri_owned = url;
	xff = fields_list(in, "X-Forwarded-For", &o1);
	fwd = fields_list(in, "Forwarded", &o2);
	client_forwarded(p->gw, p->cevcon, xff, fwd,
	    evhttp_find_header(in, "Host"), &p->xff, &p->fwd);
	free(o1);
	free(o2);
	return true;
}

/*
 * Start proxying one request whose absolute URL is uri (the client's own
 * request-target, or, for an intercepted tunnel, one we built: owned is
 * then that string, freed with the request).
 */
static void
proxy_start(
    struct worker *w, struct evhttp_request *creq, const char *uri, char *owned)
{
	struct preq *p = xcalloc(1, sizeof *p);
	struct evkeyvalq *in = evhttp_request_get_input_headers(creq);
	const char *cause, *xra, *via;
	char *owned_via;
	bool loop, intercepted = owned != NULL;

	p->w = w;
	p->creq = creq;
	p->cevcon = evhttp_request_get_connection(creq);
	p->cfg = config_ref(worker_config(w));
	p->wall_ms = util_wall_ms();
	p->cmd = evhttp_request_get_command(creq);
	p->method = cmd_name(p->cmd);
	p->uri = uri;
	p->uri_owned = owned;
	p->route = &p->cfg->defaults;
	attempt_init(p);
	w->active++;
	client_set_closecb(p->cevcon, client_closed_cb, p, w);
	client_name(p->cevcon, p->client, sizeof p->client);
	if (!intercepted)
		p->gw = client_gateway(p->cfg, p->cevcon);

	/* absolute-form requests keep the client connection alive */
	creq->flags &= ~EVHTTP_PROXY_REQUEST;
	evhttp_remove_header(in, "Proxy-Connection");

	if (!intercepted && !client_allowed(p->cfg, p->cevcon)) {
		refuse(p, 403, "Forbidden", "http_request_denied",
		    "retryproxy: your address may not use this proxy "
		    "([proxy] allow)\n");
		return;
	}
	/*
	 * auth is the proxy's: a gateway client does not know it talks to
	 * a proxy, and a gateway reaches only its one origin (README)
	 */
	if (!intercepted && p->gw == NULL &&
	    !client_authorized(w, p->cfg,
		evhttp_find_header(in, "Proxy-Authorization"), p->user,
		sizeof p->user)) {
		evhttp_add_header(evhttp_request_get_output_headers(creq),
		    "Proxy-Authenticate", CANNED_CHALLENGE);
		refuse(p, 407, "Proxy Authentication Required",
		    "http_request_denied", CLIENT_AUTH_BODY);
		return;
	}
	via = fields_list(in, "Via", &owned_via);
	loop = via_has_us(via);
	free(owned_via);
	if (loop) {
		refuse(p, 508, "Loop Detected", "proxy_loop_detected",
		    "retryproxy: this request already passed through "
		    "retryproxy (Via): a proxy loop\n");
		return;
	}
	if (p->gw != NULL && !gateway_start(p))
		return;
	if (p->gw == NULL && (p->uri[0] == '/' || p->uri[0] == '*')) {
		refuse(p, 400, "Bad Request", NULL,
		    "retryproxy is a forward proxy: send absolute-form "
		    "requests (GET http://host/path).\nSet HTTP_PROXY="
		    "http://ADDR:PORT in the client's environment, or use "
		    "curl -x http://ADDR:PORT URL.\n");
		return;
	}
	if (http_url_parse(p->uri, &p->url, &cause) != 0) {
		char body[160];
		snprintf(body, sizeof body,
		    "retryproxy: bad request target: %s\n", cause);
		refuse(p, 400, "Bad Request", NULL, body);
		return;
	}
	if (p->url.has_fragment) {
		/*
		 * RFC 9112 section 3.2: a request-target has no fragment.
		 * Dropping it would act on another resource (DELETE /c/#x
		 * would delete /c/), so refuse, as origin servers do.
		 */
		refuse(p, 400, "Bad Request", NULL,
		    "retryproxy: bad request target: a fragment (#...) in "
		    "it\n");
		return;
	}
	p->target = xasprintf("%s%.*s", p->url.path_add_slash ? "/" : "",
	    (int)p->url.path_len, p->url.path);
	p->route = config_match(p->cfg, p->url.host, p->url.port, p->target);
	p->pol = &p->route->policy;
	xra = evhttp_find_header(in, "X-Retry-Attempts");
	p->dial.route = p->route;
	p->dial.pol = p->pol;
	p->dial.max_attempts = policy_effective_attempts(p->pol, xra);
	p->has_idem = p->pol->idempotency_header[0] != '\0' &&
	    evhttp_find_header(in, p->pol->idempotency_header) != NULL;
	p->dial.has_idem = p->has_idem;
	p->resendable =
	    p->has_idem || policy_method_is_listed(p->pol, p->method);
	budget_note_request(
	    &((struct route *)p->route)->budget, p->dial.start_ms);
	if (!intercepted)
		/*
		 * Watch for the client leaving from the start.  It also saves
		 * an epoll change: evhttp turned reading off just before
		 * calling us, and turning it back on in the same loop turn
		 * cancels that out (the reply turns it on again anyway).
		 */
		proxy_watch_client(p);
	attempt_start(p);
}

void
proxy_request_cb(struct evhttp_request *creq, void *arg)
{
	struct worker *w = arg;

	if (evhttp_request_get_command(creq) == EVHTTP_REQ_CONNECT)
		tunnel_start(w, creq);
	else
		proxy_start(w, creq, evhttp_request_get_uri(creq), NULL);
}

void
proxy_request_intercepted(struct evhttp_request *creq, struct worker *w,
    const char *host, int ipv6, unsigned port)
{
	const char *path = evhttp_request_get_uri(creq);
	char *uri;

	if (path[0] != '/') {
		client_reply_text(creq, 400, "Bad Request", NULL, 1,
		    "retryproxy: expected an origin-form request inside the "
		    "tunnel\n");
		return;
	}
	uri = xasprintf("https://%s%s%s:%u%s", ipv6 ? "[" : "", host,
	    ipv6 ? "]" : "", port, path);
	proxy_start(w, creq, uri, uri);
}
