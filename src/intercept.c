/*
 * intercept: the per-worker interception server and the map from inner
 * connection (its source port) to the CONNECT target.
 */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "intercept.h"
#include "log.h"
#include "nodelay.h"
#include "client.h"
#include "tls.h"
#include "util.h"
#include "worker.h"

#define NBUCKETS 256

struct mitm_entry {
	unsigned port; /* the inner connection's source port */
	char host[256];
	bool ipv6;
	unsigned target_port;
	struct mitm_entry *next;
};

/* One certificate minter for all workers, so every leaf is minted once. */
static pthread_mutex_t mitm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_mitm *mitm_shared;
static unsigned mitm_users;

struct intercept {
	struct tls_mitm *mitm;
	struct evhttp *http;
	struct sockaddr_in addr;
	struct mitm_entry *map[NBUCKETS];
};

static struct mitm_entry *
lookup(struct worker *w, unsigned port)
{
	struct mitm_entry *e;

	if (w->intercept == NULL)
		return NULL;
	for (e = w->intercept->map[port % NBUCKETS]; e != NULL; e = e->next)
		if (e->port == port)
			return e;
	return NULL;
}

/*
 * The tunnel a connection to the interception server comes from, or
 * NULL.  Our inner sockets are bound to 127.0.0.1 and hold their port
 * while the tunnel lives, so no other process can connect from that
 * address and port; any other peer (127.0.0.2, ::1, a port we did not
 * bind) is some local program knocking on the listener directly.
 */
static struct mitm_entry *
tunnel_of(struct worker *w, int fd)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	socklen_t len = sizeof ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    ss.ss_family != AF_INET ||
	    sin->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		return NULL;
	return lookup(w, ntohs(sin->sin_port));
}

/* A request inside an intercepted tunnel: proxy it to https://host:port. */
static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct worker *w = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct mitm_entry *e = tunnel_of(w, bufferevent_getfd(bev));

	if (e == NULL) {
		char name[INET6_ADDRSTRLEN + 8];
		client_name(evcon, name, sizeof name);
		log_info("%s: refused on the interception listener: not one "
			 "of our tunnels",
		    name);
		client_reply_text(req, 403, "Forbidden",
		    "retryproxy; error=http_request_denied", 1,
		    "retryproxy: only intercepted tunnels may use this "
		    "listener\n");
		return;
	}
	w->intercept_request(req, w, e->host, e->ipv6, e->target_port);
}

int
intercept_init(struct worker *w, const struct config *c)
{
	struct intercept *ic;
	struct evconnlistener *l;
	socklen_t len;
	char *cause = NULL;
	struct timeval tv = rp_tv(c->proxy.client_timeout_ms);

	if (!c->any_intercept || c->tls.ca_cert == NULL)
		return 0;
	ic = xcalloc(1, sizeof *ic);
	w->intercept = ic;
	pthread_mutex_lock(&mitm_lock);
	if (mitm_shared == NULL)
		mitm_shared =
		    tls_mitm_new(c->tls.ca_cert, c->tls.ca_key, &cause);
	if (mitm_shared != NULL)
		mitm_users++;
	ic->mitm = mitm_shared;
	pthread_mutex_unlock(&mitm_lock);
	if (ic->mitm == NULL) {
		log_warnx("interception disabled: %s", cause);
		free(cause);
		intercept_free(w);
		return -1;
	}
	ic->addr.sin_family = AF_INET;
	ic->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = evconnlistener_new_bind(w->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128,
	    (struct sockaddr *)&ic->addr, sizeof ic->addr);
	len = sizeof ic->addr;
	if (l == NULL ||
	    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ic->addr,
		&len) != 0) {
		log_warn("interception disabled: no loopback listener");
		if (l != NULL)
			evconnlistener_free(l);
		intercept_free(w);
		return -1;
	}
	/*
	 * (the loopback hop's both ends: without it every request in a kept
	 * tunnel waited 40-88 ms for delayed ACKs, nodelay.h)
	 */
	(void)nodelay_set(evconnlistener_get_fd(l));
	ic->http = evhttp_new(w->base);
	evhttp_set_allowed_methods(ic->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
		EVHTTP_REQ_TRACE | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(ic->http, NULL);
	evhttp_set_max_headers_size(
	    ic->http, (ev_ssize_t)c->proxy.max_header_size);
	evhttp_set_max_body_size(
	    ic->http, (ev_ssize_t)c->proxy.max_request_body);
	evhttp_set_timeout_tv(ic->http, &tv);
	evhttp_set_gencb(ic->http, request_cb, w);
	evhttp_bind_listener(ic->http, l);
	return 0;
}

void
intercept_free(struct worker *w)
{
	struct intercept *ic = w->intercept;

	if (ic == NULL)
		return;
	if (ic->http != NULL)
		evhttp_free(ic->http);
	pthread_mutex_lock(&mitm_lock);
	if (ic->mitm != NULL && --mitm_users == 0) {
		tls_mitm_free(mitm_shared);
		mitm_shared = NULL;
	}
	pthread_mutex_unlock(&mitm_lock);
	for (unsigned b = 0; b < NBUCKETS; b++) {
		struct mitm_entry *e, *next;
		for (e = ic->map[b]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(ic);
	w->intercept = NULL;
}

bool
intercept_ready(const struct worker *w)
{
	return w->intercept != NULL && w->intercept->http != NULL;
}

struct bufferevent *
intercept_connect(struct worker *w, const char *host, unsigned port, bool ipv6,
    unsigned *token)
{
	struct intercept *ic = w->intercept;
	struct sockaddr_in local = {0};
	socklen_t len = sizeof local;
	struct mitm_entry *e;
	struct bufferevent *bev;
	int fd;

	/* bind first, so the map knows the port before the server sees it */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	local.sin_family = AF_INET;
	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 ||
	    bind(fd, (struct sockaddr *)&local, sizeof local) != 0 ||
	    getsockname(fd, (struct sockaddr *)&local, &len) != 0) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	(void)nodelay_set(fd);
	e = xcalloc(1, sizeof *e);
	e->port = ntohs(local.sin_port);
	snprintf(e->host, sizeof e->host, "%s", host);
	e->ipv6 = ipv6;
	e->target_port = port;
	e->next = ic->map[e->port % NBUCKETS];
	ic->map[e->port % NBUCKETS] = e;
	*token = e->port;
	bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL ||
	    bufferevent_socket_connect(
		bev, (struct sockaddr *)&ic->addr, sizeof ic->addr) != 0) {
		if (bev != NULL)
			bufferevent_free(bev);
		else
			close(fd);
		intercept_forget(w, *token);
		return NULL;
	}
	return bev;
}

void
intercept_forget(struct worker *w, unsigned token)
{
	struct mitm_entry **pp, *e;

	if (w->intercept == NULL)
		return;
	for (pp = &w->intercept->map[token % NBUCKETS]; (e = *pp) != NULL;
	     pp = &e->next)
		if (e->port == token) {
			*pp = e->next;
			free(e);
			return;
		}
}

struct bufferevent *
intercept_tls(struct worker *w, struct bufferevent *client, const char *host)
{
	SSL *ssl = tls_mitm_ssl(w->intercept->mitm, host);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_filter_new(
	    w->base, client, ssl, BUFFEREVENT_SSL_ACCEPTING, 0);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
