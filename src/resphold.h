/*
 * resphold: keep each upstream response head away from evhttp until it
 * is complete and valid, and drop interim (1xx) responses on the way.
 *
 * libevent 2.1.12's client reads a 102 or 103 as a whole, bodiless final
 * response (the real one then waits in the socket for the next request
 * on the pooled connection), reads the status "2x0" as 2, and reports a
 * head over its limit as malformed.  So every byte the origin sends
 * while a head is awaited goes first through reqscan (response mode)
 * into a holding buffer: an interim head is dropped there, a refused
 * head is never seen by evhttp (the owner hears of it from the loop),
 * and a final head is handed back, whole, with what followed it.
 * evhttp therefore only ever parses one complete, valid, final head.
 */
#ifndef RP_RESPHOLD_H
#define RP_RESPHOLD_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "reqscan.h"

struct evbuffer;
struct evbuffer_cb_entry;

struct resphold {
	struct reqscan scan;
	struct evbuffer *input; /* the connection's input, watched */
	struct evbuffer *held; /* head bytes evhttp has not seen */
	struct evbuffer_cb_entry *cbe;
	struct event verdict_ev; /* tells the owner of a refusal */
	bool waiting; /* a head is awaited */
	bool moving; /* our own moves re-enter the callback: ignore */
	bool refused;
	unsigned interim; /* 1xx heads dropped in this exchange */
	/* called from the loop once a head is refused (scan says why) */
	void (*refused_cb)(const struct reqscan *, void *);
	void *arg;
};

/* Watch input (a bufferevent's input buffer, not yet holding anything). */
void resphold_attach(
    struct resphold *, struct event_base *, struct evbuffer *input);
/* Stop watching and free what is held (before input is freed). */
void resphold_detach(struct resphold *);
/*
 * A request is about to go out: hold its response head (at most
 * max_head bytes).  refused_cb(scan, arg) runs from the event loop if
 * the head is refused; nothing of it reaches evhttp.
 */
void resphold_expect(struct resphold *, uint64_t max_head,
    void (*refused_cb)(const struct reqscan *, void *), void *arg);
/* Who hears of a refusal from now on (the head awaited stays as it is). */
void resphold_owner(struct resphold *,
    void (*refused_cb)(const struct reqscan *, void *), void *arg);
/* The exchange ended (or was abandoned): no verdict is wanted any more. */
void resphold_cancel(struct resphold *);
/*
 * Is nothing of an exchange left: no head awaited or held, no byte in
 * the input?  Only then may the connection carry another request.
 */
bool resphold_is_clean(const struct resphold *);

#endif
