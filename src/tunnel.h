/*
 * tunnel: CONNECT tunnels with connect retries.
 */
#ifndef RP_TUNNEL_H
#define RP_TUNNEL_H

struct evhttp_request;
struct worker;

/* Take over a CONNECT request: connect (with retries), then splice. */
void tunnel_start(struct worker *, struct evhttp_request *);

#endif
