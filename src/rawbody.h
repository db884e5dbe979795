/*
 * rawbody: the request body on the raw lane (relay.c), as the client
 * connection brings it: framed by Content-Length or chunked (reqscan), up
 * to max_upload, after a 100 Continue when asked; held whole (de-chunked)
 * for re-sending while it fits max_request_body and max_buffered
 * (replaymem), else streamed with backpressure.  It reads the client's
 * bufferevent but owns none of its callbacks: its owner calls in from
 * them, sends the body upstream through it and acts on what it returns.
 */
#ifndef RP_RAWBODY_H
#define RP_RAWBODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bodyread.h"
#include "reqscan.h"

struct bufferevent;
struct config;
struct evbuffer;
struct msghead;
struct msghead_out;

/* How the body goes upstream (zero, the start: none yet). */
enum rawbody_mode {
	RAWBODY_NONE = 0, /* no body */
	RAWBODY_HELD = 1, /* held whole (or being held): sent on each try */
	RAWBODY_LENGTH = 2, /* streamed, Content-Length as the client said */
	RAWBODY_CHUNKED = 3, /* streamed, in chunks of our own */
};

/* What the owner does after rawbody_begin, rawbody_hold, rawbody_stream. */
enum rawbody_next {
	RAWBODY_CONTINUE = 0, /* nothing: the body goes on (or is all read) */
	RAWBODY_SEND = 1, /* start the attempts: none, held, or streamed */
	RAWBODY_FULL = 2, /* out is full: the client waits for rawbody_resume */
	RAWBODY_REFUSED = 3, /* malformed, or past max_upload: scan.status */
};

struct rawbody {
	struct bufferevent *cbev; /* the client connection */
	const struct config *cfg; /* (the owner holds the reference) */
	const struct msghead *req; /* the request's head, for the log */
	struct reqscan scan; /* the body's framing; once refused, its status */
	enum rawbody_mode mode;
	uint64_t declared; /* its Content-Length */
	struct evbuffer *held; /* held whole (or its start, while reading) */
	uint64_t reserved; /* replaymem taken for it */
	uint64_t bytes_up; /* streamed upstream so far */
	bool done; /* the client sent its last body byte */
	bool paused; /* the client waits for the origin (RAWBODY_FULL) */
	bool eof; /* the client sent its end of stream */
	/* read in large pieces (libevent reads 4 KiB at a time) */
	struct bodyread read;
};

/*
 * Decide how the body that follows req on cbev goes (scan: the client
 * connection's scan just after the head) and answer Expect: 100-continue.
 * rb starts zeroed (a zeroed one, never started, may be stopped, freed
 * and asked rawbody_is_*); cbev's reading is the caller's to enable, then
 * rawbody_begin.
 */
void rawbody_start(struct rawbody *rb, struct bufferevent *cbev,
    const struct config *, const struct msghead *req,
    const struct reqscan *scan);
/* Start reading the body (cbev enabled): the first step. */
enum rawbody_next rawbody_begin(struct rawbody *);
/*
 * Before the first attempt: hold what came of the body.  RAWBODY_SEND
 * once it is whole, or once it outgrows holding (streamed from then on).
 */
enum rawbody_next rawbody_hold(struct rawbody *);
/*
 * During an attempt: move what came of a streamed body to out (the
 * upstream output) while out holds less than limit.  RAWBODY_FULL: the
 * client's reading is paused until rawbody_resume.
 */
enum rawbody_next rawbody_stream(
    struct rawbody *, struct evbuffer *out, size_t limit);
/* out drained: read the client again after RAWBODY_FULL. */
void rawbody_resume(struct rawbody *);
/* The body's framing in an attempt's request head (mo->body, length). */
void rawbody_frame(const struct rawbody *, struct msghead_out *mo);
/*
 * After that head, in out: all of a held body (a reference: it stays for
 * another attempt), or the start of a streamed one that was held before
 * it outgrew holding (given up: nothing is held any more).
 */
void rawbody_add_held(struct rawbody *, struct evbuffer *out);
/* Does the body stream (so it may not go again once a byte of it left)? */
bool rawbody_is_streamed(const struct rawbody *);
/* The client closed its side: read what it sent, then nothing more. */
void rawbody_eof(struct rawbody *);
/* Did the client end its stream before its body's end (all read)? */
bool rawbody_is_cut(const struct rawbody *);
/* Stop reading the client (the rest of the body is not ours to read). */
void rawbody_stop(struct rawbody *);
/*
 * n bytes of a streamed Content-Length body went upstream without passing
 * through here (spliced in the kernel, zbody.h): counted as streamed, and
 * the body complete once its last byte went.
 */
void rawbody_spliced(struct rawbody *, uint64_t n);
/* Stop, and give back what is held (rb itself is the owner's). */
void rawbody_free(struct rawbody *);

/*
 * Move a message's body from in to out: its data only, each run framed as
 * a chunk of our own when chunk, up to the message's end (the rest of in
 * is the next message's), while out holds less than limit; count the data
 * bytes in *count.  Returns -1 (the scan refused the bytes), 1 (the
 * message ended: with chunk, its last chunk is written) or 0 (more to
 * come).  Also the response's mover (relayresp.c).
 */
int rawbody_move(struct reqscan *s, struct evbuffer *in, struct evbuffer *out,
    bool chunk, size_t limit, uint64_t *count);

#endif
