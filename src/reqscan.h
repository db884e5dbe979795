/*
 * reqscan: a byte-level scan of what a client sends, run before libevent's
 * parser sees it, to refuse everything that parser lets through and that
 * could be framed two ways: NUL, bare CR, obs-fold and control characters
 * in the head, malformed header names, duplicate or invalid
 * Content-Length, duplicate Host, Transfer-Encoding other than chunked,
 * CL with TE, malformed chunk sizes ("0x5", "zz"), a body on HEAD or
 * TRACE (libevent would read it as the next request), and a head over the
 * size limit.  It follows requests back to back (pipelining) and stops
 * at a CONNECT (the rest is tunnel data).  Pure: bytes in, verdict out.
 */
#ifndef RP_REQSCAN_H
#define RP_REQSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct reqscan {
	int state;
	bool cr; /* the previous byte was CR */
	bool first; /* on the request line */
	bool connect; /* the request is a CONNECT */
	bool nobody; /* HEAD or TRACE: libevent reads no body */
	bool has_cl, chunked;
	bool head_only; /* a response head: stop after it */
	unsigned nhost;
	uint64_t head_bytes, max_head;
	uint64_t remaining; /* body or chunk bytes left */
	unsigned ndigits;
	size_t llen; /* bytes of the current line */
	bool colon; /* its field name has ended */
	size_t colon_at; /* (then) where, in the line */
	char line[96]; /* its start, for the framing headers */
	int status; /* once refused: 400, 431 or 501 */
	const char *why;
	int resp_status; /* a response head: its status code, 100-599 */
	uint64_t max_body; /* a request body's limit */
	bool limit_body; /* (max_body applies) */
	uint64_t body_total; /* chunk bytes of the current request so far */
	unsigned ext_len; /* bytes of the current chunk extension */
	unsigned nexts; /* chunk extensions seen (they never go on) */
	/* what the lanes are decided by (the last request head) */
	char method[24]; /* its method token (cut at 23 bytes) */
	bool upgrade; /* an Upgrade field */
	bool conn_upgrade; /* "upgrade" in a Connection field (requests) */
	/* a whole response (reqscan_init_response_msg) */
	bool whole_msg, head_request;
	bool stop; /* (reqscan_feed_step: a boundary was reached) */
	bool head_done; /* reqscan_feed_step stopped at a head's end */
	bool msg_done; /* ... at the end of a message (its body) */
};

/* Start scanning a connection; max_head bounds each request head. */
void reqscan_init(struct reqscan *, uint64_t max_head);
/*
 * Start scanning one response head (status line and header fields, the
 * same rules); the scan stops after its empty line.  The status line
 * must be "HTTP/1.D SP 3DIGIT [SP reason]" with a status of 100-599
 * (RFC 9112 section 4), and nothing may precede it.  Once the head is
 * complete, reqscan_is_tunnel() is true, resp_status holds the status
 * and head_bytes the head's exact length (status line to empty line).
 */
void reqscan_init_response(struct reqscan *, uint64_t max_head);
/*
 * Start scanning one whole response to a request (head_request: a
 * HEAD): interim heads (1xx but 101) and the final head, then its body
 * as it is framed (RFC 9112 section 6.3): none (HEAD, 1xx, 204, 304),
 * Content-Length, chunked, or up to the end of the connection (then,
 * like after a 101, reqscan_is_tunnel() is true).  reqscan_feed_step
 * says where each head and the message end.
 */
void reqscan_init_response_msg(
    struct reqscan *, uint64_t max_head, bool head_request);
/*
 * Refuse (413) a request whose body is longer than max_body bytes (0:
 * any body): at the end of its head when Content-Length says so, or at
 * the chunk that takes a chunked body past it.  Without a call, no limit.
 */
void reqscan_set_max_body(struct reqscan *, uint64_t max_body);
/*
 * Scan the next len bytes.  Returns 0, or -1 once the input is refused
 * (then status and why say how; every later call returns -1 too).
 */
int reqscan_feed(struct reqscan *, const char *buf, size_t len);
/*
 * Scan like reqscan_feed, one byte at a time, and copy to out (room for
 * len bytes) every byte but the chunk extensions (";name=value" after a
 * chunk size; RFC 9112 section 7.1.1 lets a recipient ignore them, and
 * libevent refuses them).  Returns how many bytes were copied, or -1
 * once refused (as reqscan_feed).  nexts counts the extensions seen, so
 * a caller can feed with reqscan_feed and come back here only when it
 * grew.
 */
ssize_t reqscan_strip_ext(
    struct reqscan *, const char *buf, size_t len, char *out);
/*
 * Scan like reqscan_feed, but stop at the next boundary: right after a
 * head (head_done), right after a message's last byte (msg_done), and
 * where body data starts or stops.  Returns how many bytes were taken
 * (all body data when reqscan_in_data() was true before the call), or
 * -1 once refused.  With it a caller can forward a message exactly,
 * or its body data alone (de-chunked).
 */
ssize_t reqscan_feed_step(struct reqscan *, const char *buf, size_t len);
/* Are the next bytes body data (not framing, not a head)? */
bool reqscan_in_data(const struct reqscan *);
/* Is a request head partly received (for the slow-request limit)? */
bool reqscan_in_head(const struct reqscan *);
/*
 * Bytes of a Content-Length body still to come (0 when not inside one):
 * what may be read for the current request without reading the next.
 */
uint64_t reqscan_body_left(const struct reqscan *);
/*
 * n bytes of that Content-Length body (at most reqscan_body_left) went
 * by without being fed (spliced in the kernel, zbody.h): counted off as
 * if they had been, msg_done once the last one went.
 */
void reqscan_body_taken(struct reqscan *, uint64_t n);
/* Has the connection become a tunnel (nothing more to scan)? */
bool reqscan_is_tunnel(const struct reqscan *);
/*
 * For tests: off, every head byte goes through the one-byte-at-a-time
 * checks that the fast path over runs of ordinary bytes must agree with.
 */
void reqscan_fast_path(bool on);

#endif
