/*
 * dial: the attempt loop of the lanes that talk to the origin over a
 * bufferevent of their own -- CONNECT tunnels (tunnel.c) and the raw
 * lane (relay.c).  One attempt after another: resolve the host (numeric
 * hosts and this worker's DNS cache first), refuse a denied address,
 * connect (TCP, then TLS when asked) under connect_timeout clamped to
 * the deadline, classify a failure, ask the policy engine, wait the
 * backoff.  What happens on the connection is the owner's.  Each attempt
 * goes to an address of the host chosen by avoid_pick (one the request
 * has not tried, one not marked after a failed connect), and the end of
 * each attempt is noted there (avoid.h).
 *
 * Every callback runs from the event loop, never from inside a dial_*
 * call, so an owner may end itself from any of them.
 */
#ifndef RP_DIAL_H
#define RP_DIAL_H

#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "avoid.h"
#include "dnscache.h"
#include "policy.h"

/*
 * A retried response's body up to this is read and dropped, so that its
 * connection serves the retry (both lanes); a longer one closes it.
 */
#define DRAIN_MAX (64 * 1024)

struct access_entry;
struct bufferevent;
struct config;
struct evdns_getaddrinfo_request;
struct route;
struct worker;

struct dial {
	struct worker *w;
	const struct config *cfg;
	const struct route *route;
	const struct policy *pol;
	const char *method;
	bool has_idem;
	unsigned attempt, max_attempts;
	uint64_t start_ms, attempt_start_ms;
	uint64_t held_ms; /* waited for a held origin (hold = wait) */
	bool any_addr; /* an attempt had an address */
	struct avoid_tried tried; /* the addresses the attempts went to */
	const struct parent *parent; /* this attempt's parent proxy, or NULL */
	uint32_t parents_failed; /* bit i: parent i failed for this request */
	bool parent_noted; /* this attempt's parent failure is counted */
	/*
	 * Set by the owner: a tunnel, so through a parent always a CONNECT
	 * (else only for TLS; plain http goes to the parent as it is).
	 */
	bool tunnel;
	int parent_phase; /* enum dial_parent_phase (dial.c) */
	const char *origin_host; /* the attempt's origin, through a parent */
	unsigned origin_port;
	/* the attempt in flight */
	const char *host;
	unsigned port;
	bool tls, verify;
	int tls_verify_err;
	struct evdns_getaddrinfo_request *dnsreq;
	struct bufferevent *bev; /* connecting (then the owner's) */
	unsigned naddrs;
	struct avoid_addr addr; /* this attempt's (family 0: none yet) */
	bool addr_logged, addr_noted; /* in addrs_text; in tried */
	int dns_result;
	enum fail_kind timer_kind;
	struct event timer, backoff, dns_ev;
	/*
	 * Which of them may be pending (DIAL_ARMED_*: set where added, a
	 * stale bit is harmless): dial_stop deletes only those, twice a
	 * request (five needless event_dels were 2 % of a GET, callgrind).
	 */
	unsigned char armed;
	/* the connection is up: bev is the owner's to free */
	void (*connected_cb)(struct dial *, struct bufferevent *bev);
	/* the attempt failed (the owner calls dial_retry or gives up) */
	void (*failed_cb)(struct dial *, enum fail_kind);
	/* an address of the host is in [proxy] deny: nothing was sent */
	void (*denied_cb)(struct dial *);
	/* the backoff is over: start the next attempt (dial_attempt) */
	void (*retry_cb)(struct dial *);
	/*
	 * With dial_resolve: the address this attempt uses (each attempt
	 * the next of the host's); the owner connects.  NULL: dial does.
	 */
	void (*resolved_cb)(struct dial *, const struct sockaddr *);
	void *arg; /* the owner */
	/* dial_gate said DIAL_EJECTED: the rule's key (why: ejected_why) */
	const char *ejected_key;
	/*
	 * The large parts last: dial_init zeroes what comes before retries,
	 * and ends these strings at their first byte (zeroing the 1.7 KB of
	 * them for every request was a visible part of one, callgrind).
	 */
	char retries[256]; /* the reasons of the retries, comma-separated */
	char addrs_text[320]; /* the address of each attempt (dial_addrs) */
	char ejected_why[80];
	struct sockaddr_storage addrs[DNSCACHE_ADDRS]; /* (naddrs of them) */
};

void dial_init(struct dial *, struct worker *, const struct config *,
    const struct route *, const char *method, void *arg);
/*
 * Start the next attempt (counted) to host:port; tls: over TLS (verify:
 * the certificate is checked).  host must outlive the attempt.  On a
 * route with parents the connection goes to the parent (d->parent):
 * through a CONNECT tunnel for TLS and for an owner that is a tunnel,
 * else as it is (the owner writes absolute-form requests).
 */
void dial_attempt(
    struct dial *, const char *host, unsigned port, bool tls, bool verify);
/* Count the next attempt (dial_attempt does; an owner that connects by
 * itself, from a pool, calls it). */
void dial_begin(struct dial *);
/*
 * Find the address for this attempt of host:port: resolved_cb, or
 * denied_cb, or failed_cb (a DNS failure) follows.
 */
void dial_resolve(struct dial *, const char *host, unsigned port);
/*
 * Arm the attempt timer: failed_cb(kind) after ms, or sooner at the
 * deadline (then kind becomes final for a connect).  Also for the
 * owner's phases (a response awaited).
 */
void dial_arm(struct dial *, uint64_t ms, enum fail_kind kind);
/* Stop the timer armed by dial_arm. */
void dial_disarm(struct dial *);
/*
 * After a failed attempt (o: the failure or the response), may the
 * request go again?  resend: it may be sent again at all (the whole of
 * it is still here); when false only failures before anything was sent
 * (dns, connect) are retried.  True: retry_cb comes after the backoff;
 * false: the owner gives the final answer.
 */
bool dial_retry(struct dial *, const struct outcome *o, bool resend);
/*
 * dial_retry in two steps, for an owner that retries only later (once
 * a retried response's body is gone): the decision (counted in the
 * metrics, its reason recorded) and *delay_ms; then the backoff.
 */
bool dial_decide(
    struct dial *, const struct outcome *o, bool resend, uint64_t *delay_ms);
void dial_backoff(struct dial *, uint64_t delay_ms);
/*
 * Before an attempt to host:port, on a route with `hold` on: is that
 * origin held (it answered 429/503 with Retry-After, hold.h)?
 */
enum dial_gate {
	DIAL_GO = 0, /* not held: attempt */
	DIAL_WAIT = 1, /* held: dial_backoff(*left_ms), then try again */
	DIAL_HELD = 2, /* held, and hold = fail or past the deadline: answer
			  *status with Retry-After (dial_retry_after_s) */
	DIAL_EJECTED = 3, /* ejected (eject_after, eject_percent) for
			     *left_ms more, d->ejected_why: the next
			     fallback (dial_skip), or a 503 at once */
};
enum dial_gate dial_gate(struct dial *, const char *host, unsigned port,
    int *status, uint64_t *left_ms);
/*
 * Attempt n + 1 is not made (its origin is ejected): count it, with
 * "ejected" among the retries, so that the next goes to a fallback.
 */
void dial_skip(struct dial *);
/* Origins ejected at the moment, in the whole process (a gauge). */
unsigned dial_ejected_origins(void);
/*
 * Retry-After, in whole seconds (rounded up, at least 1), for a hold of
 * left_ms (which ends 1 ms late on purpose: not counted).
 */
unsigned dial_retry_after_s(uint64_t left_ms);
/*
 * A response came from the attempt's origin (d->host, d->port): a 429 or
 * 503 with Retry-After holds it, on a route with `hold` on.
 */
void dial_note_response(struct dial *, int status, const char *retry_after);
/*
 * The owner's attempt rides its own connection to sa (a pooled one), or
 * has no address after all (NULL: it failed before reaching the network).
 */
void dial_using(struct dial *, const struct sockaddr *sa);
/*
 * May this attempt ride a pooled connection to sa (connected: its socket
 * is open)?  Not to an address where an attempt of this request failed
 * (unless the host has no other), and not, through a new connect, to a
 * marked address.
 */
bool dial_may_reuse(struct dial *, const struct sockaddr *sa, bool connected);
/* dial_may_reuse as the pool's predicate (upstream_take_idle; arg: a dial). */
bool dial_pool_usable(const struct sockaddr *sa, bool connected, void *dial);
/* The connection of this attempt is up: its address is not avoided. */
void dial_connected(struct dial *);
/* Each attempt's address, comma-separated ("" when none had one). */
const char *dial_addrs(struct dial *);
/*
 * The access-log fields the attempts decide, for every lane: attempts,
 * retries, addrs, held, duration and route.
 */
void dial_log_fields(struct dial *, struct access_entry *);
/*
 * The parent proxy the next attempt goes through (parent_pick: the first
 * of the route's that this request has not seen fail and that is not
 * marked), or NULL when the route has none (direct).
 */
const struct parent *dial_pick_parent(struct dial *);
/*
 * This attempt failed at its parent itself (its own 5xx; dial_decide
 * notes refused and reset ones): the request's next attempt goes through
 * another, and new requests try it last for avoid_failed_address.
 */
void dial_parent_failed(struct dial *);
/*
 * Hedges (hedge.h).  dial_note: an attempt ended (o) without a decision:
 * its address is logged and tried, a failed connect marks it (avoid),
 * the outcome counts for ejection.  dial_log_unfinished: the attempt in
 * flight ends unfinished (a hedge answered): its address is logged.
 * dial_add_addr: other's attempt is one of d's request (its address in
 * d's log).  dial_prefer_other: h's attempt goes elsewhere than d's
 * when it can (d's address counts as tried).  dial_take_over: h's
 * attempt in flight becomes d's.
 */
void dial_note(struct dial *, const struct outcome *o);
void dial_log_unfinished(struct dial *);
void dial_add_addr(struct dial *d, struct dial *other);
void dial_prefer_other(struct dial *h, const struct dial *d);
void dial_take_over(struct dial *d, const struct dial *h);
/* Stop the attempt in flight and any backoff (before freeing). */
void dial_stop(struct dial *);
/* Why the connection failed before anything was sent (TLS or TCP). */
enum fail_kind dial_connect_failure(struct dial *, struct bufferevent *);

#endif
