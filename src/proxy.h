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
/* A short text/plain reply from the proxy itself. */
void proxy_reply_text(struct evhttp_request *, int status, const char *reason,
    const char *proxy_status, int close, const char *body);
/* May this client use the proxy ([proxy] allow)? */
int proxy_client_allowed(const struct config *, struct evhttp_connection *);
/* "addr:port" of the client, for the access log. */
void proxy_client_name(struct evhttp_connection *, char *, size_t);

#endif
