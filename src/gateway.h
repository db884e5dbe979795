/*
 * gateway: the pure rules of gateway listeners ([gateway ADDR] with
 * origin = URL): an origin-form request on such a listener is sent to
 * that one origin, as if the client had asked the proxy for the
 * absolute URL origin + path.  Parsing the origin, building that URL,
 * the X-Forwarded-For / Forwarded values added for the origin, and which
 * listener a connection's local address belongs to.  No I/O.
 */
#ifndef RP_GATEWAY_H
#define RP_GATEWAY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"

/*
 * Parse an origin "http(s)://host[:port][/path]": *base gets
 * "scheme://host[:port]" with the host lower-cased and the path prefix
 * without its final '/' (malloc'd).  0, or -1 with *why (no query, no
 * fragment, no user info).
 */
int gateway_origin_parse(const char *v, char **base, const char **why);
/*
 * The absolute URL for an origin-form target ("/x?q") on gw: base +
 * target (malloc'd).  NULL when target is not origin-form (absolute
 * form, "*", or empty): a gateway takes only origin-form requests.
 */
char *gateway_url(const struct gateway *, const char *target);
/*
 * Do two listener addresses collide (the same port, and the same address
 * or a wildcard that covers the other)?
 */
bool gateway_addr_overlaps(
    const struct listen_addr *, const struct listen_addr *);
/* The gateway whose listener has the local address sa, or NULL. */
const struct gateway *gateway_find(
    const struct config *, const struct sockaddr *sa);
/*
 * The fields a gateway request gets for its origin under mode: *xff
 * (X-Forwarded-For: the client's list, if any, then ip) and *fwd
 * (Forwarded: the client's list, then for=ip;host="host";proto=http),
 * each malloc'd or NULL when mode leaves that field as the client sent
 * it.  ip is the client's address without port or brackets; prev_xff,
 * prev_fwd and host may be NULL (a host that would need escaping is
 * left out).
 */
void gateway_forwarded(enum forwarded_mode mode, const char *ip,
    const char *prev_xff, const char *prev_fwd, const char *host, char **xff,
    char **fwd);

#endif
