/*
 * proxy: the evhttp request callback that proxies one client request.
 */
#ifndef RP_PROXY_H
#define RP_PROXY_H

struct evhttp_request;

/* evhttp's generic callback; arg is the struct worker. */
void proxy_request_cb(struct evhttp_request *, void *arg);

#endif
