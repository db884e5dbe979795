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
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
