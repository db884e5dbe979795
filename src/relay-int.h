/*
 * relay-int: the raw lane's request, struct relay, and what its three
 * files share: relay.c (the client side and the end: the request head's
 * checks, the request body, replies of our own, finishing, freeing),
 * relayup.c (the attempt: a connection taken from the pool or dialed, the
 * request sent up it) and relayresp.c (the response: its head, its body
 * down to the client, resume, a 101).  For relay*.c only: everyone else
 * sees relay.h.
 */
#ifndef RP_RELAY_INT_H
#define RP_RELAY_INT_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bodyread.h"
#include "dial.h"
#include "eagerwrite.h"
#include "http.h"
#include "msghead.h"
#include "rawbody.h"
#include "rawpool.h"
#include "relay.h"
#include "reqscan.h"
#include "resume.h"
#include "zbody.h"

struct bufferevent;
struct config;
struct evhttp_connection;
struct gateway;
struct route;
struct worker;

#define RELAY_HWM (256 * 1024) /* stop reading a side above this */
#define RELAY_REQ_STORE 512 /* a request head kept without malloc */
#define RELAY_RESP_STORE 1024 /* a response head */
#define RELAY_LWM (64 * 1024) /* resume below this */

enum relay_state {
	RS_BODY, /* reading a body to hold it whole */
	RS_CONNECTING, /* dial's attempt: resolving, connecting */
	RS_EXCHANGE, /* request going out, response head awaited */
	RS_BACKOFF, /* waiting to try again */
	RS_RESPONDING, /* the response's body goes to the client */
	RS_FLUSHING, /* the response is whole; the client has it queued */
	RS_ENDED,
};

struct relay {
	struct worker *w;
	char user[128]; /* auth = basic: who (for the access log) */
	int reply_flags; /* more canned flags for relay_reply() (a 407's) */
	struct evhttp_connection *cevcon;
	struct eagerwrite *cew; /* the client's (front.c's), or NULL */
	struct bufferevent *cbev;
	struct bufferevent *ubev;
	struct config *cfg;
	const struct route *route;
	struct dial dial;
	enum relay_state state;
	struct msghead req;
	struct http_url url;
	char *target; /* origin-form, for upstream */
	char *uri; /* a gateway's request: the absolute URL built */
	const struct gateway *gw; /* came in on this gateway listener */
	char *xff, *fwd; /* the gateway's forwarding fields, or NULL */
	char client[64];
	bool upgrade, client_10, client_close;
	struct rawbody body; /* the request's */
	bool sent_any; /* a byte of this attempt went upstream */
	bool up_paused; /* the origin waits for the client */
	/* the response read in large pieces (libevent reads 4 KiB at a time) */
	struct bodyread uread;
	/* or its body spliced in the kernel (zbody.h, splice_body) */
	struct zbody zb;
	/* a streamed upload spliced to the origin (splice_upload) */
	struct zbody zup;
	/* the response */
	struct reqscan uscan;
	struct msghead resp;
	bool down_chunked; /* re-chunked for an HTTP/1.1 client */
	bool keep; /* the client connection goes on afterwards */
	/*
	 * The upstream connection: kept for the next request once the
	 * response is read whole (up_keep, to the pool under pool_key);
	 * this attempt's came from the pool (reused); a reused connection
	 * broke before any response byte and the request went again on a
	 * new one (stale_resent).
	 */
	bool up_may_keep, up_keep, reused, warm, stale_resent, force_fresh;
	struct sockaddr_storage up_peer;
	struct eagerwrite uew; /* the request goes out in the same loop turn */
	uint64_t up_keepalive_ms; /* the response's Keep-Alive: timeout= */
	/*
	 * ubev's timeouts, where known (from the pool, or set here): a write
	 * timeout of up_write_ms (0: none), a read timeout if up_read_timed.
	 */
	uint64_t up_write_ms;
	bool up_timeouts_known, up_read_timed;
	uint64_t idle_taken_ms; /* how long the pooled one had idled */
	char pool_key[RAWPOOL_KEY];
	/*
	 * A GET's body that breaks after the client's reply began is
	 * finished with "Range: bytes=N-" (resume.h; retryproxy.ini(5),
	 * resume): resuming while an attempt asks for the rest; resume_end
	 * says why it may not be (once known).
	 */
	struct resume resume;
	const char *resume_end;
	bool resuming;
	bool replying; /* the client has the response head */
	bool dial_stopped; /* stop_dial ran: no attempt ever again */
	/* outcome */
	int status;
	const char *error;
	uint64_t bytes_down;
	uint64_t wall_ms;
	struct event free_ev; /* frees it once the callbacks under way unwind */
	void (*done)(void *, enum relay_end);
	void *ctx;
	/*
	 * Where req and resp keep their copies of the heads, and target its
	 * text, when they fit (msghead_parse_in): no malloc and free for
	 * each.  Last: not zeroed when a spare relay is taken again
	 * (relay_alloc).
	 */
	char req_store[RELAY_REQ_STORE];
	char resp_store[RELAY_RESP_STORE];
	char target_store[128]; /* target, when it fits */
};

/*
 * Helpers of a line or two that more than one of the files call: inline
 * here, so that they cost what they did as statics of one file.
 */

/* May the request go again after something of it was sent? */
static inline bool
relay_may_resend(const struct relay *r)
{
	return !rawbody_is_streamed(&r->body);
}

/* A spliced body stopped, its bytes counted as if copied (zbody.h). */
static inline void
relay_splice_stop(struct relay *r)
{
	uint64_t n = zbody_stop(&r->zb);

	r->bytes_down += n;
	reqscan_body_taken(&r->uscan, n);
}

/* A spliced upload stopped, its bytes counted as sent (zbody.h). */
static inline void
relay_upload_stop(struct relay *r)
{
	rawbody_spliced(&r->body, zbody_stop(&r->zup));
}

/* relay.c: the client side and the end. */
/* "addr:port" of the client, for the log: made when first asked for. */
const char *relay_client_text(struct relay *);
/* Free a relay that is over (its memory goes back to the spares). */
void relay_free(struct relay *);
/* The one way out: log, hand the client connection back, free. */
void relay_end(struct relay *, enum relay_end);
/*
 * The response is queued whole: end once the client has it (write_now:
 * the caller returns at once, so the response may be written, and the
 * relay ended, from there).
 */
void relay_finish_as(struct relay *, bool write_now);
static inline void
relay_finish(struct relay *r)
{
	relay_finish_as(r, false);
}
/* The client's response ends short (why: in the log). */
void relay_end_broken(struct relay *, const char *why);
/* A reply of our own (nothing of a response was sent yet). */
void relay_reply(
    struct relay *, int status, const char *token, const char *body);
/* The origin is held and hold = fail (or the deadline is too near). */
void relay_reply_held(struct relay *, const char *host, unsigned port,
    int status, uint64_t left_ms);
/* The origin is ejected and no fallback is left: 503 at once. */
void relay_reply_ejected(
    struct relay *, const char *host, unsigned port, uint64_t left_ms);
/* The attempts failed (kind): 502 or 504, and why. */
void relay_reply_failure(struct relay *, enum fail_kind);
/* The client connection's read callback (the request body). */
void relay_client_read_cb(struct bufferevent *, void *);

/* relayup.c: the attempt. */
/* The upstream connection is done with: closed, or kept in the pool. */
void relayup_close(struct relay *);
/* The next attempt: past the gate (hold, ejection), pooled or dialed. */
void relayup_attempt(struct relay *);
/* This attempt failed, or its response is retried. */
void relayup_attempt_over(struct relay *, const struct outcome *);
/* dial.c's callbacks (relay_start hands them to the dial). */
void relayup_connected_cb(struct dial *, struct bufferevent *);
void relayup_failed_cb(struct dial *, enum fail_kind);
void relayup_denied_cb(struct dial *);
void relayup_retry_cb(struct dial *);
/* Body bytes from the client to the origin, as far as they go. */
void relayup_pump(struct relay *);

/* relayresp.c: the response. */
/* The upstream connection's read and event callbacks. */
void relayresp_read_cb(struct bufferevent *, void *);
void relayresp_event_cb(struct bufferevent *, short what, void *);
/* The client connection's write callback (a paused body goes on). */
void relayresp_client_write_cb(struct bufferevent *, void *);
/* The response's body broke after the client's reply began. */
void relayresp_body_broke(struct relay *, enum fail_kind, const char *error);

#endif
