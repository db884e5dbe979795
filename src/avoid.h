/*
 * avoid: which of an origin's addresses an attempt goes to, and a
 * worker's memory of the addresses that recently failed a connect.
 *
 * When a name resolves to several addresses, each attempt of a request
 * goes to one the request has not tried yet (as Envoy's previous_hosts
 * retry predicate does), so a retry after a refused connection, a reset
 * or a timeout meets another machine.  An address whose connect was
 * refused, found unreachable or timed out is marked, and new attempts
 * from this worker avoid it for [proxy] avoid_failed_address
 * (retryproxy.ini(5)).  A mark only orders the addresses, it never takes
 * one away: when every address is marked, the attempt goes to the one
 * whose mark ends first, so no request fails only because of marks.
 *
 * Pure: addresses and the clock in, an index out.
 */
#ifndef RP_AVOID_H
#define RP_AVOID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"

#define AVOID_ENTRIES 64 /* marks a worker keeps */
#define AVOID_TRIED 8 /* addresses one request remembers */
#define AVOID_ADDR_TEXT 56 /* "[ffff:...:ffff]:65535" and its NUL */

/* An address and port, compared byte for byte (family 0: none). */
struct avoid_addr {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t a[16]; /* IPv4 in the first 4 bytes */
};

/*
 * sa (AF_INET or AF_INET6) with port (0: sa's own) as a key; false (and
 * family 0) for any other family.
 */
bool avoid_addr_set(
    struct avoid_addr *, const struct sockaddr *sa, unsigned port);
/* The address k as a sockaddr (family 0 when k has none). */
void avoid_addr_sockaddr(const struct avoid_addr *k, struct sockaddr_storage *);
bool avoid_addr_eq(const struct avoid_addr *, const struct avoid_addr *);
/* "192.0.2.1:80", "[2001:db8::1]:443", or "-" for none. */
const char *avoid_addr_format(const struct avoid_addr *, char *buf, size_t len);

/* Does a failure of this kind mark the address it happened on? */
bool avoid_fail_marks(enum fail_kind);

/* A worker's marks: address -> until when it is avoided. */
struct avoid {
	struct {
		struct avoid_addr addr; /* family 0: a free slot */
		uint64_t until_ms;
	} e[AVOID_ENTRIES];
};

void avoid_init(struct avoid *);
/*
 * Avoid addr until now_ms + for_ms (a later mark of the same address
 * extends it).  When all slots hold live marks, the one that ends first
 * gives way.
 */
void avoid_mark(struct avoid *, const struct avoid_addr *, uint64_t now_ms,
    uint64_t for_ms);
/* A connection to addr was made: it is not avoided any more. */
void avoid_forget(struct avoid *, const struct avoid_addr *);
/* When addr's mark ends, or 0 when it is not marked at now_ms. */
uint64_t avoid_until(
    const struct avoid *, const struct avoid_addr *, uint64_t now_ms);

/* What one request's attempts did with addresses. */
struct avoid_tried {
	unsigned n;
	struct {
		struct avoid_addr addr;
		unsigned count; /* attempts that went to it */
		bool failed; /* one of them failed (no response) */
	} e[AVOID_TRIED];
};

/* An attempt to addr ended: failed, or with a response. */
void avoid_tried_note(
    struct avoid_tried *, const struct avoid_addr *, bool failed);
unsigned avoid_tried_count(
    const struct avoid_tried *, const struct avoid_addr *);
bool avoid_tried_failed(const struct avoid_tried *, const struct avoid_addr *);

/*
 * The index (< n, n > 0) of the address for the next attempt, the first
 * in this order: an address not marked before a marked one; then one the
 * request tried fewer times (one it has not tried first); then, between
 * marked ones, the mark that ends first; then the resolver's order.
 * *passed_over: without the marks another address would have been
 * chosen (the metric of avoided addresses).
 */
unsigned avoid_pick(const struct avoid *, const struct avoid_tried *,
    const struct avoid_addr *addrs, unsigned n, uint64_t now_ms,
    bool *passed_over);

#endif
