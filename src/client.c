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
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "config.h"
#include "gateway.h"
#include "metrics.h"
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
	/*
	 * libevent 2.1.12 leaves Content-Length out of an answer to HEAD but
	 * writes the body after it all the same, where the client reads it
	 * as the start of its next response: a HEAD gets the head alone.
	 */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
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
	static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
	static struct auth_cache shared; /* every worker's */
	const struct auth_users *users = c->proxy.users;
	unsigned char key[AUTH_KEY_LEN];
	uint64_t now = util_now_ms();
	bool hit;

	if (c->proxy.auth == AUTH_OFF)
		return true;
	if (proxy_authorization == NULL || users == NULL)
		return false;
	if (w->auth_cache == NULL)
		w->auth_cache = xcalloc(1, sizeof *w->auth_cache);
	auth_key(proxy_authorization, key);
	/* this worker's cache without a lock, then the process's */
	if (auth_cache_find(w->auth_cache, users, key, now, user, ulen))
		return true;
	pthread_mutex_lock(&shared_lock);
	hit = auth_cache_find(&shared, users, key, now, user, ulen);
	pthread_mutex_unlock(&shared_lock);
	if (!hit) {
		/* (the hash is computed outside the lock: it takes a while) */
		bool ok =
		    auth_check_value(users, proxy_authorization, user, ulen);
		metrics_auth_hash(ok);
		if (!ok)
			return false;
		pthread_mutex_lock(&shared_lock);
		auth_cache_put(&shared, users, key, now, user);
		pthread_mutex_unlock(&shared_lock);
	}
	auth_cache_put(w->auth_cache, users, key, now, user);
	return true;
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
