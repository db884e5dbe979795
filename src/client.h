/*
 * client: helpers for a client connection, shared by every lane (the
 * evhttp lane, CONNECT, the raw lane, interception).
 */
#ifndef RP_CLIENT_H
#define RP_CLIENT_H

#include <stddef.h>

struct config;
struct evhttp_connection;
struct evhttp_request;
struct worker;

/* A short text/plain reply from the proxy itself, through evhttp. */
void client_reply_text(struct evhttp_request *, int status, const char *reason,
    const char *proxy_status, int close, const char *body);
/* May this client use the proxy ([proxy] allow)? */
int client_allowed(const struct config *, struct evhttp_connection *);
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
