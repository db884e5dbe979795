/*
 * tunnel: CONNECT.  The TCP connect to host:port is retried under the
 * route's policy (dns and connect failures only: nothing has been sent);
 * then the client connection is taken over from evhttp, "200 Connection
 * established" is written, and bytes are spliced both ways with
 * backpressure, half-close and an idle limit.  One struct tunnel per
 * CONNECT, freed only in tunnel_free().
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "accesslog.h"
#include "front.h"
#include "http.h"
#include "intercept.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "proxy.h"
#include "reqscan.h"
#include "scanbuf.h"
#include "tunnel.h"
#include "util.h"
#include "worker.h"

#define TUNNEL_HWM (256 * 1024) /* stop reading a side above this */
#define TUNNEL_LWM (64 * 1024) /* resume below this */

struct tunnel {
	struct worker *w;
	struct evhttp_request *creq;
	struct evhttp_connection *cevcon;
	struct bufferevent *cbev; /* the client's, once taken over */
	struct bufferevent *cside; /* what we splice: cbev, or its TLS filter */
	struct evbuffer_cb_entry *flushed_cbe;
	struct bufferevent *ubev;
	struct config *cfg;
	const struct route *route;
	const struct policy *pol;
	struct http_url target;
	const char *uri;
	unsigned attempt, max_attempts;
	uint64_t start_ms, wall_ms, attempt_start_ms;
	struct evdns_getaddrinfo_request *dnsreq;
	struct event attempt_timer, backoff_timer, idle_timer;
	bool connecting, established, finished, free_pending;
	bool c_eof, u_eof;
	bool intercepting; /* spliced into the interception server */
	unsigned mitm_token;
	struct reqscan scan; /* the client's requests, when intercepting */
	unsigned busy;
	uint64_t bytes_down, bytes_up;
	int status;
	const char *error;
	char retries[128];
	char client[64];
};

static void tunnel_attempt(struct tunnel *);
static void tunnel_free(struct tunnel *);

static void
add_reason(struct tunnel *t, const char *reason)
{
	size_t n = strlen(t->retries);

	if (n + strlen(reason) + 2 < sizeof t->retries)
		snprintf(t->retries + n, sizeof t->retries - n, "%s%s",
		    n ? "," : "", reason);
}

static void
tunnel_log(struct tunnel *t)
{
	struct access_entry e;

	if (!log_access_enabled())
		return;
	memset(&e, 0, sizeof e);
	e.wall_ms = t->wall_ms;
	e.client = t->client;
	e.method = "CONNECT";
	e.url = t->uri;
	e.status = t->status;
	e.attempts = t->attempt;
	e.retries = t->retries;
	e.duration_ms = util_now_ms() - t->start_ms;
	e.bytes = t->bytes_down;
	e.bytes_in = t->bytes_up;
	e.tunnel = 1;
	e.route = t->route->name;
	e.error = t->error;
	t->w->line.len = 0;
	accesslog_format(&e, log_access_json(), &t->w->line);
	log_access(t->w->line.s, t->w->line.len);
}

/* Stop the attempt in flight (resolver, connect, timers). */
static void
stop_attempt(struct tunnel *t)
{
	event_del(&t->attempt_timer);
	if (t->dnsreq != NULL) {
		struct evdns_getaddrinfo_request *r = t->dnsreq;
		t->dnsreq = NULL;
		evdns_getaddrinfo_cancel(r);
	}
	if (!t->established && t->ubev != NULL) {
		bufferevent_free(t->ubev);
		t->ubev = NULL;
	}
	t->connecting = false;
}

static void
ssl_free_cb(evutil_socket_t fd, short what, void *arg)
{
	SSL_free(arg);
}

/* The one place a tunnel ends: log, close both sides, free. */
static void
tunnel_free(struct tunnel *t)
{
	if (t->busy > 0) {
		t->free_pending = true;
		return;
	}
	if (!t->finished) {
		t->finished = true;
		metrics_request(t->route->metrics, t->status, t->attempt,
		    util_now_ms() - t->start_ms);
		if (t->established)
			metrics_tunnel(-1);
		tunnel_log(t);
	}
	stop_attempt(t);
	event_del(&t->backoff_timer);
	event_del(&t->idle_timer);
	if (t->ubev != NULL)
		bufferevent_free(t->ubev);
	if (t->flushed_cbe != NULL)
		evbuffer_remove_cb_entry(
		    bufferevent_get_output(t->cbev), t->flushed_cbe);
	if (t->cside != NULL && t->cside != t->cbev) {
		/*
		 * The TLS filter (without CLOSE_ON_FREE, which would free
		 * evhttp's cbev too) leaves its SSL to us: free it once the
		 * callbacks now running have unwound.
		 */
		SSL *ssl = bufferevent_openssl_get_ssl(t->cside);
		static const struct timeval zero = {0, 0};
		bufferevent_free(t->cside);
		if (ssl != NULL &&
		    event_base_once(t->w->base, -1, EV_TIMEOUT, ssl_free_cb,
			ssl, &zero) != 0)
			SSL_free(ssl);
	}
	if (t->cevcon != NULL) {
		/* frees the client socket and the CONNECT request */
		front_set_closecb(t->cevcon, NULL, NULL, t->w);
		evhttp_connection_free(t->cevcon);
	}
	if (t->intercepting)
		intercept_forget(t->w, t->mitm_token);
	config_unref(t->cfg);
	worker_request_done(t->w);
	free(t);
}

/* evhttp is freeing the client connection (client gone, or shutdown). */
static void
client_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct tunnel *t = arg;

	if (t->status == 0)
		t->status = 499;
	t->cevcon = NULL; /* evhttp frees it, and the request, itself */
	tunnel_free(t);
}

static void
client_early_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		tunnel_free(t);
}

static void
reply_written_cb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tunnel_free(t); /* closes the connection */
}

static void
reply_event_cb(struct bufferevent *bev, short what, void *arg)
{
	tunnel_free(arg);
}

/*
 * Answer the CONNECT with an error, then close.  Written by hand: evhttp
 * never closes a CONNECT connection and sends such a reply without a
 * length, which would leave the client waiting.
 */
static void
tunnel_reply(struct tunnel *t, int status, const char *reason,
    const char *token, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(t->cbev);
	char ps[160] = "";

	t->status = status;
	t->error = token;
	stop_attempt(t);
	if (token != NULL && t->attempt > 0)
		snprintf(ps, sizeof ps,
		    "Proxy-Status: retryproxy; error=%s; details=\"%u "
		    "attempt%s\"\r\n",
		    token, t->attempt, t->attempt == 1 ? "" : "s");
	else if (token != NULL)
		snprintf(ps, sizeof ps,
		    "Proxy-Status: retryproxy; error=%s\r\n", token);
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 0);
	bufferevent_setcb(t->cbev, NULL, reply_written_cb, reply_event_cb, t);
	bufferevent_disable(t->cbev, EV_READ);
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    status, reason, ps, strlen(body), body);
	bufferevent_enable(t->cbev, EV_WRITE);
}

/* ---- splicing ------------------------------------------------------- */

static void
idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;

	if (t->flushed_cbe == NULL)
		t->error = "idle_timeout";
	tunnel_free(t);
}

static void
touch(struct tunnel *t)
{
	struct timeval tv = rp_tv(t->cfg->proxy.client_timeout_ms);

	evtimer_add(&t->idle_timer, &tv);
}

/*
 * Pass a FIN on.  On an intercepted tunnel the client side speaks TLS: it
 * ends with the whole tunnel instead (maybe_done).
 */
static void
half_close(struct tunnel *t, struct bufferevent *bev)
{
	if (bev == t->cside && t->intercepting)
		t->c_eof = true;
	else
		shutdown(bufferevent_getfd(bev), SHUT_WR);
}

/* The client connection's last (encrypted) bytes left: end it. */
static void
flushed_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct tunnel *t = arg;
	static const struct timeval zero = {0, 0};

	if (evbuffer_get_length(buf) == 0)
		evtimer_add(&t->idle_timer, &zero); /* not from inside buf */
}

/* Both directions closed and flushed: the tunnel is over. */
static void
maybe_done(struct tunnel *t)
{
	struct evbuffer *raw = bufferevent_get_output(t->cbev);

	if (!t->c_eof || !t->u_eof ||
	    evbuffer_get_length(bufferevent_get_output(t->cside)) > 0 ||
	    evbuffer_get_length(bufferevent_get_output(t->ubev)) > 0)
		return;
	/* a TLS filter has written into the client connection: wait */
	if (t->cside != t->cbev && evbuffer_get_length(raw) > 0) {
		if (t->flushed_cbe == NULL)
			t->flushed_cbe = evbuffer_add_cb(raw, flushed_cb, t);
		return;
	}
	tunnel_free(t);
}

/*
 * Inside an intercepted tunnel the client's requests reach evhttp, so they
 * get the same raw scan as on the listener: a refused one is answered
 * here and the tunnel closed, and nothing of it goes on.
 */
static bool
scan_client(struct tunnel *t, struct evbuffer *in)
{
	char resp[256];
	int len;

	/* (everything in `in` is new: splice() moves it all on each time) */
	if (scanbuf_feed_strip(&t->scan, in, NULL, evbuffer_get_length(in)) ==
	    0)
		return true;
	len = snprintf(resp, sizeof resp,
	    "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\nretryproxy: %s\n",
	    t->scan.status,
	    t->scan.status == 431	? "Request Header Fields Too Large"
		: t->scan.status == 413 ? "Content Too Large"
		: t->scan.status == 501 ? "Not Implemented"
					: "Bad Request",
	    strlen(t->scan.why) + 13, t->scan.why);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(t->cside, resp, (size_t)len);
	t->error = "http_request_error";
	t->c_eof = t->u_eof = true; /* end once written */
	bufferevent_disable(t->cside, EV_READ);
	bufferevent_disable(t->ubev, EV_READ);
	return false;
}

/* Move what `from` read into `to`; pause `from` when `to` is backed up. */
static void
splice(struct tunnel *t, struct bufferevent *from, struct bufferevent *to,
    uint64_t *count)
{
	struct evbuffer *in = bufferevent_get_input(from);
	struct evbuffer *out = bufferevent_get_output(to);

	if (t->intercepting && from == t->cside && !scan_client(t, in))
		return;
	*count += evbuffer_get_length(in);
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= TUNNEL_HWM) {
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, TUNNEL_LWM, 0);
	}
	touch(t);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;

	if (bev == t->cside)
		splice(t, t->cside, t->ubev, &t->bytes_up);
	else
		splice(t, t->ubev, t->cside, &t->bytes_down);
}

/* `bev` drained below its low watermark (or to empty). */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct tunnel *t = arg;
	struct bufferevent *other = bev == t->cside ? t->ubev : t->cside;
	bool other_eof = bev == t->cside ? t->u_eof : t->c_eof;

	if (!other_eof)
		bufferevent_enable(other, EV_READ);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (other_eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		half_close(t, bev);
	maybe_done(t);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;
	struct bufferevent *other = bev == t->cside ? t->ubev : t->cside;

	if (what & BEV_EVENT_ERROR) {
		tunnel_free(t);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* half-close: pass the FIN on once the data before it went */
		if (bev == t->cside)
			t->c_eof = true;
		else
			t->u_eof = true;
		read_cb(bev, t);
		if (evbuffer_get_length(bufferevent_get_output(other)) == 0)
			half_close(t, other);
		maybe_done(t);
	}
}

static void
established(struct tunnel *t)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

	t->established = true; /* (so stop_attempt keeps ubev) */
	metrics_tunnel(1);
	stop_attempt(t);
	t->status = 200;
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 0);
	bufferevent_set_timeouts(t->cbev, NULL, NULL);
	bufferevent_set_timeouts(t->ubev, NULL, NULL);
	bufferevent_write(t->cbev, ok, sizeof ok - 1);
	t->cside = t->cbev;
	if (t->intercepting) {
		/* from here on the client speaks TLS to us */
		t->cside = intercept_tls(t->w, t->cbev, t->target.host);
		reqscan_init(&t->scan, t->cfg->proxy.max_header_size);
		reqscan_set_max_body(&t->scan, t->cfg->proxy.max_request_body);
		if (t->cside == NULL) {
			t->error = "tls_protocol_error";
			tunnel_free(t);
			return;
		}
	}
	bufferevent_setcb(t->cside, read_cb, write_cb, event_cb, t);
	bufferevent_setcb(t->ubev, read_cb, write_cb, event_cb, t);
	bufferevent_enable(t->cside, EV_READ | EV_WRITE);
	bufferevent_enable(t->ubev, EV_READ | EV_WRITE);
	if (t->intercepting) {
		/* a ClientHello that came with the CONNECT is waiting */
		if (evbuffer_get_length(bufferevent_get_input(t->cbev)) > 0)
			bufferevent_trigger(t->cbev, EV_READ, 0);
	} else if (evbuffer_get_length(bufferevent_get_input(t->cbev)) > 0)
		splice(t, t->cbev, t->ubev, &t->bytes_up); /* early data */
	touch(t);
}

/* ---- connecting, with retries -------------------------------------- */

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	tunnel_attempt(arg);
}

static void
attempt_failed(struct tunnel *t, enum fail_kind kind)
{
	struct outcome o = {0};
	struct retry_ctx c;
	struct decision d;
	struct policy pol = *t->pol;
	char body[400];

	stop_attempt(t);
	/* only failures before anything was sent are retried for CONNECT */
	pol.errors &= FAIL_MASK(FAIL_DNS) | FAIL_MASK(FAIL_CONNECT);
	o.fail = kind;
	c.attempt = t->attempt;
	c.max_attempts = t->max_attempts;
	c.method = "CONNECT";
	c.has_idempotency_key = false;
	c.now_ms = util_now_ms();
	c.start_ms = t->start_ms;
	c.wall_now_ms = util_wall_ms();
	c.rnd = worker_random(t->w);
	c.budget = &((struct route *)t->route)->budget;
	policy_decide(&pol, &o, &c, &d);
	if (log_debug_enabled())
		log_debug("CONNECT %s: attempt %u failed: %s; %s", t->uri,
		    t->attempt, fail_kind_token(kind),
		    decision_why_name(d.why));
	if (d.retry)
		metrics_retry(t->route->metrics, 0, kind);
	else if (d.why >= WHY_METHOD)
		metrics_suppressed(t->route->metrics, d.why);
	if (d.retry) {
		struct timeval tv = rp_tv(d.delay_ms);
		add_reason(t, d.reason);
		evtimer_add(&t->backoff_timer, &tv);
		return;
	}
	snprintf(body, sizeof body,
	    "retryproxy: %u attempt%s to connect to %s failed; last error: "
	    "%s\n",
	    t->attempt, t->attempt == 1 ? "" : "s", t->uri,
	    fail_kind_token(kind));
	tunnel_reply(t, fail_kind_status(kind),
	    fail_kind_status(kind) == 504 ? "Gateway Timeout" : "Bad Gateway",
	    fail_kind_token(kind), body);
}

static void
attempt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tunnel *t = arg;
	bool deadline =
	    policy_deadline_passed(t->pol, t->start_ms, util_now_ms());

	attempt_failed(t,
	    deadline		    ? FK_DEADLINE_CONNECTING
		: t->dnsreq != NULL ? FK_DNS_TIMEOUT
				    : FK_CONNECTION_TIMEOUT);
}

static void
upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;

	if (what & BEV_EVENT_CONNECTED) {
		established(t);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		attempt_failed(t, FK_CONNECTION_REFUSED);
}

static void
connect_to(struct tunnel *t, const struct sockaddr *sa, int len)
{
	if (t->cfg->proxy.deny.n > 0 &&
	    cidr_set_contains(&t->cfg->proxy.deny, sa)) {
		tunnel_reply(t, 403, "Forbidden", "http_request_denied",
		    "retryproxy: the destination address is denied by "
		    "[proxy] deny\n");
		return;
	}
	t->ubev = bufferevent_socket_new(t->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(t->ubev, NULL, NULL, upstream_event_cb, t);
	t->busy++;
	if (bufferevent_socket_connect(t->ubev, sa, len) != 0) {
		t->busy--;
		attempt_failed(t, FK_CONNECTION_REFUSED);
		return;
	}
	t->busy--;
	if (t->free_pending)
		tunnel_free(t);
}

static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct tunnel *t = arg;
	struct evutil_addrinfo *ai;
	unsigned n = 0, pick;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	t->dnsreq = NULL;
	if (result != 0) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		attempt_failed(t,
		    result == EVUTIL_EAI_NONAME	     ? FK_DNS_NXDOMAIN
			: result == EVUTIL_EAI_AGAIN ? FK_DNS_TIMEOUT
						     : FK_DNS_ERROR);
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (t->cfg->proxy.deny.n > 0 &&
		    cidr_set_contains(&t->cfg->proxy.deny, ai->ai_addr)) {
			evutil_freeaddrinfo(res);
			connect_to(t, ai->ai_addr, (int)ai->ai_addrlen);
			return;
		}
		n++;
	}
	pick = n ? (t->attempt - 1) % n : 0;
	for (ai = res; ai != NULL && pick > 0; ai = ai->ai_next)
		pick--;
	if (ai == NULL) {
		evutil_freeaddrinfo(res);
		attempt_failed(t, FK_DNS_ERROR);
		return;
	}
	connect_to(t, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(res);
}

static void
tunnel_attempt(struct tunnel *t)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *r;
	struct sockaddr_storage ss;
	struct timeval tv;
	uint64_t ms = t->pol->connect_timeout_ms;
	int len = sizeof ss;
	char tmp[300];

	t->attempt++;
	t->attempt_start_ms = util_now_ms();
	if (t->pol->deadline_ms > 0) {
		uint64_t end = t->start_ms + t->pol->deadline_ms;
		uint64_t left =
		    end > t->attempt_start_ms ? end - t->attempt_start_ms : 0;
		if (left < ms)
			ms = left;
	}
	tv = rp_tv(ms);
	evtimer_add(&t->attempt_timer, &tv);
	t->connecting = true;
	if (t->intercepting) {
		/* our own interception server: nothing to resolve */
		intercept_forget(t->w, t->mitm_token);
		t->ubev = intercept_connect(t->w, t->target.host,
		    t->target.port, t->target.host_is_ipv6, &t->mitm_token);
		if (t->ubev == NULL) {
			attempt_failed(t, FK_CONNECTION_REFUSED);
			return;
		}
		bufferevent_setcb(t->ubev, NULL, NULL, upstream_event_cb, t);
		return;
	}
	snprintf(tmp, sizeof tmp, t->target.host_is_ipv6 ? "[%s]:%u" : "%s:%u",
	    t->target.host, t->target.port);
	if (evutil_parse_sockaddr_port(tmp, (struct sockaddr *)&ss, &len) ==
	    0) {
		connect_to(t, (struct sockaddr *)&ss, len);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(tmp, sizeof tmp, "%u", t->target.port);
	t->busy++;
	r = evdns_getaddrinfo(
	    t->w->dns, t->target.host, tmp, &hints, dns_cb, t);
	t->busy--;
	if (t->free_pending)
		tunnel_free(t);
	else if (r != NULL)
		t->dnsreq = r;
}

void
tunnel_start(struct worker *w, struct evhttp_request *creq)
{
	struct tunnel *t = xcalloc(1, sizeof *t);
	const char *cause;

	t->w = w;
	t->creq = creq;
	t->cevcon = evhttp_request_get_connection(creq);
	t->cbev = evhttp_connection_get_bufferevent(t->cevcon);
	t->cfg = config_ref(worker_config(w));
	t->route = &t->cfg->defaults;
	t->pol = &t->route->policy;
	t->start_ms = util_now_ms();
	t->wall_ms = util_wall_ms();
	t->uri = evhttp_request_get_uri(creq);
	proxy_client_name(t->cevcon, t->client, sizeof t->client);
	evtimer_assign(&t->attempt_timer, w->base, attempt_timer_cb, t);
	evtimer_assign(&t->backoff_timer, w->base, backoff_cb, t);
	evtimer_assign(&t->idle_timer, w->base, idle_cb, t);
	w->active++;
	front_set_closecb(t->cevcon, client_closed_cb, t, w);

	if (!proxy_client_allowed(t->cfg, t->cevcon)) {
		tunnel_reply(t, 403, "Forbidden", "http_request_denied",
		    "retryproxy: your address may not use this proxy "
		    "([proxy] allow)\n");
		return;
	}
	if (http_authority_parse(t->uri, &t->target, &cause) != 0) {
		char body[160];
		snprintf(body, sizeof body,
		    "retryproxy: bad CONNECT target: %s\n", cause);
		tunnel_reply(t, 400, "Bad Request", NULL, body);
		return;
	}
	if (!port_set_contains(&t->cfg->proxy.connect_ports, t->target.port)) {
		tunnel_reply(t, 403, "Forbidden", "http_request_denied",
		    "retryproxy: CONNECT to this port is not allowed "
		    "([proxy] connect_ports)\n");
		return;
	}
	t->route = config_match(t->cfg, t->target.host, t->target.port, "");
	t->pol = &t->route->policy;
	if (t->pol->intercept) {
		if (intercept_ready(w))
			t->intercepting = true;
		else
			log_warnx("CONNECT %s: intercept = yes, but "
				  "interception is not set up (see the start "
				  "log): tunnelling",
			    t->uri);
	}
	t->max_attempts = policy_effective_attempts(t->pol,
	    evhttp_find_header(
		evhttp_request_get_input_headers(creq), "X-Retry-Attempts"));
	budget_note_request(&((struct route *)t->route)->budget, t->start_ms);
	/* watch the client while we connect (evhttp does not) */
	bufferevent_setcb(t->cbev, NULL, NULL, client_early_event_cb, t);
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 65536);
	bufferevent_set_timeouts(t->cbev, NULL, NULL);
	bufferevent_enable(t->cbev, EV_READ);
	tunnel_attempt(t);
}
