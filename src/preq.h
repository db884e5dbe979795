/*
 * preq: one client request being proxied -- the state proxy.c (the client
 * side: admission, abort detection, the end of a request) and attempt.c
 * (the upstream side: attempts, decisions, the response) share, and
 * upreq.c reads.  Private to those three files.
 */
#ifndef RP_PREQ_H
#define RP_PREQ_H

#include <event2/event_struct.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "dial.h"
#include "hedge.h"
#include "http.h"
#include "policy.h"
#include "resume.h"
#include "upstream.h"

struct evbuffer;
struct evhttp_connection;
struct evhttp_request;

#define PEEK_MAX (64 * 1024) /* retry_if_body looks this far */
#define CLIENT_HWM (256 * 1024) /* pause the upstream above this */
#define CLIENT_LWM (64 * 1024) /* and resume below this */

/*
 * Where a request is.  attempt.c moves it on: CONNECTING (attempt_start)
 * -> SENT (the first byte written) -> HEAD (a final head arrived) ->
 * PEEKING (retry_if_body reads its body) or DISCARDING (retried: its body
 * drains first) or STREAMING (proxy_start_reply: the client's now); a
 * failed attempt or a retried response -> BACKOFF -> CONNECTING; and
 * DONE (proxy_done: logged) from anywhere.  The order counts: a state
 * at or past SENT has written the request.  Once the client's reply has
 * started (replying), a body that breaks in STREAMING goes round the
 * loop again as a resume (resuming: the attempt asks for the rest with
 * Range), back to STREAMING when a 206 is its rest, or ends the client's
 * response short (resume_end: why).
 */
enum preq_state {
	PQ_CONNECTING,
	PQ_SENT,
	PQ_HEAD,
	PQ_PEEKING,
	PQ_DISCARDING,
	PQ_BACKOFF,
	PQ_STREAMING,
	PQ_DONE,
};

struct preq {
	struct worker *w;
	struct evhttp_request *creq;
	struct evhttp_connection *cevcon;
	struct config *cfg;
	const struct route *route;
	const struct policy *pol;
	const char *method;
	enum evhttp_cmd_type cmd;
	struct dial dial; /* the attempts, their decisions and backoff */
	bool has_idem;
	bool resendable;
	uint64_t wall_ms;
	struct http_url url;
	char *target; /* origin-form target sent upstream */
	const char *uri; /* absolute URL, for the log */
	char *uri_owned; /* when we built it (intercepted tunnels, gateways) */
	const struct gateway *gw; /* came in on this gateway listener */
	char *xff, *fwd; /* a gateway's X-Forwarded-For, Forwarded, or NULL */

	/* the attempt in flight */
	const char *up_host; /* origin of this attempt */
	unsigned up_port;
	bool up_tls;
	struct upstream_origin origin;
	struct upstream_conn *uc;
	struct evhttp_request *ureq;
	struct evbuffer_cb_entry *sent_cbe;
	enum preq_state state;
	bool reused, force_fresh, stale_resent, paused;
	bool warm; /* not re-sendable, on a pooled connection (warm_reuse) */
	bool free_pending;
	unsigned busy; /* inside a call that may end the request */
	uint64_t retry_delay_ms; /* decided while a retried body drains */
	struct evbuffer *peek;
	struct evkeyval *last_field; /* the head's last (then trailers) */
	bool watching;
	bool replying; /* the client's reply has started (its status went) */
	bool resuming; /* this attempt asks for the rest of a broken body */
	struct resume resume; /* .validator set once found resumable */
	const char *resume_end; /* why a broken body ends short, or NULL */
	struct event hedge_timer; /* when the next hedge goes (hedge.h) */
	bool hedge_armed; /* hedge_timer is pending */
	hedge_won_fn hedge_won_cb; /* attempt.c's, for hedge.c */
	struct hedge *hedges[HEDGE_MAX]; /* on their way */
	unsigned nhedges; /* sent so far */
	bool hedge_won; /* the response forwarded is a hedge's */
	bool hedge_not_sent; /* one was due but not sent (counted once) */
	bool ttfb_noted; /* this head's time-to-first-byte is in the tail */

	/* outcome */
	int status;
	const char *error; /* Proxy-Status token of the final failure */
	uint64_t bytes;
	char client[INET6_ADDRSTRLEN + 8];
	char user[128]; /* auth = basic: who (for the access log) */
};

/* proxy.c: the client side. */
/* The request is over: stop its I/O, write its access-log line. */
void proxy_done(struct preq *);
/* The one place a preq is freed (deferred while a call is under way). */
void proxy_free(struct preq *);
/* Give the client connection back to evhttp before the final reply. */
void proxy_restore_client(struct preq *);
/* Notice a client that goes away while we wait upstream. */
void proxy_watch_client(struct preq *);
/* evhttp wrote all queued reply bytes: resume a paused upstream. */
void proxy_client_drained_cb(struct evhttp_connection *, void *);
/* The response is final: send its status and headers to the client. */
void proxy_start_reply(struct preq *, struct evhttp_request *ureq);
/* Pass body bytes on (pausing the upstream when the client lags). */
void proxy_forward_chunk(struct preq *, struct evbuffer *);
/* The upstream exchange is complete: end the reply and the request. */
void proxy_finish_reply(struct preq *);
/*
 * The body broke and will not be finished: close the client's connection
 * mid-body, so it sees a short response, never a spliced one.
 */
void proxy_truncate(struct preq *);

/* attempt.c: the upstream side. */
/* Set up a new request's attempt loop (after route and policy). */
void attempt_init(struct preq *);
/* Start the next attempt (counting it). */
void attempt_start(struct preq *);
/* Stop the attempt in flight; keep_conn returns its connection to the pool. */
void attempt_stop_io(struct preq *, bool keep_conn);

#endif
