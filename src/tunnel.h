/*
 * tunnel: CONNECT tunnels with connect retries, and upgraded exchanges
 * (a 101 on the raw lane) spliced the same way.
 */
#ifndef RP_TUNNEL_H
#define RP_TUNNEL_H

#include <stdint.h>

struct bufferevent;
struct config;
struct evhttp_connection;
struct evhttp_request;
struct route;
struct worker;

/* Take over a CONNECT request: connect (with retries), then splice. */
void tunnel_start(struct worker *, struct evhttp_request *);

/* What a tunnel adopted after a 101 logs as its request. */
struct tunnel_from {
	struct config *cfg;
	const struct route *route;
	const char *method, *uri, *client, *retries;
	const char *addrs; /* each attempt's address (dial_addrs) */
	const char *gateway; /* the gateway listener's address, or NULL */
	unsigned attempts;
	uint64_t start_ms, wall_ms;
	int status;
};

/*
 * Splice the client connection (its 101 reply queued) with ubev, the
 * origin's connection that answered 101 (Switching Protocols): the
 * exchange is a tunnel from here on, with CONNECT's backpressure,
 * half-close and idle limit, and one access-log line when it ends.
 */
void tunnel_adopt(struct worker *, struct evhttp_connection *,
    struct bufferevent *ubev, const struct tunnel_from *);

#endif
