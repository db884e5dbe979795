/*
 * intercept: TLS interception for routes with intercept = yes.  Each
 * worker runs a second evhttp on a private loopback port whose
 * connections are TLS (bufferevent_openssl) with certificates minted for
 * the CONNECT target; a CONNECT to an intercepted route is spliced into
 * it instead of the origin.  The source port of that inner connection
 * tells which CONNECT target a request belongs to.
 */
#ifndef RP_INTERCEPT_H
#define RP_INTERCEPT_H

#include <stdbool.h>

struct bufferevent;
struct config;
struct worker;

/* Set up the worker's interception server when the config needs one. */
int intercept_init(struct worker *, const struct config *);
void intercept_free(struct worker *);
/* Is interception available on this worker? */
bool intercept_ready(const struct worker *);
/*
 * Connect to the worker's interception server for host:port; the
 * returned bufferevent is connecting (BEV_EVENT_CONNECTED follows), and
 * *token identifies the mapping to drop with intercept_forget().
 */
struct bufferevent *intercept_connect(struct worker *, const char *host,
    unsigned port, bool ipv6, unsigned *token);
void intercept_forget(struct worker *, unsigned token);

#endif
