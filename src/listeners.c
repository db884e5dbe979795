/*
 * listeners: the addresses the daemon listens on (see listeners.h).
 */
#include <errno.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "front.h"
#include "listeners.h"
#include "log.h"
#include "sdnotify.h"
#include "util.h"
#include "worker.h"

static int g_activated; /* sockets passed by systemd */
/* their addresses, read at start (the fds are closed once dup'd) */
static struct listen_addr *g_activated_addrs;

/* Fail early, with a clear message, when an address cannot be bound. */
static int
probe_bind(const struct listen_addr *la)
{
	int fd = socket(la->ss.ss_family, SOCK_STREAM, 0), one = 1, rc;

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	rc = bind(fd, (const struct sockaddr *)&la->ss, la->sslen);
	if (rc != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* Did systemd pass a socket bound to exactly la? */
static bool
activated_has(const struct listen_addr *la)
{
	for (int i = 0; i < g_activated; i++) {
		const struct listen_addr *got = &g_activated_addrs[i];
		if (got->sslen == la->sslen &&
		    memcmp(&got->ss, &la->ss, la->sslen) == 0)
			return true;
	}
	return false;
}

/*
 * The addresses this process binds itself for c: [proxy] listen (unless
 * systemd passed the sockets: its ListenStream= replaces listen) and
 * every gateway's that systemd did not pass.  *n gets how many.
 */
static const struct listen_addr **
wanted_addrs(const struct config *c, size_t *n)
{
	const struct listen_addr **v =
	    xcalloc(c->proxy.nlisten + c->ngateways + 1, sizeof *v);

	*n = 0;
	for (size_t i = 0; g_activated == 0 && i < c->proxy.nlisten; i++)
		v[(*n)++] = &c->proxy.listen[i];
	for (size_t i = 0; i < c->ngateways; i++)
		if (g_activated == 0 || !activated_has(&c->gateways[i].addr))
			v[(*n)++] = &c->gateways[i].addr;
	return v;
}

/*
 * Listen on exactly the addresses of c (and on the sockets systemd
 * passed): bind the new ones, drop the ones no longer listed.  Which
 * listener a connection came in on -- the proxy's or a gateway's -- is
 * told later by its local address (gateway_find), so systemd's sockets
 * serve gateways too.
 */
int
listeners_bind(struct worker *w, const struct config *c)
{
	size_t i, j, n = 0, nwant;
	const struct listen_addr **want;

	if (g_activated > 0 && w->nbound == 0) {
		w->bound = xcalloc((size_t)g_activated, sizeof *w->bound);
		w->bound_text =
		    xcalloc((size_t)g_activated, sizeof *w->bound_text);
		for (int fd = 3; fd < 3 + g_activated; fd++) {
			int d;
			/*
			 * systemd passes blocking sockets: a blocking accept
			 * would stall the loop (the flag is shared by dups)
			 */
			evutil_make_socket_nonblocking(fd);
			d = dup(fd);
			struct evhttp_bound_socket *b = d < 0
			    ? NULL
			    : evhttp_accept_socket_with_handle(w->http, d);
			if (b == NULL) {
				log_warn(
				    "cannot accept on inherited socket %d", fd);
				return -1;
			}
			front_watch_listener(
			    w, evhttp_bound_socket_get_listener(b));
			w->bound_text[w->nbound] = xasprintf("fd %d", fd);
			w->bound[w->nbound++] = b;
		}
	}
	want = wanted_addrs(c, &nwant);
	/* drop what the config no longer lists (systemd's stay) */
	for (i = 0; i < w->nbound; i++) {
		for (j = 0; j < nwant; j++)
			if (strcmp(w->bound_text[i], want[j]->text) == 0)
				break;
		if (j == nwant && strncmp(w->bound_text[i], "fd ", 3) != 0) {
			evhttp_del_accept_socket(w->http, w->bound[i]);
			free(w->bound_text[i]);
		} else {
			w->bound[n] = w->bound[i];
			w->bound_text[n++] = w->bound_text[i];
		}
	}
	w->nbound = n;
	w->bound = xrealloc(w->bound, (n + nwant) * sizeof *w->bound);
	w->bound_text =
	    xrealloc(w->bound_text, (n + nwant) * sizeof *w->bound_text);
	/* bind what is new */
	for (j = 0; j < nwant; j++) {
		const struct listen_addr *la = want[j];
		struct evconnlistener *l;
		for (i = 0; i < n; i++)
			if (strcmp(w->bound_text[i], la->text) == 0)
				break;
		if (i < n)
			continue;
		l = evconnlistener_new_bind(w->base, NULL, NULL,
		    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
			LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
		    1024, (const struct sockaddr *)&la->ss, (int)la->sslen);
		if (l == NULL) {
			log_warn("cannot listen on %s", la->text);
			free(want);
			return -1;
		}
		w->bound_text[w->nbound] = xstrdup(la->text);
		front_watch_listener(w, l);
		w->bound[w->nbound++] = evhttp_bind_listener(w->http, l);
	}
	free(want);
	return 0;
}

/* Is la one of c's addresses (listen or a gateway's)? */
static bool
config_binds(const struct config *c, const struct listen_addr *la)
{
	size_t n;
	const struct listen_addr **v = wanted_addrs(c, &n);
	bool had = false;

	for (size_t i = 0; i < n; i++)
		had |= strcmp(v[i]->text, la->text) == 0;
	free(v);
	return had;
}

int
listeners_start(const struct config *c)
{
	size_t n;
	const struct listen_addr **v;

	g_activated = sdnotify_listen_fds();
	g_activated_addrs = xcalloc((size_t)(g_activated > 0 ? g_activated : 1),
	    sizeof *g_activated_addrs);
	for (int i = 0; i < g_activated; i++) {
		struct listen_addr *la = &g_activated_addrs[i];
		socklen_t len = sizeof la->ss;
		if (getsockname(3 + i, (struct sockaddr *)&la->ss, &len) == 0)
			la->sslen = len;
	}
	v = wanted_addrs(c, &n);
	for (size_t i = 0; i < n; i++)
		if (probe_bind(v[i]) != 0) {
			log_warn("cannot listen on %s", v[i]->text);
			free(v);
			listeners_free();
			return -1;
		}
	free(v);
	return 0;
}

int
listeners_probe(const struct config *c, const struct config *running)
{
	size_t nwant;
	const struct listen_addr **want = wanted_addrs(c, &nwant);

	for (size_t i = 0; i < nwant; i++) {
		const struct listen_addr *la = want[i];
		if (!config_binds(running, la) && probe_bind(la) != 0) {
			log_warn("reload: cannot listen on %s: keeping the "
				 "running configuration",
			    la->text);
			free(want);
			return -1;
		}
	}
	free(want);
	return 0;
}

int
listeners_activated(void)
{
	return g_activated;
}

void
listeners_close_activated(void)
{
	for (int fd = 3; fd < 3 + g_activated; fd++)
		close(fd);
}

void
listeners_unbind(struct worker *w)
{
	for (size_t i = 0; i < w->nbound; i++) {
		evhttp_del_accept_socket(w->http, w->bound[i]);
		free(w->bound_text[i]);
	}
	w->nbound = 0;
}

void
listeners_worker_free(struct worker *w)
{
	for (size_t i = 0; i < w->nbound; i++)
		free(w->bound_text[i]);
	free(w->bound_text);
	free(w->bound);
	w->bound_text = NULL;
	w->bound = NULL;
	w->nbound = 0;
}

void
listeners_free(void)
{
	free(g_activated_addrs);
	g_activated_addrs = NULL;
}
