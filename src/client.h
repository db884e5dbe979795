/*
 * client: helpers for a client connection, shared by every lane (the
 * evhttp lane, CONNECT, the raw lane, interception).
 */
#ifndef RP_CLIENT_H
#define RP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct gateway;
struct evhttp_connection;
struct evhttp_request;
struct worker;

/* A short text/plain reply from the proxy itself, through evhttp. */
void client_reply_text(struct evhttp_request *, int status, const char *reason,
    const char *proxy_status, int close, const char *body);
/* May this client use the proxy ([proxy] allow)? */
int client_allowed(const struct config *, struct evhttp_connection *);
/*
 * With [proxy] auth = basic: do these credentials (the request's
 * Proxy-Authorization, NULL for none) name a user of auth_file with the
 * right password?  *user gets the name.  Always true with auth = off.
 */
bool client_authorized(struct worker *, const struct config *,
    const char *proxy_authorization, char *user, size_t ulen);
/* The body of a 407 (with Proxy-Authenticate: CANNED_CHALLENGE). */
#define CLIENT_AUTH_BODY                                                       \
	"retryproxy: this proxy needs a user name and password "               \
	"(Proxy-Authorization: Basic)\n"
/*
 * The gateway listener this connection came in on (gateway_find on its
 * local address), or NULL for the proxy's own listeners.
 */
const struct gateway *client_gateway(
    const struct config *, struct evhttp_connection *);
/*
 * The X-Forwarded-For and Forwarded values a request from this client
 * on gw carries upstream (gateway_forwarded; each malloc'd or NULL).
 */
void client_forwarded(const struct gateway *gw, struct evhttp_connection *,
    const char *prev_xff, const char *prev_fwd, const char *host, char **xff,
    char **fwd);
/* "addr:port" of the client, for the access log. */
void client_name(struct evhttp_connection *, char *, size_t);
/*
 * The request now using the connection wants cb when the connection goes
 * away (NULL: not any more).  evhttp keeps one close callback a
 * connection, which front.c holds on its listener's connections (it
 * installs itself as worker->set_closecb) and passes on: use this, never
 * evhttp_connection_set_closecb, on client connections.
 */
void client_set_closecb(struct evhttp_connection *,
    void (*cb)(struct evhttp_connection *, void *), void *arg, struct worker *);

#endif
