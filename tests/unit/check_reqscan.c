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
#define R75 R10 R10 R10 R10 R10 R10 R10 "aaaaa"

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
    /* libevent would read the method "\rGET" (RFC 9112 section 2.2) */
    {"bare CR before the request line", "\r" H "\r\n", 0, 400, false, false},
    {"bare CR between requests", H "\r\n\r" H "\r\n", 0, 400, false, false},
    {"CRLF between requests", H "\r\n\r\n" H "\r\n", 0, 0, false, false},
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
/*
 * Body bytes that went by unfed (spliced): counted off, the message done
 * at the last, and the next request scanned as one; never past the body.
 */
START_TEST(test_body_taken)
{
	static const char req[] = "POST http://h/ HTTP/1.1\r\nHost: h\r\n"
				  "Content-Length: 10\r\n\r\n";
	struct reqscan s;

	reqscan_init(&s, 1024);
	reqscan_body_taken(&s, 5); /* (no body yet: nothing) */
	ck_assert_int_eq(reqscan_feed(&s, req, sizeof req - 1), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 10);
	ck_assert_int_eq(reqscan_feed(&s, "01", 2), 0);
	reqscan_body_taken(&s, 7);
	ck_assert_uint_eq(reqscan_body_left(&s), 1);
	ck_assert(!s.msg_done);
	reqscan_body_taken(&s, 100); /* (at most what is left) */
	ck_assert_uint_eq(reqscan_body_left(&s), 0);
	ck_assert(s.msg_done);
	/* the next request is scanned as a request */
	ck_assert_int_eq(reqscan_feed(&s, req, sizeof req - 1), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 10);
	ck_assert_int_eq(reqscan_feed(&s, "\r", 1), 0);
	ck_assert_int_eq(reqscan_feed(&s, "x", 1), 0);
	ck_assert_uint_eq(reqscan_body_left(&s), 8);
}
END_TEST

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
	/* trailer fields have a limit of their own, not the head's rest */
	reqscan_init(&s, 60);
	ck_assert_int_eq(reqscan_feed(&s,
			     "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: "
			     "chunked\r\n\r\n0\r\nX: 1\r\n\r\n",
			     62),
	    0);
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
	size_t colon_at;
	char line[96];
	/* what the lanes and framing are decided by */
	char method[24];
	bool connect, nobody, has_cl, chunked, upgrade, conn_upgrade;
	unsigned nhost;
	int resp_status;
	/*
	 * reqscan_feed_step over the same bytes: where each step ended and
	 * what it said (head_done, msg_done), folded into one number
	 */
	uint64_t steps;
};

/* Feed in steps as the lanes do; a digest of every boundary. */
static uint64_t
step_trace(
    bool response, const char *in, size_t len, size_t cut, uint64_t max_head)
{
	struct reqscan s;
	uint64_t h = 1469598103934665603ull;
	size_t parts[2][2] = {{0, cut}, {cut, len}};

	if (response)
		reqscan_init_response_msg(&s, max_head, false);
	else
		reqscan_init(&s, max_head);
	for (int k = 0; k < 2; k++)
		for (size_t at = parts[k][0]; at < parts[k][1];) {
			ssize_t n =
			    reqscan_feed_step(&s, in + at, parts[k][1] - at);
			h = (h ^ (uint64_t)(n + 2)) * 1099511628211ull;
			h = (h ^ (uint64_t)(s.head_done * 2 + s.msg_done)) *
			    1099511628211ull;
			if (n <= 0)
				return h; /* (refused; 0: cannot happen) */
			at += (size_t)n;
		}
	return h;
}

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
	memset(&o, 0, sizeof o);
	o.rc = reqscan_feed(&s, in, cut);
	if (o.rc == 0)
		o.rc = reqscan_feed(&s, in + cut, len - cut);
	o.steps = step_trace(response, in, len, cut, max_head);
	reqscan_fast_path(true);
	if (o.rc == 0) {
		memcpy(o.method, s.method, sizeof o.method);
		o.connect = s.connect;
		o.nobody = s.nobody;
		o.has_cl = s.has_cl;
		o.chunked = s.chunked;
		o.upgrade = s.upgrade;
		o.conn_upgrade = s.conn_upgrade;
		o.nhost = s.nhost;
		o.resp_status = s.resp_status;
	}
	o.status = o.rc ? s.status : 0;
	o.state = s.state;
	o.head_bytes = o.rc ? 0 : s.head_bytes;
	o.body_left = reqscan_body_left(&s);
	o.llen = o.rc ? 0 : s.llen;
	o.colon = o.rc ? false : s.colon;
	o.colon_at = o.colon ? s.colon_at : 0;
	/*
	 * (the fast path keeps a field line's bytes only where header_line
	 * reads them: its name's length is a framing name's)
	 */
	if (o.rc == 0 &&
	    (s.first || !s.colon || s.colon_at == 4 || s.colon_at == 7 ||
		s.colon_at == 10 || s.colon_at == 14 || s.colon_at == 17))
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
		a.colon == b.colon && a.colon_at == b.colon_at &&
		memcmp(a.line, b.line, sizeof a.line) == 0 &&
		strcmp(a.method, b.method) == 0 && a.connect == b.connect &&
		a.nobody == b.nobody && a.has_cl == b.has_cl &&
		a.chunked == b.chunked && a.upgrade == b.upgrade &&
		a.conn_upgrade == b.conn_upgrade && a.nhost == b.nhost &&
		a.resp_status == b.resp_status && a.steps == b.steps,
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
	    "Transfer-Encoding: chunked Connection: upgrade Upgrade: "
	    "HTTP/1.1 101 200 "
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
		/* (a response's: interim and final heads, bodies) */
		if (len > 20 && round % 7 == 0 && round % 2 == 0)
			memcpy(in,
			    round % 3 ? "HTTP/1.1 200 OK\r\n"
				      : "HTTP/1.1 100 Go\r\n",
			    17);
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

/*
 * The step API (reqscan_feed_step), requests and whole responses.  In
 * each row '^' marks where a head ends (head_done) and '$' where a
 * message ends (msg_done); they are taken out before the bytes are fed
 * (no row uses them otherwise).  data is what a step took while
 * reqscan_in_data() was true before it: the bodies de-chunked (RFC 9112
 * section 7.1), back to back.  Every row is fed whole, a byte per call,
 * and cut at every offset: the same boundaries, the same data, the same
 * verdict.
 */
enum { M_REQ, M_RESP, M_RESP_HEAD };

#define POST "POST http://h/ HTTP/1.1\r\nHost: h\r\n"
#define CHUNKED "Transfer-Encoding: chunked\r\n\r\n^"
#define OK "HTTP/1.1 200 OK\r\n"

static const struct {
	const char *name;
	int mode;
	const char *in;
	const char *data;
	int status; /* 0: accepted */
	bool tunnel; /* after the input */
	int resp_status; /* the last head's, when accepted */
} step_rows[] = {
    {"no body", M_REQ, H "\r\n^$", "", 0, false, 0},
    {"Content-Length", M_REQ, POST "Content-Length: 5\r\n\r\n^hello$", "hello",
	0, false, 0},
    {"Content-Length 0", M_REQ, POST "Content-Length: 0\r\n\r\n^$", "", 0,
	false, 0},
    {"chunked", M_REQ, POST CHUNKED "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n$",
	"hello world", 0, false, 0},
    {"chunked, extensions and trailers", M_REQ,
	POST CHUNKED "3;a=b\r\nabc\r\nA;x;y=\"q;r\"\r\n0123456789\r\n"
		     "0;z\r\nT: 1\r\nU: 2\r\n\r\n$",
	"abc0123456789", 0, false, 0},
    {"pipelined", M_REQ,
	POST "Content-Length: 3\r\n\r\n^abc$" POST CHUNKED
	     "2\r\nde\r\n0\r\n\r\n$" H "\r\n^$" POST
	     "Content-Length: 1\r\n\r\n^f$",
	"abcdef", 0, false, 0},
    {"empty lines between requests", M_REQ, H "\r\n^$\r\n\r\n" H "\r\n^$", "",
	0, false, 0},
    {"bare LF", M_REQ, "GET http://h/ HTTP/1.1\nHost: h\n\n^$", "", 0, false,
	0},
    {"HEAD, CL 0, then GET", M_REQ,
	"HEAD http://h/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n^$" H "\r\n^$", "",
	0, false, 0},
    {"CONNECT: the rest is not data", M_REQ,
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n^\x16\x03\x01 x\r\n", "",
	0, true, 0},
    {"head in progress", M_REQ, H "\r\n^$" POST "Content-Le", "", 0, false, 0},
    {"body in progress", M_REQ, POST "Content-Length: 9\r\n\r\n^abc", "abc", 0,
	false, 0},
    /* RFC 9110 section 6.5.1: trailer fields frame nothing */
    {"framing fields as trailers", M_REQ,
	POST CHUNKED "1\r\na\r\n0\r\nContent-Length: 3\r\nHost: x\r\n"
		     "Transfer-Encoding: gzip\r\n\r\n$" H "\r\n^$",
	"a", 0, false, 0},
    {"trailer without a colon", M_REQ, POST CHUNKED "0\r\nT\r\n\r\n", "", 400,
	false, 0},
    {"bad chunk size", M_REQ, POST CHUNKED "zz\r\n", "", 400, false, 0},
    {"chunk without CRLF", M_REQ, POST CHUNKED "2\r\nabX", "ab", 400, false, 0},
    {"bad second request", M_REQ, POST "Content-Length: 1\r\n\r\n^x$" H "\x01",
	"x", 400, false, 0},
    /* RFC 9110 section 15.2: interim heads, then the final one */
    {"100, then 200 with CL", M_RESP,
	"HTTP/1.1 100 Continue\r\n\r\n^" OK "Content-Length: 2\r\n\r\n^ok$",
	"ok", 0, false, 200},
    {"103 and 100, then 204 with CL", M_RESP,
	"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n^"
	"HTTP/1.1 100 Continue\r\n\r\n^"
	"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n^$",
	"", 0, false, 204},
    /* RFC 9112 section 6.3: 1xx, 204 and 304 never have a body */
    {"1xx with CL", M_RESP,
	"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n^" OK
	"Content-Length: 0\r\n\r\n^$",
	"", 0, false, 200},
    {"304 with CL", M_RESP,
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n^$", "", 0,
	false, 304},
    {"304 chunked", M_RESP, "HTTP/1.1 304 Not Modified\r\n" CHUNKED "$", "", 0,
	false, 304},
    {"HEAD: CL", M_RESP_HEAD, OK "Content-Length: 10\r\n\r\n^$", "", 0, false,
	200},
    {"HEAD: chunked", M_RESP_HEAD, OK CHUNKED "$", "", 0, false, 200},
    {"HEAD: no framing", M_RESP_HEAD, OK "\r\n^$", "", 0, false, 200},
    {"HEAD: 100 first", M_RESP_HEAD,
	"HTTP/1.1 100 Continue\r\n\r\n^" OK "Content-Length: 3\r\n\r\n^$", "",
	0, false, 200},
    {"101: a tunnel", M_RESP,
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	"Connection: Upgrade\r\n\r\n^\x81\x05hello",
	"\x81\x05hello", 0, true, 101},
    {"100, then 101", M_RESP,
	"HTTP/1.1 100 Continue\r\n\r\n^HTTP/1.1 101 Switching\r\n\r\n^ab", "ab",
	0, true, 101},
    {"CL", M_RESP, OK "Content-Length: 5\r\n\r\n^hello$", "hello", 0, false,
	200},
    {"CL 0", M_RESP, OK "Content-Length: 0\r\n\r\n^$", "", 0, false, 200},
    {"chunked, trailers", M_RESP,
	OK CHUNKED "4;e=1\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: x\r\n"
		   "X: y\r\n\r\n$",
	"Wikipedia", 0, false, 200},
    {"chunked, in progress", M_RESP, OK CHUNKED "5\r\nhel", "hel", 0, false,
	200},
    {"close-delimited", M_RESP,
	"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n^"
	"all of it\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x01",
	"all of it\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\x01", 0, true, 200},
    {"Content-Length as a trailer", M_RESP,
	OK CHUNKED "0\r\nContent-Length: 0\r\n\r\n$", "", 0, false, 200},
    {"bad status", M_RESP, "HTTP/1.1 2x0 OK\r\n\r\n", "", 400, false, 0},
    {"bad final after 100", M_RESP,
	"HTTP/1.1 100 Continue\r\n\r\n^HTTP/2 200 OK\r\n\r\n", "", 400, false,
	0},
    {"empty line between heads", M_RESP,
	"HTTP/1.1 100 Continue\r\n\r\n^\r\n" OK "\r\n", "", 400, false, 0},
    {"CL and TE", M_RESP,
	OK "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "", 400,
	false, 0},
    {"two CL", M_RESP, OK "Content-Length: 1\r\nContent-Length: 1\r\n\r\n", "",
	400, false, 0},
    {"TE gzip", M_RESP, OK "Transfer-Encoding: gzip\r\n\r\n", "", 501, false,
	0},
    {"obs-fold", M_RESP, OK "X: a\r\n b\r\n\r\n", "", 400, false, 0},
    {"bad chunk size", M_RESP, OK CHUNKED "0x5\r\n", "", 400, false, 0},
    {"chunk without CRLF", M_RESP, OK CHUNKED "1\r\naX", "a", 400, false, 0},
    {"bare CR in a trailer", M_RESP, OK CHUNKED "0\r\nX: 1\r2\r\n\r\n", "", 400,
	false, 0},
};

struct stepped {
	int status;
	struct sbuf data;
	size_t head[8], nhead, msg[8], nmsg;
};

/* Feed [from, to) of in a step at a time, at most step bytes a call. */
static void
feed_steps(struct reqscan *s, const char *in, size_t from, size_t to,
    size_t step, struct stepped *o)
{
	size_t off = from;

	while (off < to && o->status == 0) {
		size_t len = to - off < step ? to - off : step;
		bool data = reqscan_in_data(s);
		ssize_t n = reqscan_feed_step(s, in + off, len);

		if (n < 0) {
			o->status = s->status;
			return;
		}
		ck_assert_msg(
		    n > 0 && (size_t)n <= len, "took %zd of %zu", n, len);
		if (data)
			sbuf_add(&o->data, in + off, (size_t)n);
		off += (size_t)n;
		if (s->head_done && o->nhead < RP_NELEM(o->head))
			o->head[o->nhead++] = off;
		if (s->msg_done && o->nmsg < RP_NELEM(o->msg))
			o->msg[o->nmsg++] = off;
	}
}

static void
init_mode(struct reqscan *s, int mode)
{
	if (mode == M_REQ)
		reqscan_init(s, 1024);
	else
		reqscan_init_response_msg(s, 1024, mode == M_RESP_HEAD);
}

START_TEST(test_step_rows)
{
	for (size_t i = 0; i < RP_NELEM(step_rows); i++) {
		const char *name = step_rows[i].name, *m = step_rows[i].in;
		char in[512];
		size_t len = 0, head[8], nhead = 0, msg[8], nmsg = 0;

		for (; *m != '\0'; m++)
			if (len == sizeof in)
				ck_abort_msg("%s: too long", name);
			else if (*m == '^')
				head[nhead++] = len;
			else if (*m == '$')
				msg[nmsg++] = len;
			else
				in[len++] = *m;
		/* at every cut (len: none), whole and a byte per call */
		for (size_t cut = 0; cut <= len; cut++)
			for (int k = 0; k < 2; k++) {
				size_t step = k == 0 ? len : 1;
				struct stepped o = {0};
				struct reqscan s;

				init_mode(&s, step_rows[i].mode);
				feed_steps(&s, in, 0, cut, step, &o);
				feed_steps(&s, in, cut, len, step, &o);
				ck_assert_msg(o.status == step_rows[i].status,
				    "%s (cut %zu, step %zu): status %d", name,
				    cut, step, o.status);
				ck_assert_msg(
				    o.data.len == strlen(step_rows[i].data) &&
					(o.data.len == 0 ||
					    memcmp(o.data.s, step_rows[i].data,
						o.data.len) == 0),
				    "%s (cut %zu, step %zu): data \"%.*s\"",
				    name, cut, step, (int)o.data.len,
				    o.data.s ? o.data.s : "");
				ck_assert_msg(o.nhead == nhead &&
					memcmp(o.head, head,
					    nhead * sizeof *head) == 0,
				    "%s (cut %zu, step %zu): %zu head ends, "
				    "the first at %zu",
				    name, cut, step, o.nhead,
				    o.nhead ? o.head[0] : 0);
				ck_assert_msg(o.nmsg == nmsg &&
					memcmp(o.msg, msg,
					    nmsg * sizeof *msg) == 0,
				    "%s (cut %zu, step %zu): %zu message ends, "
				    "the first at %zu",
				    name, cut, step, o.nmsg,
				    o.nmsg ? o.msg[0] : 0);
				sbuf_free(&o.data);
				if (o.status != 0)
					continue;
				ck_assert_msg(reqscan_is_tunnel(&s) ==
					step_rows[i].tunnel,
				    "%s: tunnel", name);
				if (step_rows[i].mode != M_REQ)
					ck_assert_msg(s.resp_status ==
						step_rows[i].resp_status,
					    "%s: status %d", name,
					    s.resp_status);
			}
	}
}
END_TEST

/*
 * What the lanes are decided by, as it stands at each head's end: the
 * method token (cut at 23 bytes), an Upgrade field, and "upgrade" in a
 * Connection field (RFC 9110 sections 7.6.1 and 7.8: a list, in any
 * case, over any number of fields).  Each row is a request head, or two
 * back to back: the second's fields must not inherit the first's; the
 * fields of a trailer section are not the head's (RFC 9110 6.5.1).
 */
static const struct {
	const char *name;
	const char *in;
	const char *method;
	bool upgrade, conn_upgrade;
	size_t heads; /* how many */
} lane_rows[] = {
    {"plain GET", H "\r\n", "GET", false, false, 1},
    {"extension method", "PROPFIND /d HTTP/1.1\r\nHost: h\r\n\r\n", "PROPFIND",
	false, false, 1},
    {"23 bytes", "ABCDEFGHIJKLMNOPQRSTUVW / HTTP/1.1\r\n\r\n",
	"ABCDEFGHIJKLMNOPQRSTUVW", false, false, 1},
    {"cut at 23", "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n",
	"ABCDEFGHIJKLMNOPQRSTUVW", false, false, 1},
    {"WebSocket",
	H "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n",
	"GET", true, true, 1},
    {"upgrade in a second Connection field",
	H "upgrade: h2c\r\nConnection: keep-alive\r\nconnection: UPGRADE\r\n"
	  "\r\n",
	"GET", true, true, 1},
    {"Connection: upgrade without Upgrade", H "Connection: upgrade\r\n\r\n",
	"GET", false, true, 1},
    {"Upgrade without Connection", H "Upgrade: h2c\r\n\r\n", "GET", true, false,
	1},
    {"not the token upgrade",
	H "Upgrade: h2c\r\nConnection: upgrade-h2c, xupgrade\r\n\r\n", "GET",
	true, false, 1},
    {"X-Upgrade is not Upgrade", H "X-Upgrade: h2c\r\n\r\n", "GET", false,
	false, 1},
    /* the line's first 96 bytes end inside "upgrade-h2c": not the token */
    {"a token cut short",
	H "Connection: " R75 ", upgrade-h2c\r\n"
	  "Upgrade: h2c\r\n\r\n",
	"GET", true, false, 1},
    {"the second request's own",
	H "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	  "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS", false, false, 2},
    {"trailers are not the head's",
	"POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	"0\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
	"POST", false, false, 1},
};

START_TEST(test_lane_fields)
{
	for (size_t i = 0; i < RP_NELEM(lane_rows); i++) {
		const char *in = lane_rows[i].in, *name = lane_rows[i].name;
		size_t len = strlen(in);

		for (size_t step = len; step > 0; step = step == 1 ? 0 : 1) {
			struct reqscan s;
			size_t off = 0, heads = 0;

			reqscan_init(&s, 1024);
			while (off < len) {
				size_t n = len - off < step ? len - off : step;
				ssize_t k = reqscan_feed_step(&s, in + off, n);
				ck_assert_msg(k > 0, "%s: refused", name);
				off += (size_t)k;
				heads += s.head_done;
			}
			ck_assert_msg(heads == lane_rows[i].heads,
			    "%s: %zu heads", name, heads);
			ck_assert_msg(
			    strcmp(s.method, lane_rows[i].method) == 0,
			    "%s: method \"%s\"", name, s.method);
			ck_assert_msg(s.upgrade == lane_rows[i].upgrade,
			    "%s: upgrade", name);
			ck_assert_msg(
			    s.conn_upgrade == lane_rows[i].conn_upgrade,
			    "%s: conn_upgrade", name);
		}
	}
}
END_TEST

/*
 * A response's Connection field decides no lane: its tokens are not
 * read (a 101's Upgrade is the relay's, from msghead), whether the head
 * comes in one piece or a byte at a time.
 */
START_TEST(test_response_connection_not_read)
{
	static const char in[] = "HTTP/1.1 101 Switching Protocols\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n\r\n";
	size_t len = strlen(in);

	for (size_t step = len; step > 0; step = step == 1 ? 0 : 1) {
		struct reqscan s;
		size_t off = 0;

		reqscan_init_response(&s, 1024);
		while (off < len) {
			size_t n = len - off < step ? len - off : step;
			ck_assert_int_eq(reqscan_feed(&s, in + off, n), 0);
			off += n;
		}
		ck_assert(reqscan_is_tunnel(&s));
		ck_assert_int_eq(s.resp_status, 101);
		ck_assert(s.upgrade);
		ck_assert(!s.conn_upgrade);
	}
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
	tcase_add_test(tc, test_body_taken);
	tcase_add_test(tc, test_response_head);
	tcase_add_test(tc, test_fast_path_every_byte);
	tcase_add_test(tc, test_fast_path_random);
	tcase_add_test(tc, test_status_rows);
	tcase_add_test(tc, test_status_head_limit);
	tcase_add_test(tc, test_strip_ext);
	tcase_add_test(tc, test_long_ext);
	tcase_add_test(tc, test_max_body);
	tcase_add_test(tc, test_step_rows);
	tcase_add_test(tc, test_lane_fields);
	tcase_add_test(tc, test_response_connection_not_read);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
