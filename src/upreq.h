/*
 * upreq: the upstream request for a client request (see upreq.c).
 */
#ifndef RP_UPREQ_H
#define RP_UPREQ_H

#include <stdbool.h>

struct evhttp_request;
struct preq;

/*
 * Fill ureq's fields and body from the client request of p, for an
 * attempt to host:port (https: over TLS, so port 443 is the default).
 */
void upreq_build(struct preq *p, struct evhttp_request *ureq, const char *host,
    unsigned port, bool https);

#endif
