/*
 * intercept: TLS interception for routes with intercept = yes.  The
 * tunnel terminates the client's TLS itself (a bufferevent_openssl filter
 * over the client connection, with a certificate minted for the CONNECT
 * target) and splices the plaintext into a second, plain evhttp that each
 * worker runs on a private loopback port.  The source port of that inner
 * connection tells which CONNECT target a request belongs to.
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
/*
 * Terminate the client's TLS on bufferevent client: the returned filter
 * carries the plaintext (host names the certificate when the client sends
 * no SNI, and must outlive the filter).
 */
struct bufferevent *intercept_tls(
    struct worker *, struct bufferevent *client, const char *host);

#endif
