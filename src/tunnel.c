/*
 * tunnel: CONNECT.  The TCP connect to host:port is retried under the
 * route's policy (dns and connect failures only: nothing has been sent);
 * then the client connection is taken over from evhttp, "200 Connection
 * established" is written, and bytes are spliced both ways with
 * backpressure, half-close and an idle limit: between two plain sockets
 * with splice(2) in the kernel (zs_start, zlink.h), else (TLS on a side)
 * through the bufferevents (start_splice).  One struct tunnel per CONNECT,
 * freed only in tunnel_free().
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
#include "bodyread.h"
#include "canned.h"
#include "dial.h"
#include "client.h"
#include "http.h"
#include "intercept.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "reqscan.h"
#include "scanbuf.h"
#include "tunnel.h"
#include "util.h"
#include "worker.h"
#include "zlink.h"

#define TUNNEL_HWM (256 * 1024) /* stop reading a side above this */
#define TUNNEL_LWM (64 * 1024) /* resume below this */
#define TUNNEL_WRITE (256 * 1024) /* the most one write takes */

struct tunnel {
	struct worker *w;
	struct evhttp_request *creq;
	struct evhttp_connection *cevcon;
	struct bufferevent *cbev; /* the client's, once taken over */
	struct bufferevent *cside; /* what we splice: cbev, or its TLS filter */
	struct evbuffer_cb_entry *flushed_cbe;
	struct bufferevent *ubev;
	/* large reads of each plain side (bodyread.h), once spliced */
	struct bodyread cread, uread;
	/*
	 * Both sides plain sockets: the bytes move with splice(2)
	 * (zlink.h), the bufferevents off.
	 */
	bool zs;
	struct zlink zl;
	struct config *cfg;
	const struct route *route;
	const struct policy *pol;
	struct http_url target;
	const char *uri;
	char *uri_owned; /* adopted: a copy of the request's URL */
	const char *method;
	char method_buf[24];
	struct dial dial; /* the attempts (CONNECT) */
	uint64_t wall_ms;
	struct event idle_timer;
	bool established, finished, free_pending;
	bool c_eof, u_eof;
	bool intercepting; /* spliced into the interception server */
	unsigned mitm_token;
	struct reqscan scan; /* the client's requests, when intercepting */
	unsigned busy;
	uint64_t bytes_down, bytes_up;
	int status;
	const char *error;
	char client[64];
	char user[128]; /* auth = basic: who (for the access log) */
	char gateway[80]; /* adopted from a gateway's request: its address */
	int reply_flags; /* more canned flags for tunnel_reply (a 407's) */
};

static void tunnel_attempt(struct tunnel *);
static void tunnel_free(struct tunnel *);

static void
tunnel_log(struct tunnel *t)
{
	struct access_entry e;

	if (!log_access_enabled())
		return;
	memset(&e, 0, sizeof e);
	e.wall_ms = t->wall_ms;
	e.client = t->client;
	e.method = t->method;
	e.url = t->uri;
	e.status = t->status;
	dial_log_fields(&t->dial, &e);
	e.bytes = t->bytes_down;
	e.bytes_in = t->bytes_up;
	e.tunnel = 1;
	e.error = t->error;
	e.user = t->user;
	e.gateway = t->gateway[0] != '\0' ? t->gateway : NULL;
	log_access_entry(&t->w->line, &e);
}

/* Stop the attempt in flight (resolver, connect, timers). */
static void
stop_attempt(struct tunnel *t)
{
	dial_stop(&t->dial);
	if (!t->established && t->ubev != NULL) {
		bufferevent_free(t->ubev);
		t->ubev = NULL;
	}
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
		metrics_request(t->route->metrics, t->status, t->dial.attempt,
		    util_now_ms() - t->dial.start_ms);
		if (t->established)
			metrics_tunnel(-1);
		tunnel_log(t);
	}
	stop_attempt(t);
	event_del(&t->idle_timer);
	if (t->zs)
		zlink_stop(&t->zl); /* (before the sockets close) */
	bodyread_stop(&t->cread);
	bodyread_stop(&t->uread);
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
		client_set_closecb(t->cevcon, NULL, NULL, t->w);
		evhttp_connection_free(t->cevcon);
	}
	if (t->intercepting)
		intercept_forget(t->w, t->mitm_token);
	free(t->uri_owned);
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
tunnel_reply(struct tunnel *t, int status, const char *token, const char *body)
{
	struct sbuf out = {0};

	t->status = status;
	t->error = token;
	stop_attempt(t);
	canned_format(&out, status, token, token != NULL ? t->dial.attempt : 0,
	    CANNED_CLOSE | t->reply_flags, body);
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 0);
	bufferevent_setcb(t->cbev, NULL, reply_written_cb, reply_event_cb, t);
	bufferevent_disable(t->cbev, EV_READ);
	bufferevent_write(t->cbev, out.s, out.len);
	sbuf_free(&out);
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
 * Bytes read from a side: the access log's count (bytes, bytes_in) and
 * the metric of how they moved.
 */
static void
counted(uint64_t *count, uint64_t spliced, uint64_t copied)
{
	*count += spliced + copied;
	metrics_tunnel_bytes(spliced, copied);
}

/* How a side is read: the plain ones through a bodyread. */
static struct bodyread *
reader_of(struct tunnel *t, struct bufferevent *bev)
{
	return bev == t->ubev ? &t->uread : &t->cread;
}

/* Stop or resume reading a side (backpressure). */
static void
reading(struct tunnel *t, struct bufferevent *bev, bool on)
{
	bodyread_reading(reader_of(t, bev), bev, on);
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
	struct sbuf out = {0};
	char *body;

	/* (everything in `in` is new: splice() moves it all on each time) */
	if (scanbuf_feed_strip(&t->scan, in, NULL, evbuffer_get_length(in)) ==
	    0)
		return true;
	body = xasprintf("retryproxy: %s\n", t->scan.why);
	canned_format(
	    &out, t->scan.status, "http_request_error", 0, CANNED_CLOSE, body);
	free(body);
	evbuffer_drain(in, evbuffer_get_length(in));
	bufferevent_write(t->cside, out.s, out.len);
	sbuf_free(&out);
	t->error = "http_request_error";
	t->c_eof = t->u_eof = true; /* end once written */
	reading(t, t->cside, false);
	reading(t, t->ubev, false);
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
	counted(count, 0, evbuffer_get_length(in));
	evbuffer_add_buffer(out, in);
	if (evbuffer_get_length(out) >= TUNNEL_HWM) {
		reading(t, from, false);
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
		reading(t, other, true);
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

/*
 * Start splicing: both sides read and written.  A plain socket is read
 * in large pieces (libevent 2.1 reads 4 KiB a call; bench connect1m,
 * 1 MiB downloads: 282 MiB/s before, about 1,700 after); a TLS side (an intercepted client, a tls = yes
 * origin behind an upgrade) reads through its own bufferevent.
 */
static void
start_splice(struct tunnel *t)
{
	static const struct timeval no_limit = {0, 0}; /* (idle_timer's) */

	bufferevent_setcb(t->cside, read_cb, write_cb, event_cb, t);
	bufferevent_setcb(t->ubev, read_cb, write_cb, event_cb, t);
	bufferevent_set_max_single_write(t->cbev, TUNNEL_WRITE);
	bufferevent_set_max_single_write(t->ubev, TUNNEL_WRITE);
	bufferevent_enable(t->cside, EV_WRITE);
	bufferevent_enable(t->ubev, EV_WRITE);
	if (t->cside != t->cbev)
		bufferevent_enable(t->cside, EV_READ);
	else
		bodyread_start(&t->cread, t->cbev, &no_limit, NULL, NULL);
	if (bufferevent_openssl_get_ssl(t->ubev) != NULL)
		bufferevent_enable(t->ubev, EV_READ);
	else
		bodyread_start(&t->uread, t->ubev, &no_limit, NULL, NULL);
}

/* ---- splicing plain sockets in the kernel (zlink.h) ----------------- */

static void
zs_read_cb(void *arg, bool up, uint64_t spliced, uint64_t copied, bool moved)
{
	struct tunnel *t = arg;

	counted(up ? &t->bytes_up : &t->bytes_down, spliced, copied);
	if (moved)
		touch(t);
}

static void
zs_end_cb(void *arg)
{
	tunnel_free(arg);
}

/*
 * Splice in the kernel when both sides are plain sockets (not on an
 * intercepted tunnel, nor to a TLS origin): the bufferevents stop, what
 * they hold (the 200 or 101 queued to the client, bytes read past the
 * parent's or the origin's answer, the client's early data) is written
 * first, and the link's own events on the two sockets drive the rest.
 * false: splice with the bufferevents (start_splice).
 */
static bool
zs_start(struct tunnel *t)
{
	int cfd = bufferevent_getfd(t->cbev), ufd = bufferevent_getfd(t->ubev);

	if (t->w->zpool == NULL || t->intercepting || t->cside != t->cbev ||
	    cfd < 0 || ufd < 0 ||
	    bufferevent_openssl_get_ssl(t->cbev) != NULL ||
	    bufferevent_openssl_get_ssl(t->ubev) != NULL)
		return false;
	zlink_init(&t->zl, t->w->zpool, cfd, ufd);
	bufferevent_disable(t->cbev, EV_READ | EV_WRITE);
	bufferevent_disable(t->ubev, EV_READ | EV_WRITE);
	bufferevent_setcb(t->cbev, NULL, NULL, NULL, NULL);
	bufferevent_setcb(t->ubev, NULL, NULL, NULL, NULL);
	zlink_take(&t->zl, false, bufferevent_get_output(t->cbev), true);
	/* (read by the bufferevents: copied) */
	counted(&t->bytes_down, 0,
	    zlink_take(&t->zl, false, bufferevent_get_input(t->ubev), false));
	zlink_take(&t->zl, true, bufferevent_get_output(t->ubev), true);
	counted(&t->bytes_up, 0,
	    zlink_take(&t->zl, true, bufferevent_get_input(t->cbev), false));
	/* (its first pumps run from the loop: not under our callers) */
	zlink_start(&t->zl, t->w->base, t->w->id, zs_read_cb, zs_end_cb, t);
	t->zs = true;
	touch(t);
	return true;
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
	} else if (zs_start(t))
		return;
	start_splice(t);
	if (t->intercepting) {
		/* a ClientHello that came with the CONNECT is waiting */
		if (evbuffer_get_length(bufferevent_get_input(t->cbev)) > 0)
			bufferevent_trigger(t->cbev, EV_READ, 0);
	} else if (evbuffer_get_length(bufferevent_get_input(t->cbev)) > 0)
		splice(t, t->cbev, t->ubev, &t->bytes_up); /* early data */
	touch(t);
}

/* ---- connecting, with retries (dial.c) ---------------------------- */

static void
dial_failed_cb(struct dial *d, enum fail_kind kind)
{
	struct tunnel *t = d->arg;
	struct outcome o = {.fail = kind};
	char body[400];

	stop_attempt(t);
	/* nothing was sent before a CONNECT is up: not a re-send */
	if (dial_retry(d, &o, false))
		return;
	snprintf(body, sizeof body,
	    "retryproxy: %u attempt%s to connect to %s failed; last error: "
	    "%s\n",
	    d->attempt, d->attempt == 1 ? "" : "s", t->uri,
	    fail_kind_token(kind));
	tunnel_reply(t, fail_kind_status(kind), fail_kind_token(kind), body);
}

static void
dial_denied_cb(struct dial *d)
{
	tunnel_reply(d->arg, 403, "http_request_denied",
	    "retryproxy: the destination address is denied by [proxy] deny\n");
}

static void
dial_connected_cb(struct dial *d, struct bufferevent *bev)
{
	struct tunnel *t = d->arg;

	t->ubev = bev;
	established(t);
}

static void
dial_retry_cb(struct dial *d)
{
	tunnel_attempt(d->arg);
}

/* Our own interception server (no DNS): connected or failed. */
static void
intercept_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tunnel *t = arg;

	if (what & BEV_EVENT_CONNECTED) {
		dial_disarm(&t->dial);
		established(t);
	} else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		dial_failed_cb(&t->dial, FK_CONNECTION_REFUSED);
}

static void
tunnel_attempt(struct tunnel *t)
{
	if (!t->intercepting) {
		dial_attempt(
		    &t->dial, t->target.host, t->target.port, false, false);
		return;
	}
	dial_begin(&t->dial);
	dial_arm(&t->dial, t->pol->connect_timeout_ms, FK_CONNECTION_TIMEOUT);
	intercept_forget(t->w, t->mitm_token);
	t->ubev = intercept_connect(t->w, t->target.host, t->target.port,
	    t->target.host_is_ipv6, &t->mitm_token);
	if (t->ubev == NULL) {
		/* (from the loop, like every dial failure) */
		dial_arm(&t->dial, 0, FK_CONNECTION_REFUSED);
		return;
	}
	bufferevent_setcb(t->ubev, NULL, NULL, intercept_event_cb, t);
}

static struct tunnel *
tunnel_new(struct worker *w, struct evhttp_connection *cevcon,
    struct config *cfg, const char *method)
{
	struct tunnel *t = xcalloc(1, sizeof *t);

	t->w = w;
	t->cevcon = cevcon;
	t->cbev = evhttp_connection_get_bufferevent(cevcon);
	t->cfg = cfg;
	t->route = &t->cfg->defaults;
	t->pol = &t->route->policy;
	t->wall_ms = util_wall_ms();
	snprintf(t->method_buf, sizeof t->method_buf, "%s", method);
	t->method = t->method_buf;
	evtimer_assign(&t->idle_timer, w->base, idle_cb, t);
	dial_init(&t->dial, w, t->cfg, t->route, t->method, t);
	t->dial.connected_cb = dial_connected_cb;
	t->dial.failed_cb = dial_failed_cb;
	t->dial.tunnel = true; /* through a parent: CONNECT */
	t->dial.denied_cb = dial_denied_cb;
	t->dial.retry_cb = dial_retry_cb;
	w->active++;
	client_set_closecb(t->cevcon, client_closed_cb, t, w);
	return t;
}

void
tunnel_adopt(struct worker *w, struct evhttp_connection *cevcon,
    struct bufferevent *ubev, const struct tunnel_from *from)
{
	struct tunnel *t =
	    tunnel_new(w, cevcon, config_ref(from->cfg), from->method);

	t->route = from->route;
	t->pol = &t->route->policy;
	t->uri_owned = xstrdup(from->uri);
	t->uri = t->uri_owned;
	snprintf(t->client, sizeof t->client, "%s", from->client);
	if (from->gateway != NULL)
		snprintf(t->gateway, sizeof t->gateway, "%s", from->gateway);
	t->dial.attempt = from->attempts;
	snprintf(t->dial.retries, sizeof t->dial.retries, "%s", from->retries);
	/* (the attempts were the raw lane's: their addresses are logged) */
	snprintf(
	    t->dial.addrs_text, sizeof t->dial.addrs_text, "%s", from->addrs);
	t->dial.any_addr = from->addrs[0] != '\0';
	t->dial.addr_logged = true;
	t->dial.start_ms = from->start_ms;
	t->wall_ms = from->wall_ms;
	t->ubev = ubev;
	t->established = true;
	t->status = from->status;
	metrics_tunnel(1);
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 0);
	bufferevent_setwatermark(t->cbev, EV_WRITE, 0, 0);
	bufferevent_setwatermark(t->ubev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(t->cbev, NULL, NULL);
	bufferevent_set_timeouts(t->ubev, NULL, NULL);
	t->cside = t->cbev;
	if (zs_start(t))
		return;
	start_splice(t);
	if (evbuffer_get_length(bufferevent_get_input(t->cbev)) > 0)
		splice(t, t->cbev, t->ubev, &t->bytes_up); /* early data */
	touch(t);
}

void
tunnel_start(struct worker *w, struct evhttp_request *creq)
{
	struct evhttp_connection *cevcon = evhttp_request_get_connection(creq);
	struct tunnel *t =
	    tunnel_new(w, cevcon, config_ref(worker_config(w)), "CONNECT");
	const char *cause;

	t->creq = creq;
	t->uri = evhttp_request_get_uri(creq);
	client_name(t->cevcon, t->client, sizeof t->client);
	if (!client_allowed(t->cfg, t->cevcon)) {
		tunnel_reply(t, 403, "http_request_denied",
		    "retryproxy: your address may not use this proxy "
		    "([proxy] allow)\n");
		return;
	}
	if (client_gateway(t->cfg, t->cevcon) != NULL) {
		/* (a gateway is an origin to its clients: no tunnels) */
		tunnel_reply(t, 501, "http_request_denied",
		    "retryproxy: a gateway listener does not take CONNECT: "
		    "use the proxy's listen address\n");
		return;
	}
	if (!client_authorized(w, t->cfg,
		evhttp_find_header(evhttp_request_get_input_headers(creq),
		    "Proxy-Authorization"),
		t->user, sizeof t->user)) {
		t->reply_flags = CANNED_AUTH;
		tunnel_reply(t, 407, "http_request_denied", CLIENT_AUTH_BODY);
		return;
	}
	if (http_authority_parse(t->uri, &t->target, &cause) != 0) {
		char body[160];
		snprintf(body, sizeof body,
		    "retryproxy: bad CONNECT target: %s\n", cause);
		tunnel_reply(t, 400, NULL, body);
		return;
	}
	if (!port_set_contains(&t->cfg->proxy.connect_ports, t->target.port)) {
		tunnel_reply(t, 403, "http_request_denied",
		    "retryproxy: CONNECT to this port is not allowed "
		    "([proxy] connect_ports)\n");
		return;
	}
	t->route = config_match(t->cfg, t->target.host, t->target.port, "");
	t->pol = &t->route->policy;
	t->dial.route = t->route;
	t->dial.pol = t->pol;
	if (t->pol->intercept) {
		if (intercept_ready(w))
			t->intercepting = true;
		else
			log_warnx("CONNECT %s: intercept = yes, but "
				  "interception is not set up (see the start "
				  "log): tunnelling",
			    t->uri);
	}
	t->dial.max_attempts = policy_effective_attempts(t->pol,
	    evhttp_find_header(
		evhttp_request_get_input_headers(creq), "X-Retry-Attempts"));
	budget_note_request(
	    &((struct route *)t->route)->budget, t->dial.start_ms);
	/* watch the client while we connect (evhttp does not) */
	bufferevent_setcb(t->cbev, NULL, NULL, client_early_event_cb, t);
	bufferevent_setwatermark(t->cbev, EV_READ, 0, 65536);
	bufferevent_set_timeouts(t->cbev, NULL, NULL);
	bufferevent_enable(t->cbev, EV_READ);
	tunnel_attempt(t);
}
