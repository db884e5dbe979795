/*
 * relay: the raw lane -- one client request proxied byte by byte on the
 * client connection taken over from evhttp (front.c decides which, from
 * the request head, before evhttp sees it): every request evhttp cannot
 * carry (a method it does not know, a chunked body, a body larger than
 * max_request_body, an Upgrade) and, with lane = raw (the default),
 * every other but CONNECT and those of a route with parents, hedging or
 * retry_if_body (policy_needs_evhttp_lane).  A body up to
 * max_request_body is held for re-sending; a larger one streams with
 * backpressure and may go again only when nothing of it was sent
 * (rawbody.c).  A 101 becomes a two-way splice (tunnel.c).  The
 * upstream connection comes from the raw lane's pool (rawpool.c) or is
 * dialed, and goes back to the pool after a response read whole.  The
 * code: relay.c (the client side, the end), relayup.c (the attempt),
 * relayresp.c (the response), sharing relay-int.h.
 */
#ifndef RP_RELAY_H
#define RP_RELAY_H

#include <stdbool.h>

#include "reqscan.h"

struct bufferevent;
struct eagerwrite;
struct evbuffer;
struct evhttp_connection;
struct relay;
struct worker;

/* How a relayed exchange left the client connection. */
enum relay_end {
	RELAY_KEEP, /* at a request boundary: evhttp may read the next */
	RELAY_CLOSE, /* to be closed */
	RELAY_TUNNEL, /* a tunnel owns it now (after a 101) */
	RELAY_GONE, /* the connection was freed under us (relay_client_gone) */
};

/*
 * Take over the client connection for one request.  head holds the
 * request head's exact bytes (emptied); scan is the connection's scan
 * just after it (how the body is framed); the body follows in bev's
 * input.  done(ctx, end) runs once, from the event loop, when the
 * exchange is over; the bufferevent's callbacks are then the caller's
 * to restore (RELAY_KEEP) or the connection to close (RELAY_CLOSE).
 */
struct relay *relay_start(struct worker *, struct evhttp_connection *,
    struct bufferevent *bev, struct eagerwrite *ew, struct evbuffer *head,
    const struct reqscan *scan, void (*done)(void *ctx, enum relay_end),
    void *ctx);
/* evhttp is freeing the client connection: end the exchange now. */
void relay_client_gone(struct relay *);
/* Free the memory kept for the next requests (the worker ends). */
void relay_spares_free(struct worker *);

#endif
