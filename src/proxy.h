/*
 * proxy: the evhttp request callback that proxies one client request.
 */
#ifndef RP_PROXY_H
#define RP_PROXY_H

struct evhttp_request;

struct config;
struct evhttp_connection;
struct worker;

/* evhttp's generic callback; arg is the struct worker. */
void proxy_request_cb(struct evhttp_request *, void *arg);
/*
 * A request from inside an intercepted tunnel (origin-form target): proxy
 * it to https://host:port with the route's full policy.
 */
void proxy_request_intercepted(struct evhttp_request *, struct worker *,
    const char *host, int ipv6, unsigned port);
#endif
