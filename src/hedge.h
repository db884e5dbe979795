/*
 * hedge: second copies of a slow attempt (hedge_after, hedge_max in
 * retryproxy.ini(5)).  When an attempt of a request that may be re-sent
 * has no response head after the route's hedge delay, the same request
 * goes out again -- to the next fallback when the route has one, else to
 * the same origin over another connection (another address when the
 * name has several) -- and the first response head wins.  A hedge whose
 * head comes first becomes the request's attempt (hedge_won in attempt.c) and
 * the first copy is cancelled, its connection closed; a hedge that comes
 * second is cancelled the same way, never pooled half-read.  When the
 * first copy fails while a hedge is on its way, the hedge goes on as the
 * attempt in place of a retry (attempt.c: attempt_failed, take_over).
 *
 * A hedge counts as an attempt (attempts) and takes a token of the
 * route's retry budget, so hedging adds no more load than retries may
 * (Dean and Barroso, "The Tail at Scale", CACM 2013).  Only on evhttp's
 * lane, whose bodies are whole in memory; never through a parent proxy,
 * never for a resume, never for CONNECT or the raw lane.  Private to
 * attempt.c, proxy.c and hedge.c.
 */
#ifndef RP_HEDGE_H
#define RP_HEDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "upstream.h"

#define HEDGE_MAX 3 /* the largest hedge_max */

struct evbuffer_cb_entry;
struct evhttp_request;
struct preq;

struct hedge {
	struct preq *p;
	struct dial dial; /* its address, DNS and timer (not its count) */
	struct upstream_origin origin;
	const char *host; /* its target (policy_target) */
	unsigned port;
	bool tls;
	struct upstream_conn *uc;
	struct evhttp_request *ureq;
	struct evbuffer_cb_entry *sent_cbe;
	uint64_t sent_ms; /* 0: not written yet */
	bool reused;
	unsigned busy; /* inside upstream_make_request */
	bool dead; /* failed while busy: freed after it */
};

/*
 * Set up the request's hedge timer (attempt_init); won: what a hedge
 * whose response head comes first calls, from its header callback (the
 * attempt takes it over: attempt.c), returning that callback's answer.
 */
typedef int (*hedge_won_fn)(
    struct preq *, struct hedge *, struct evhttp_request *);
void hedge_init(struct preq *, hedge_won_fn won);
/*
 * An attempt starts: arm the timer for the next hedge when the route
 * hedges and this request may have one.
 */
void hedge_arm(struct preq *);
/* Stop the timer (the attempt has a head, or ended). */
void hedge_disarm(struct preq *);
/* The first hedge on its way with a connection, or NULL. */
struct hedge *hedge_in_flight(struct preq *);
/*
 * Cancel every hedge in flight but keep (NULL: all): their requests
 * cancelled, their connections closed.  outcome: enum metrics_hedge.
 */
void hedge_cancel_all(struct preq *, struct hedge *keep, int outcome);
/* Free a hedge whose connection and request the attempt took over. */
void hedge_release(struct hedge *);

#endif
