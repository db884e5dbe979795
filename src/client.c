/*
 * client: what every lane does with a client connection -- its name for
 * the log, the [proxy] allow check, a short reply of our own through
 * evhttp, and who hears of the connection going away.
 */
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "config.h"
#include "gateway.h"
#include "util.h"
#include "worker.h"

void
client_reply_text(struct evhttp_request *req, int status, const char *reason,
    const char *proxy_status, int close, const char *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	if (proxy_status != NULL)
		evhttp_add_header(out, "Proxy-Status", proxy_status);
	if (close)
		evhttp_add_header(out, "Connection", "close");
	evbuffer_add(buf, body, strlen(body));
	evhttp_send_reply(req, status, reason, buf);
	evbuffer_free(buf);
}

int
client_allowed(const struct config *c, struct evhttp_connection *evcon)
{
	const struct sockaddr *sa = evhttp_connection_get_addr(evcon);

	return sa == NULL || cidr_set_contains(&c->proxy.allow, sa);
}

bool
client_authorized(struct worker *w, const struct config *c,
    const char *proxy_authorization, char *user, size_t ulen)
{
	if (c->proxy.auth == AUTH_OFF)
		return true;
	if (w->auth_cache == NULL)
		w->auth_cache = xcalloc(1, sizeof *w->auth_cache);
	return auth_verify(c->proxy.users, w->auth_cache, proxy_authorization,
	    util_now_ms(), user, ulen);
}

void
client_name(struct evhttp_connection *evcon, char *buf, size_t len)
{
	char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(buf, len, addr && strchr(addr, ':') ? "[%s]:%u" : "%s:%u",
	    addr ? addr : "-", port);
}

const struct gateway *
client_gateway(const struct config *c, struct evhttp_connection *evcon)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	struct bufferevent *bev;

	if (c->ngateways == 0 || evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	if (bev == NULL ||
	    getsockname(bufferevent_getfd(bev), (struct sockaddr *)&ss, &len) !=
		0)
		return NULL;
	return gateway_find(c, (const struct sockaddr *)&ss);
}

void
client_forwarded(const struct gateway *gw, struct evhttp_connection *evcon,
    const char *prev_xff, const char *prev_fwd, const char *host, char **xff,
    char **fwd)
{
	char *addr = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(evcon, &addr, &port);
	gateway_forwarded(gw->forwarded, addr != NULL ? addr : "unknown",
	    prev_xff, prev_fwd, host, xff, fwd);
}

void
client_set_closecb(struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg, struct worker *w)
{
	if (w->set_closecb != NULL)
		w->set_closecb(
		    evcon, cb, arg, w); /* front's, on its listener */
	else
		evhttp_connection_set_closecb(evcon, cb, arg);
}
