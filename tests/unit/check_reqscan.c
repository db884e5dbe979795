/*
 * check_reqscan: the raw request scanner.  Each row is a byte stream and
 * the verdict: accepted, or refused with a status.  Every row is fed
 * whole, byte by byte, and split at every offset, so a verdict never
 * depends on how the bytes arrive.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "reqscan.h"
#include "util.h"

#define H "GET http://h/ HTTP/1.1\r\nHost: h\r\n"
/* 100 name characters: longer than the scanner keeps of a line */
#define R10 "abcdefghij"
#define R100 R10 R10 R10 R10 R10 R10 R10 R10 R10 R10

static const struct {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen */
	int status; /* 0: accepted */
	bool in_head; /* after the input, is a head partly received */
	bool tunnel;
} rows[] = {
    {"plain GET", H "\r\n", 0, 0, false, false},
    {"empty header name", H ": smuggled\r\n\r\n", 0, 400, false, false},
    {"long line, no colon", H R100 "\r\n\r\n", 0, 400, false, false},
    {"long name, then colon", H R100 ": v\r\n\r\n", 0, 0, false, false},
    {"two pipelined", H "\r\n" H "\r\n", 0, 0, false, false},
    {"partial head", H "X-A: b", 0, 0, true, false},
    {"CL body",
	"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
	"a\r\n\0b" H "\r\n",
	86, 0, false, false},
    {"chunked body",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" H "\r\n",
	0, 0, false, false},
    {"chunk ext",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\n\r\n",
	0, 0, false, false},
    {"trailer",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n",
	0, 0, false, false},
    {"empty lines before", "\r\n\r\n" H "\r\n", 0, 0, false, false},
    {"CONNECT then tunnel bytes",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01\0\0\r", 45,
	0, false, true},
    {"bare LF lines", "GET http://h/ HTTP/1.1\nHost: h\n\n", 0, 0, false,
	false},
    {"tab in value", H "X-A: a\tb\r\n\r\n", 0, 0, false, false},
    {"CL and TE",
	"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\n"
	"Transfer-Encoding: chunked\r\n\r\n",
	0, 400, false, false},
    {"TE then CL",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\nContent-Length: 5\r\n\r\n",
	0, 400, false, false},
    {"two CL",
	"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\n"
	"Content-Length: 5\r\n\r\n",
	0, 400, false, false},
    {"CL +5", "POST http://h/ HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 0, 400,
	false, false},
    {"CL empty", "POST http://h/ HTTP/1.1\r\nContent-Length:\r\n\r\n", 0, 400,
	false, false},
    {"TE gzip",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
	"\r\n",
	0, 501, false, false},
    {"TE gzip, chunked",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"gzip, chunked\r\n\r\n",
	0, 501, false, false},
    {"two TE",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	"Transfer-Encoding: chunked\r\n\r\n",
	0, 400, false, false},
    {"two Host", H "Host: x\r\n\r\n", 0, 400, false, false},
    {"NUL in value", H "X-A: a\0b\r\n\r\n", sizeof(H) - 1 + 12, 400, false,
	false},
    {"bare CR", H "X-A: a\rb\r\n\r\n", 0, 400, false, false},
    {"control char",
	H "X-A: a\x01"
	  "b\r\n\r\n",
	0, 400, false, false},
    {"DEL", H "X-A: a\x7f\r\n\r\n", 0, 400, false, false},
    {"obs-fold", H "X-A: a\r\n b\r\n\r\n", 0, 400, false, false},
    {"space before colon", H "Transfer-Encoding : chunked\r\n\r\n", 0, 400,
	false, false},
    {"no colon", H "Garbage\r\n\r\n", 0, 400, false, false},
    {"value after the colon is free", H "X-A: (b) c:d@e\r\nY:z\r\n\r\n", 0, 0,
	false, false},
    {"bad name after a good line", H "X-A: b c\r\nX B: c\r\n\r\n", 0, 400,
	false, false},
    {"long name", H "X-" R100 ": v\r\n\r\n", 0, 0, false, false},
    {"long name, space late", H "X-" R100 " B: v\r\n\r\n", 0, 400, false,
	false},
    {"space in a trailer name",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n1\r\na\r\n0\r\nX T: 1\r\n\r\n",
	0, 400, false, false},
    {"chunk 0x5",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	0, 400, false, false},
    {"chunk zz",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\nzz\r\n",
	0, 400, false, false},
    {"chunk size empty",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n\r\n",
	0, 400, false, false},
    {"chunk without CRLF",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n1\r\nab\r\n",
	0, 400, false, false},
    {"chunk too large",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n1000000000000000\r\n",
	0, 400, false, false},
    {"HEAD with a body", "HEAD http://h/ HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
	0, 400, false, false},
    {"TRACE chunked",
	"TRACE http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	"chunked\r\n\r\n",
	0, 400, false, false},
    {"HEAD with an empty body",
	"HEAD http://h/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n" H "\r\n", 0, 0,
	false, false},
    {"HEADER method is not HEAD",
	"HEADER http://h/ HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 0, 0, false,
	false},
    {"bad request after a good one", H "\r\n" H "X: \x01\r\n\r\n", 0, 400,
	false, false},
};

static int
scan(const char *in, size_t len, size_t step, struct reqscan *s)
{
	reqscan_init(s, 1024);
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		if (reqscan_feed(s, in + off, n) != 0)
			return s->status;
	}
	return 0;
}

START_TEST(test_rows)
{
	for (size_t i = 0; i < RP_NELEM(rows); i++) {
		size_t len = rows[i].len ? rows[i].len : strlen(rows[i].in);
		struct reqscan s;
		int got;

		got = scan(rows[i].in, len, len ? len : 1, &s);
		ck_assert_msg(got == rows[i].status,
		    "%s: whole: want %d got %d", rows[i].name, rows[i].status,
		    got);
		got = scan(rows[i].in, len, 1, &s);
		ck_assert_msg(got == rows[i].status,
		    "%s: bytewise: want %d got %d", rows[i].name,
		    rows[i].status, got);
		if (got == 0) {
			ck_assert_msg(reqscan_in_head(&s) == rows[i].in_head,
			    "%s: in_head", rows[i].name);
			ck_assert_msg(reqscan_is_tunnel(&s) == rows[i].tunnel,
			    "%s: tunnel", rows[i].name);
		}
		for (size_t cut = 1; cut < len; cut++) {
			struct reqscan t;
			reqscan_init(&t, 1024);
			got = reqscan_feed(&t, rows[i].in, cut) != 0 ? t.status
			    : reqscan_feed(&t, rows[i].in + cut, len - cut) != 0
			    ? t.status
			    : 0;
			ck_assert_msg(got == rows[i].status,
			    "%s: split at %zu: want %d got %d", rows[i].name,
			    cut, rows[i].status, got);
		}
	}
}
END_TEST

/* What may be read for the current body, never the next request's bytes. */
START_TEST(test_body_left)
{
	static const char req[] = "POST http://h/ HTTP/1.1\r\nHost: h\r\n"
				  "Content-Length: 10\r\n\r\n";
	static const char chunked[] =
	    "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "a\r\n";
	struct reqscan s;

	reqscan_init(&s, 1024);
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
	ck_assert_int_eq(reqscan_feed(&s, req, sizeof req - 2), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 0); /* head not ended */
	ck_assert_int_eq(reqscan_feed(&s, req + sizeof req - 2, 1), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 10);
	ck_assert_int_eq(reqscan_feed(&s, "0123", 4), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 6);
	/* the rest of the body and the start of the next request */
	ck_assert_int_eq(reqscan_feed(&s, "456789GET", 9), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
	ck_assert(reqscan_in_head(&s));
	/* a chunk is not a Content-Length body: no bound known ahead */
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, chunked, sizeof chunked - 1), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
	/* nor a CONNECT's tunnel, nor a body-less request */
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s,
			     "CONNECT h:443 HTTP/1.1\r\nContent-Length: 5\r\n"
			     "\r\nabc",
			     48),
	    0);
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
	reqscan_init(&s, 1024);
	ck_assert_int_eq(
	    reqscan_feed(&s, "GET http://h/ HTTP/1.1\r\n\r\n", 26), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
}
END_TEST

START_TEST(test_head_limit)
{
	struct reqscan s;
	char *big = xmalloc(3000);

	memset(big, 'a', 3000);
	memcpy(big, "GET http://h/", 13);
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, big, 1024), 0);
	ck_assert_int_eq(reqscan_feed(&s, big, 1), -1);
	ck_assert_int_eq(s.status, 431);
	/* the limit is per request: two heads of 600 bytes each pass */
	reqscan_init(&s, 1024);
	for (int r = 0; r < 2; r++) {
		ck_assert_int_eq(
		    reqscan_feed(&s, "GET http://h/ HTTP/1.1\r\nX: ", 27), 0);
		ck_assert_int_eq(reqscan_feed(&s, big + 100, 560), 0);
		ck_assert_int_eq(reqscan_feed(&s, "\r\n\r\n", 4), 0);
	}
	/* sticky: nothing is accepted after a refusal */
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, "GET x\r\nA\0", 9), -1);
	ck_assert_int_eq(reqscan_feed(&s, H "\r\n", sizeof(H) + 1), -1);
	free(big);
}
END_TEST

/* A response head: the same rules, and nothing after its empty line. */
START_TEST(test_response_head)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
				 "\0\r\x01";
	static const char fold[] = "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n";
	static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
	struct reqscan s;

	reqscan_init_response(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, ok, sizeof ok - 1), 0);
	ck_assert(reqscan_is_tunnel(&s)); /* (done: the body is not ours) */
	reqscan_init_response(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, fold, sizeof fold - 1), -1);
	ck_assert_int_eq(s.status, 400);
	reqscan_init_response(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, nul, sizeof nul - 1), -1);
}
END_TEST

/*
 * The fast path over runs of ordinary bytes must agree with the
 * one-byte-at-a-time checks: on every verdict, at every split, and on
 * where the scan stands afterwards.
 */
struct outcome {
	int rc, status, state;
	uint64_t head_bytes, body_left;
	size_t llen;
	bool colon;
	char line[96];
};

static struct outcome
run_scan(bool fast, bool response, const char *in, size_t len, size_t cut,
    uint64_t max_head)
{
	struct reqscan s;
	struct outcome o;

	reqscan_fast_path(fast);
	if (response)
		reqscan_init_response(&s, max_head);
	else
		reqscan_init(&s, max_head);
	o.rc = reqscan_feed(&s, in, cut);
	if (o.rc == 0)
		o.rc = reqscan_feed(&s, in + cut, len - cut);
	reqscan_fast_path(true);
	memset(&o.line, 0, sizeof o.line);
	o.status = o.rc ? s.status : 0;
	o.state = s.state;
	o.head_bytes = o.rc ? 0 : s.head_bytes;
	o.body_left = reqscan_body_left(&s);
	o.llen = o.rc ? 0 : s.llen;
	o.colon = o.rc ? false : s.colon;
	if (o.rc == 0)
		memcpy(o.line, s.line,
		    s.llen < sizeof s.line ? s.llen : sizeof s.line);
	return o;
}

static void
assert_same(const char *what, bool response, const char *in, size_t len,
    size_t cut, uint64_t max_head)
{
	struct outcome a = run_scan(false, response, in, len, cut, max_head);
	struct outcome b = run_scan(true, response, in, len, cut, max_head);

	ck_assert_msg(a.rc == b.rc && a.status == b.status &&
		a.state == b.state && a.head_bytes == b.head_bytes &&
		a.body_left == b.body_left && a.llen == b.llen &&
		a.colon == b.colon &&
		memcmp(a.line, b.line, sizeof a.line) == 0,
	    "%s (len %zu, split at %zu): bytewise %d/%d state %d, fast "
	    "%d/%d state %d",
	    what, len, cut, a.rc, a.status, a.state, b.rc, b.status, b.state);
}

/* Every byte value in every place of a line that treats bytes apart. */
START_TEST(test_fast_path_every_byte)
{
	static const char *const shapes[] = {
	    "GET http://h/%c HTTP/1.1\r\nHost: h\r\n\r\n", /* request line */
	    "GET http://h/ HTTP/1.1\r\nX%c-Y: v\r\n\r\n", /* in a name */
	    "GET http://h/ HTTP/1.1\r\nX-Y%c: v\r\n\r\n", /* name end */
	    "GET http://h/ HTTP/1.1\r\nX-Y:%cv\r\n\r\n", /* value start */
	    "GET http://h/ HTTP/1.1\r\nX-Y: a%cb\r\n\r\n", /* in a value */
	    "GET http://h/ HTTP/1.1\r\nX-Y: ab%c\r\n\r\n", /* value end */
	    "GET http://h/ HTTP/1.1\r\n%cX: v\r\n\r\n", /* line start */
	    "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\nT%c: v\r\n\r\n", /* a trailer name */
	};

	for (size_t k = 0; k < RP_NELEM(shapes); k++)
		for (int c = 0; c < 256; c++) {
			char in[256];
			const char *at = strstr(shapes[k], "%c");
			size_t pre = (size_t)(at - shapes[k]);
			size_t len = strlen(shapes[k]) - 1;

			memcpy(in, shapes[k], pre);
			in[pre] = (char)c;
			memcpy(in + pre + 1, at + 2, strlen(at + 2));
			for (size_t cut = 0; cut <= len; cut++) {
				assert_same(
				    shapes[k], false, in, len, cut, 1024);
				assert_same(shapes[k], true, in + 4, len - 4,
				    cut > len - 4 ? len - 4 : cut, 1024);
			}
		}
}
END_TEST

/* Random heads from bytes that matter, at random splits and limits. */
START_TEST(test_fast_path_random)
{
	static const char alphabet[] =
	    "GET POST HEAD CONNECT http://h/ HTTP/1.1 "
	    "Host: Content-Length: 12 "
	    "Transfer-Encoding: chunked "
	    "\r\n\r\n\t:;\x01\x7f\x80\xff\0 aZ9-_";
	static const char head[] = "GET http://h/ HTTP/1.1\r\nHost: h\r\n"
				   "Content-Length: 2\r\n\r\nab";
	uint32_t seed = 0x2545f491u;

	/* the size limit reached on every byte of a head */
	for (uint64_t max = 1; max < sizeof head; max++)
		for (size_t len = 1; len < sizeof head; len++)
			assert_same("limit", false, head, len, len / 2, max);

	for (int round = 0; round < 20000; round++) {
		char in[300];
		size_t len, cut;
		uint64_t max_head;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % sizeof in;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* bytes of the words and separators that matter */
			in[i] = alphabet[(seed >> 9) % (sizeof alphabet - 1)];
		}
		if (len > 20 && round % 2 == 0)
			memcpy(in, "GET http://h/ HTTP/1.1\r\n", 20);
		seed = seed * 1103515245u + 12345u;
		cut = len ? (seed >> 8) % (len + 1) : 0;
		max_head = round % 5 == 0 ? 16 + (seed >> 20) % 64 : 1024;
		assert_same("random", round % 7 == 0, in, len, cut, max_head);
	}
}
END_TEST

/*
 * Response status lines (RFC 9112 section 4): "HTTP/1.D SP 3DIGIT", then
 * the end of the line or SP and a reason (which may be empty); a status
 * of 100-599; nothing before it, not even an empty line.  head is how
 * long the head is (0: the whole row); what follows it is body.  Each
 * row is fed whole, byte by byte and split at every offset: the head
 * must be refused, or complete exactly at its last byte, with its status
 * and length.
 */
static const struct {
	const char *name;
	const char *in;
	size_t head; /* 0: strlen */
	int status; /* 0: accepted */
	int resp_status; /* when accepted */
} status_rows[] = {
    {"200 OK", "HTTP/1.1 200 OK\r\n\r\n", 0, 0, 200},
    {"HTTP/1.0 404", "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0,
	0, 404},
    {"no reason", "HTTP/1.1 200\r\n\r\n", 0, 0, 200},
    {"empty reason", "HTTP/1.1 204 \r\n\r\n", 0, 0, 204},
    {"reason with tab and obs-text", "HTTP/1.1 200 O\tK \x80\xff\r\n\r\n", 0, 0,
	200},
    {"bare LF lines", "HTTP/1.1 200 OK\nX: y\n\n", 0, 0, 200},
    {"100", "HTTP/1.1 100 Continue\r\n\r\n", 0, 0, 100},
    {"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0,
	0, 101},
    {"103", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
	0, 0, 103},
    {"599", "HTTP/1.1 599 X\r\n\r\n", 0, 0, 599},
    {"body after the head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	38, 0, 200},
    {"a second head after the head",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 25, 0, 100},
    {"2x0", "HTTP/1.1 2x0 OK\r\n\r\n", 0, 400, 0},
    {"999", "HTTP/1.1 999 X\r\n\r\n", 0, 400, 0},
    {"600", "HTTP/1.1 600 X\r\n\r\n", 0, 400, 0},
    {"099", "HTTP/1.1 099 X\r\n\r\n", 0, 400, 0},
    {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", 0, 400, 0},
    {"two digits", "HTTP/1.1 20 OK\r\n\r\n", 0, 400, 0},
    {"two digits, no reason", "HTTP/1.1 20\r\n\r\n", 0, 400, 0},
    {"four digits", "HTTP/1.1 2000 OK\r\n\r\n", 0, 400, 0},
    {"HTTP/1.11", "HTTP/1.11 200 OK\r\n\r\n", 0, 400, 0},
    {"HTTP/1.x", "HTTP/1.x 200 OK\r\n\r\n", 0, 400, 0},
    {"lower-case version", "http/1.1 200 OK\r\n\r\n", 0, 400, 0},
    {"no space after the version", "HTTP/1.1x200 OK\r\n\r\n", 0, 400, 0},
    {"two spaces", "HTTP/1.1  200 OK\r\n\r\n", 0, 400, 0},
    {"tab after the status", "HTTP/1.1 200\tOK\r\n\r\n", 0, 400, 0},
    {"version only", "HTTP/1.1\r\n\r\n", 0, 400, 0},
    {"CRLF before the status line", "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, 400, 0},
    {"LF before the status line", "\nHTTP/1.1 200 OK\r\n\r\n", 0, 400, 0},
    {"a request line", "GET / HTTP/1.1\r\n\r\n", 0, 400, 0},
};

static int
scan_response(const char *in, size_t len, size_t step, uint64_t max_head,
    struct reqscan *s)
{
	reqscan_init_response(s, max_head);
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		if (reqscan_feed(s, in + off, n) != 0)
			return s->status;
	}
	return 0;
}

START_TEST(test_status_rows)
{
	for (size_t i = 0; i < RP_NELEM(status_rows); i++) {
		const char *name = status_rows[i].name;
		size_t len = strlen(status_rows[i].in);
		size_t head = status_rows[i].head ? status_rows[i].head : len;
		int want = status_rows[i].status;
		struct reqscan s;
		int got;

		got = scan_response(status_rows[i].in, len, len, 1024, &s);
		ck_assert_msg(
		    got == want, "%s: whole: want %d got %d", name, want, got);
		got = scan_response(status_rows[i].in, len, 1, 1024, &s);
		ck_assert_msg(got == want, "%s: bytewise: want %d got %d", name,
		    want, got);
		for (size_t cut = 1; cut < len; cut++) {
			struct reqscan t;
			int rc;

			reqscan_init_response(&t, 1024);
			rc = reqscan_feed(&t, status_rows[i].in, cut);
			if (rc == 0 && want == 0)
				/* complete at its last byte, not before */
				ck_assert_msg(
				    reqscan_is_tunnel(&t) == (cut >= head),
				    "%s: complete after %zu bytes", name, cut);
			if (rc == 0)
				rc = reqscan_feed(
				    &t, status_rows[i].in + cut, len - cut);
			got = rc != 0 ? t.status : 0;
			ck_assert_msg(got == want,
			    "%s: split at %zu: want %d got %d", name, cut, want,
			    got);
		}
		if (want != 0)
			continue;
		ck_assert_msg(reqscan_is_tunnel(&s), "%s: complete", name);
		ck_assert_msg(s.resp_status == status_rows[i].resp_status,
		    "%s: status %d", name, s.resp_status);
		ck_assert_msg(s.head_bytes == head,
		    "%s: head_bytes %llu, want %zu", name,
		    (unsigned long long)s.head_bytes, head);
	}
}
END_TEST

/* A response head of max_head bytes passes; one byte more gets 431. */
START_TEST(test_status_head_limit)
{
	char in[80];
	struct reqscan s;

	/* "HTTP/1.1 200 OK\r\n" "X: " 40 x 'a' "\r\n" "\r\n": 64 bytes */
	memcpy(in, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(in + 20, 'a', sizeof in - 20);
	memcpy(in + 60, "\r\n\r\n", 4);
	ck_assert_int_eq(scan_response(in, 64, 64, 64, &s), 0);
	ck_assert(reqscan_is_tunnel(&s));
	ck_assert_uint_eq(s.head_bytes, 64);
	ck_assert_int_eq(s.resp_status, 200);
	ck_assert_int_eq(scan_response(in, 64, 1, 64, &s), 0);
	ck_assert(reqscan_is_tunnel(&s));
	/* 41 x 'a': 65 bytes */
	in[60] = 'a';
	memcpy(in + 61, "\r\n\r\n", 4);
	ck_assert_int_eq(scan_response(in, 65, 65, 64, &s), 431);
	ck_assert_int_eq(scan_response(in, 65, 1, 64, &s), 431);
	/* a status line that does not end is refused at the limit */
	memcpy(in, "HTTP/1.1 200 ", 13);
	memset(in + 13, 'a', sizeof in - 13);
	reqscan_init_response(&s, 64);
	ck_assert_int_eq(reqscan_feed(&s, in, 64), 0);
	ck_assert_int_eq(reqscan_feed(&s, in + 64, 1), -1);
	ck_assert_int_eq(s.status, 431);
}
END_TEST

/* Chunk extensions are dropped from what goes on; the rest is kept. */
START_TEST(test_strip_ext)
{
	static const char in[] =
	    "PUT http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3;foo=bar\r\nabc\r\n2;q=\"a;b\""
	    "\r\nde\r\n0;x=y\r\nT: 1\r\n\r\n" H "\r\n";
	static const char want[] =
	    "PUT http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n"
	    "T: 1\r\n\r\n" H "\r\n";
	char out[sizeof in];
	struct reqscan s, ref;

	/* whole, and at every split: the same bytes, the same scan */
	for (size_t cut = 0; cut < sizeof in - 1; cut++) {
		ssize_t a, b;
		reqscan_init(&s, 1024);
		a = reqscan_strip_ext(&s, in, cut, out);
		ck_assert_int_ge(a, 0);
		b = reqscan_strip_ext(
		    &s, in + cut, sizeof in - 1 - cut, out + a);
		ck_assert_int_ge(b, 0);
		ck_assert_int_eq(a + b, sizeof want - 1);
		ck_assert(memcmp(out, want, sizeof want - 1) == 0);
		ck_assert_uint_eq(s.nexts, 3);
		reqscan_init(&ref, 1024);
		ck_assert_int_eq(reqscan_feed(&ref, in, sizeof in - 1), 0);
		ck_assert_int_eq(s.state, ref.state);
	}
	/* no extension: every byte kept, nexts stays 0 */
	reqscan_init(&s, 1024);
	ck_assert_int_eq(
	    reqscan_strip_ext(&s, want, sizeof want - 1, out), sizeof want - 1);
	ck_assert_uint_eq(s.nexts, 0);
}
END_TEST

/* An extension longer than 4 KiB is refused, not skipped forever. */
START_TEST(test_long_ext)
{
	static const char head[] =
	    "PUT http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n3;";
	char *big = malloc(5000);
	struct reqscan s;

	memset(big, 'x', 5000);
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, head, sizeof head - 1), 0);
	ck_assert_int_eq(reqscan_feed(&s, big, 4095), 0);
	ck_assert_int_eq(reqscan_feed(&s, big, 2), -1);
	ck_assert_int_eq(s.status, 400);
	free(big);
}
END_TEST

/* max_body: a declared length over it at once, a chunked body at the chunk. */
START_TEST(test_max_body)
{
	static const char cl_ok[] =
	    "POST http://h/ HTTP/1.1\r\nContent-Length: "
	    "10\r\n\r\n";
	static const char cl_big[] =
	    "POST http://h/ HTTP/1.1\r\nContent-Length: "
	    "11\r\n\r\n";
	static const char ch[] =
	    "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n"
	    "1\r\n";
	struct reqscan s;

	reqscan_init(&s, 1024);
	reqscan_set_max_body(&s, 10);
	ck_assert_int_eq(reqscan_feed(&s, cl_ok, sizeof cl_ok - 1), 0);
	reqscan_init(&s, 1024);
	reqscan_set_max_body(&s, 10);
	ck_assert_int_eq(reqscan_feed(&s, cl_big, sizeof cl_big - 1), -1);
	ck_assert_int_eq(s.status, 413);
	/* 10 chunk bytes pass; the chunk that makes 11 is refused */
	reqscan_init(&s, 1024);
	reqscan_set_max_body(&s, 10);
	ck_assert_int_eq(reqscan_feed(&s, ch, sizeof ch - 3), 0);
	ck_assert_int_eq(reqscan_feed(&s, ch + sizeof ch - 3, 2), -1);
	ck_assert_int_eq(s.status, 413);
	/* a limit of 0 allows no body; no limit set allows any */
	reqscan_init(&s, 1024);
	reqscan_set_max_body(&s, 0);
	ck_assert_int_eq(reqscan_feed(&s, cl_ok, sizeof cl_ok - 1), -1);
	reqscan_init(&s, 1024);
	ck_assert_int_eq(reqscan_feed(&s, cl_big, sizeof cl_big - 1), 0);
	/* the count starts again with each request */
	reqscan_init(&s, 1024);
	reqscan_set_max_body(&s, 10);
	ck_assert_int_eq(reqscan_feed(&s,
			     "POST http://h/ HTTP/1.1\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n"
			     "8\r\n12345678\r\n0\r\n\r\n",
			     73),
	    0);
	ck_assert_int_eq(reqscan_feed(&s, ch, sizeof ch - 3), 0);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("reqscan");
	TCase *tc = tcase_create("reqscan");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_rows);
	tcase_add_test(tc, test_head_limit);
	tcase_add_test(tc, test_body_left);
	tcase_add_test(tc, test_response_head);
	tcase_add_test(tc, test_fast_path_every_byte);
	tcase_add_test(tc, test_fast_path_random);
	tcase_add_test(tc, test_status_rows);
	tcase_add_test(tc, test_status_head_limit);
	tcase_add_test(tc, test_strip_ext);
	tcase_add_test(tc, test_long_ext);
	tcase_add_test(tc, test_max_body);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
