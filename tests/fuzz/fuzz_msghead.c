/*
 * fuzz_msghead: reqscan's step API (requests, and whole responses with
 * their interim heads and bodies) and msghead, which reads the heads
 * reqscan passed and writes them on.
 *
 * Input: byte 0 picks the mode (a request stream, a response, a
 * response to HEAD) and the step size (1 to 64 bytes a call); bytes 1
 * and 2 a cut; byte 3 the msghead_out to write with; the rest is the
 * stream.  Properties:
 *  - fed whole, in steps, or cut in two, reqscan_feed_step gives the
 *    same verdict, the same head and message ends and the same data
 *    bytes (what it took while reqscan_in_data() was true), and the
 *    verdict is reqscan_feed's;
 *  - every step takes at least one byte and at most what it was given;
 *  - msghead_parse accepts every head reqscan accepted (it is the
 *    second line of defence: it must agree with the first), a request
 *    head exactly when its request line has the form of RFC 9112
 *    section 3 (reqscan leaves that to libevent), and reads the same
 *    method, status and Upgrade and Connection fields as reqscan;
 *  - what msghead_write_request / msghead_write_response make of it is
 *    a head reqscan accepts again, whole, ending where it ends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msghead.h"
#include "reqscan.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEAD 4096

enum { M_REQ, M_RESP, M_RESP_HEAD };

static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_msghead: %s\n", why);
	abort();
}

/* What one way of feeding the stream saw. */
struct trace {
	int status; /* 0: accepted */
	bool tunnel;
	struct sbuf data;
	struct sbuf ends; /* 'h' or 'm' and the offset, for each boundary */
};

static void
init_mode(struct reqscan *s, int mode)
{
	if (mode == M_REQ)
		reqscan_init(s, MAX_HEAD);
	else
		reqscan_init_response_msg(s, MAX_HEAD, mode == M_RESP_HEAD);
}

/* RFC 9110 section 5.6.2: tchar. */
static bool
tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * RFC 9112 section 3: request-line = method SP request-target SP
 * HTTP-version, method a token, the target without SP, the version
 * HTTP/1.D here.  p: the head after any empty lines before it.
 */
static bool
request_line_ok(const uint8_t *p, size_t len)
{
	size_t i = 0, t;

	while (i < len && tchar(p[i]))
		i++;
	if (i == 0 || i == len || p[i] != ' ')
		return false;
	t = ++i;
	while (i < len && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
		i++;
	if (i == t || len - i < 10 || memcmp(p + i, " HTTP/1.", 8) != 0 ||
	    p[i + 8] < '0' || p[i + 8] > '9')
		return false;
	i += 9;
	return p[i] == '\n' ||
	    (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n');
}

/*
 * Is a Connection field line longer than reqscan keeps of a line (96
 * bytes)?  Then reqscan reads "upgrade" in its first bytes only, and
 * conn_upgrade need not be msghead_conn_has(h, "upgrade").
 */
static bool
long_connection_line(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const uint8_t *lf = memchr(p + i, '\n', len - i);
		size_t l = lf ? (size_t)(lf - (p + i)) : len - i;
		if (l > 0 && p[i + l - 1] == '\r')
			l--;
		if (l > 96 &&
		    util_strncasecmp((const char *)p + i, "Connection:", 11) ==
			0)
			return true;
		i += (lf ? (size_t)(lf - (p + i)) : len - i) + 1;
	}
	return false;
}

/*
 * Write the head on as o asks (a body only where the request may have
 * one) and scan it again: it must be accepted, and end where it ends.
 */
static void
write_and_rescan(
    const struct msghead *h, const struct reqscan *s, int mode, uint8_t flags)
{
	static const enum msghead_body bodies[] = {
	    MSGHEAD_NO_BODY, MSGHEAD_LENGTH, MSGHEAD_CHUNKED, MSGHEAD_NO_BODY};
	struct msghead_out o = {
	    .target = flags & 0x80 ? "/a?b=c" : "*",
	    .host = flags & 0x80 ? "[::1]:8080" : "h",
	    .body = bodies[flags & 3],
	    .length = flags & 0x80 ? 0 : 12345,
	    .upgrade = flags & 4,
	    .close = flags & 8,
	    .via = flags & 0x10 ? "1.0 retryproxy" : NULL,
	    .drop = flags & 0x20 ? (h->n > 0 ? h->f[0].name : "X-Drop") : NULL,
	    .extra_name = flags & 0x40 ? "X-Retry-Attempts" : NULL,
	    .extra_value = "3",
	};
	struct sbuf out = {0};
	struct reqscan r;
	struct msghead again;
	const char *cause;
	ssize_t n;

	if (mode == M_REQ) {
		/* (a body on HEAD or TRACE is refused, rightly) */
		if (s->nobody && o.body != MSGHEAD_NO_BODY) {
			o.body = MSGHEAD_LENGTH;
			o.length = 0;
		}
		msghead_write_request(h, &o, &out);
		reqscan_init(&r, 4 * MAX_HEAD);
	} else {
		msghead_write_response(h, &o, &out);
		reqscan_init_response(&r, 4 * MAX_HEAD);
	}
	n = reqscan_feed_step(&r, out.s, out.len);
	if (n < 0) {
		fprintf(stderr, "%s\n%s", r.why, out.s);
		fail("a written head is refused");
	}
	if ((size_t)n != out.len || !r.head_done)
		fail("a written head does not end where it ends");
	if (msghead_parse(&again, out.s, out.len, mode != M_REQ, &cause) != 0)
		fail("a written head does not parse");
	if (mode == M_REQ &&
	    (strcmp(msghead_get(&again, "Host"), o.host) != 0 ||
		strcmp(again.target, o.target) != 0 ||
		strcmp(again.method, h->method) != 0))
		fail("a written request line or Host is not o's");
	if (mode != M_REQ && again.status != h->status)
		fail("a written status is not the head's");
	msghead_free(&again);
	sbuf_free(&out);
}

/*
 * The same head read into a caller's store (msghead_parse_in: a relay's
 * heads) reads the same, whether it fits the store or not.
 */
static void
same_in_store(const struct msghead *h, int mode, const uint8_t *p, size_t len,
    uint8_t flags)
{
	char store[256];
	struct msghead in;
	const char *cause;

	if (msghead_parse_in(&in, (const char *)p, len, mode != M_REQ, store,
		flags & 1 ? sizeof store : 16, &cause) != 0)
		fail("a head read into a store is refused");
	if (in.mem_owned != !(len < (flags & 1 ? sizeof store : 16)) ||
	    (!in.mem_owned && in.mem != store))
		fail("a head that fits its store is not in it, or one is");
	if (in.n != h->n || in.status != h->status || in.minor != h->minor ||
	    (mode == M_REQ &&
		(strcmp(in.method, h->method) != 0 ||
		    strcmp(in.target, h->target) != 0)))
		fail("a head read into a store reads otherwise");
	for (size_t i = 0; i < in.n; i++)
		if (strcmp(in.f[i].name, h->f[i].name) != 0 ||
		    strcmp(in.f[i].value, h->f[i].value) != 0)
			fail("a field read into a store reads otherwise");
	msghead_free(&in);
}

/* A head reqscan accepted: msghead must read it, and read it the same. */
static void
check_head(const struct reqscan *s, int mode, const uint8_t *p, size_t len,
    uint8_t flags)
{
	struct msghead h;
	const char *cause;
	size_t skip = 0;
	int rc;

	while (skip < len && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (s->head_bytes != len - skip)
		fail("head_bytes is not the head's length");
	rc = msghead_parse(&h, (const char *)p, len, mode != M_REQ, &cause);
	if (mode == M_REQ && !request_line_ok(p + skip, len - skip)) {
		if (rc == 0)
			fail("msghead accepts a malformed request line");
		return;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: %.*s", cause, (int)len, (const char *)p);
		fail("msghead refuses a head reqscan accepted");
	}
	if (mode == M_REQ &&
	    strncmp(s->method, h.method, sizeof s->method - 1) != 0)
		fail("reqscan and msghead read different methods");
	if (mode != M_REQ &&
	    (s->resp_status != h.status || h.minor != p[7] - '0'))
		fail("reqscan and msghead read different status lines");
	if (s->upgrade != (msghead_get(&h, "Upgrade") != NULL))
		fail("reqscan and msghead disagree on Upgrade");
	/* never a token that is not there; one past byte 96 may be missed */
	if (s->conn_upgrade && !msghead_conn_has(&h, "upgrade"))
		fail("reqscan sees Connection: upgrade where there is none");
	/* (a response's Connection field decides no lane: not read) */
	if (!s->conn_upgrade && msghead_conn_has(&h, "upgrade") &&
	    mode == M_REQ && !long_connection_line(p, len))
		fail("reqscan and msghead disagree on Connection: upgrade");
	same_in_store(&h, mode, p, len, flags);
	write_and_rescan(&h, s, mode, flags);
	msghead_free(&h);
}

/*
 * Feed in[from, to) in calls of at most step bytes.  heads: check every
 * head that ends (*start: where the current one starts).
 */
static void
feed(struct reqscan *s, int mode, const uint8_t *in, size_t from, size_t to,
    size_t step, struct trace *t, size_t *start, int heads)
{
	size_t off = from;

	while (off < to && t->status == 0) {
		size_t len = to - off < step ? to - off : step;
		bool data = reqscan_in_data(s);
		ssize_t n = reqscan_feed_step(s, (const char *)in + off, len);
		char e[32];

		if (n < 0) {
			t->status = s->status;
			if (t->status != 400 && t->status != 431 &&
			    t->status != 501)
				fail("refused with an unexpected status");
			return;
		}
		if (n == 0 || (size_t)n > len)
			fail("a step took no byte, or too many");
		if (data)
			sbuf_add(&t->data, (const char *)in + off, (size_t)n);
		off += (size_t)n;
		if (s->head_done) {
			snprintf(e, sizeof e, "h%zu ", off);
			sbuf_puts(&t->ends, e);
			if (heads >= 0)
				check_head(s, mode, in + *start, off - *start,
				    (uint8_t)heads);
			if (mode != M_REQ && s->resp_status < 200 &&
			    s->resp_status != 101)
				*start = off; /* an interim head */
		}
		if (s->msg_done) {
			snprintf(e, sizeof e, "m%zu ", off);
			sbuf_puts(&t->ends, e);
			*start = off;
		}
	}
}

static void
same(const struct trace *a, const struct trace *b, const char *how)
{
	if (a->status != b->status || a->tunnel != b->tunnel ||
	    a->data.len != b->data.len || a->ends.len != b->ends.len ||
	    (a->data.len > 0 && memcmp(a->data.s, b->data.s, a->data.len)) ||
	    (a->ends.len > 0 && strcmp(a->ends.s, b->ends.s) != 0)) {
		fprintf(stderr, "%s: status %d/%d, ends %s/%s\n", how,
		    a->status, b->status, a->ends.s ? a->ends.s : "",
		    b->ends.s ? b->ends.s : "");
		fail("the outcome depends on how the bytes arrive");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace t[3];
	struct reqscan s;
	const uint8_t *in;
	size_t len, step, cut, start;
	int mode, whole;

	if (size < 4)
		return 0;
	mode = (data[0] & 3) == 3 ? M_REQ : data[0] & 3;
	step = (size_t)(data[0] >> 2) + 1;
	in = data + 4;
	len = size - 4;
	cut = (((size_t)data[1] << 8) | data[2]) % (len + 1);
	memset(t, 0, sizeof t);
	/* whole (checking every head), in steps, cut in two */
	for (int k = 0; k < 3; k++) {
		init_mode(&s, mode);
		start = 0;
		if (k == 0)
			feed(&s, mode, in, 0, len, len, &t[k], &start, data[3]);
		else if (k == 1)
			feed(&s, mode, in, 0, len, step, &t[k], &start, -1);
		else {
			feed(&s, mode, in, 0, cut, len, &t[k], &start, -1);
			feed(&s, mode, in, cut, len, len, &t[k], &start, -1);
		}
		t[k].tunnel = t[k].status == 0 && reqscan_is_tunnel(&s);
	}
	same(&t[0], &t[1], "steps");
	same(&t[0], &t[2], "cut");
	/* reqscan_feed: the same verdict */
	init_mode(&s, mode);
	whole = reqscan_feed(&s, (const char *)in, len) != 0 ? s.status : 0;
	if (whole != t[0].status)
		fail("reqscan_feed and reqscan_feed_step disagree");
	for (int k = 0; k < 3; k++) {
		sbuf_free(&t[k].data);
		sbuf_free(&t[k].ends);
	}
	return 0;
}
