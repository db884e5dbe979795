/*
 * check_msghead: reading a message head into its start line and fields,
 * and writing it out again as a proxy forwards it (RFC 9110 section
 * 7.6.1: hop-by-hop fields and every field a Connection field names stay
 * behind); and the replies retryproxy writes itself (canned).  Every
 * output is compared byte for byte.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned.h"
#include "http.h"
#include "msghead.h"
#include "util.h"

static void
parse_ok(struct msghead *h, const char *in, bool response)
{
	const char *cause = NULL;

	ck_assert_msg(msghead_parse(h, in, strlen(in), response, &cause) == 0,
	    "refused: %s", cause ? cause : "?");
}

/*
 * A request: white space around a value is not part of it (RFC 9110
 * section 5.5), repeated Connection fields are one list (section 5.3),
 * names are case-insensitive (section 5.1), and empty lines before the
 * request line are skipped (RFC 9112 section 2.2).
 */
START_TEST(test_parse_request)
{
	static const char in[] = "\r\n\r\n"
				 "POST http://h/p?q=1 HTTP/1.0\r\n"
				 "Host: h\r\n"
				 "X-A:   v  w \t\r\n"
				 "X-B:\t\tz\t\r\n"
				 "Connection: keep-alive\r\n"
				 "Empty:\r\n"
				 "connection:  Upgrade, X-A \r\n"
				 "x-a: second\r\n"
				 "\r\n"
				 "body, not read";
	struct msghead h;

	parse_ok(&h, in, false);
	ck_assert_str_eq(h.method, "POST");
	ck_assert_str_eq(h.target, "http://h/p?q=1");
	ck_assert_int_eq(h.minor, 0);
	ck_assert_uint_eq(h.n, 7);
	ck_assert_str_eq(h.f[0].name, "Host");
	ck_assert_str_eq(h.f[0].value, "h");
	ck_assert_str_eq(h.f[1].name, "X-A");
	ck_assert_str_eq(h.f[1].value, "v  w");
	ck_assert_str_eq(h.f[2].value, "z");
	ck_assert_str_eq(h.f[4].name, "Empty");
	ck_assert_str_eq(h.f[4].value, "");
	ck_assert_str_eq(h.f[6].value, "second");
	ck_assert_str_eq(h.conn, "keep-alive, Upgrade, X-A");
	/* the first field of the name, in any case; none: NULL */
	ck_assert_str_eq(msghead_get(&h, "x-a"), "v  w");
	ck_assert_str_eq(msghead_get(&h, "X-B"), "z");
	ck_assert_str_eq(msghead_get(&h, "EMPTY"), "");
	ck_assert_ptr_null(msghead_get(&h, "X"));
	ck_assert_ptr_null(msghead_get(&h, "X-A-B"));
	ck_assert_ptr_null(msghead_get(&h, "Content-Length"));
	/* tokens of either Connection field, in any case; whole tokens */
	ck_assert(msghead_conn_has(&h, "keep-alive"));
	ck_assert(msghead_conn_has(&h, "upgrade"));
	ck_assert(msghead_conn_has(&h, "x-a"));
	ck_assert(!msghead_conn_has(&h, "close"));
	ck_assert(!msghead_conn_has(&h, "keep"));
	ck_assert(!msghead_conn_has(&h, "x"));
	msghead_free(&h);
	ck_assert_ptr_null(h.mem);

	/* bare LF line ends; no Connection field: conn is NULL */
	parse_ok(&h, "GET / HTTP/1.1\nHost: h\n\n", false);
	ck_assert_str_eq(h.method, "GET");
	ck_assert_str_eq(h.target, "/");
	ck_assert_int_eq(h.minor, 1);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_ptr_null(h.conn);
	ck_assert(!msghead_conn_has(&h, "close"));
	msghead_free(&h);

	/* no fields; more than the first allocation holds */
	parse_ok(&h, "OPTIONS * HTTP/1.1\r\n\r\n", false);
	ck_assert_str_eq(h.method, "OPTIONS");
	ck_assert_str_eq(h.target, "*");
	ck_assert_uint_eq(h.n, 0);
	msghead_free(&h);
	{
		struct sbuf b = {0};
		sbuf_puts(&b, "GET / HTTP/1.1\r\n");
		for (int i = 0; i < 40; i++)
			sbuf_printf(&b, "X-%d: %d\r\n", i, i);
		sbuf_puts(&b, "\r\n");
		parse_ok(&h, b.s, false);
		ck_assert_uint_eq(h.n, 40);
		ck_assert_str_eq(msghead_get(&h, "x-39"), "39");
		msghead_free(&h);
		sbuf_free(&b);
	}
}
END_TEST

/* RFC 9112 section 4: the reason phrase may be empty, or absent. */
START_TEST(test_parse_response)
{
	static const struct {
		const char *in;
		int status, minor;
		const char *reason;
	} rows[] = {
	    {"HTTP/1.1 200 OK\r\n\r\n", 200, 1, "OK"},
	    {"HTTP/1.0 404 Not Found\r\n\r\n", 404, 0, "Not Found"},
	    {"HTTP/1.1 204 \r\n\r\n", 204, 1, ""},
	    {"HTTP/1.1 304\r\n\r\n", 304, 1, ""},
	    {"HTTP/1.1 100 Continue\n\n", 100, 1, "Continue"},
	    {"HTTP/1.1 599 a  b \r\n\r\n", 599, 1, "a  b "},
	};
	struct msghead h;

	for (size_t i = 0; i < RP_NELEM(rows); i++) {
		parse_ok(&h, rows[i].in, true);
		ck_assert_int_eq(h.status, rows[i].status);
		ck_assert_int_eq(h.minor, rows[i].minor);
		ck_assert_str_eq(h.reason, rows[i].reason);
		ck_assert_uint_eq(h.n, 0);
		msghead_free(&h);
	}
	parse_ok(&h,
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade:websocket\r\n"
	    "Connection: Upgrade\r\nConnection: keep-alive\r\n\r\n",
	    true);
	ck_assert_int_eq(h.status, 101);
	ck_assert_str_eq(h.reason, "Switching Protocols");
	ck_assert_str_eq(msghead_get(&h, "upgrade"), "websocket");
	ck_assert_str_eq(h.conn, "Upgrade, keep-alive");
	ck_assert(msghead_conn_has(&h, "UPGRADE"));
	msghead_free(&h);
}
END_TEST

/* What is not a head is refused, and leaves nothing to free. */
START_TEST(test_parse_rejects)
{
	static const struct {
		const char *in;
		bool response;
		const char *cause;
	} rows[] = {
	    {"", false, "head without its empty line"},
	    {"\r\n\r\n", false, "head without its empty line"},
	    {"GET / HTTP/1.1\r\nHost: h\r\n", false,
		"head without its empty line"},
	    {"GET\r\n\r\n", false, "malformed start line"},
	    {"GET /\r\n\r\n", false, "malformed request line"},
	    {" / HTTP/1.1\r\n\r\n", false, "malformed request line"},
	    {"GET  HTTP/1.1\r\n\r\n", false, "malformed request line"},
	    {"GET / HTTP/1.1 x\r\n\r\n", false, "malformed request line"},
	    {"GET / HTTP/2.0\r\n\r\n", false, "malformed request line"},
	    {"GET / HTTP/1.10\r\n\r\n", false, "malformed request line"},
	    {"GET / http/1.1\r\n\r\n", false, "malformed request line"},
	    {"G(T / HTTP/1.1\r\n\r\n", false, "malformed method"},
	    {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", false, "malformed field"},
	    {"GET / HTTP/1.1\r\n: v\r\n\r\n", false, "malformed field"},
	    {"HTTP/1.1\r\n\r\n", true, "malformed start line"},
	    {"HTTP/1.1 20\r\n\r\n", true, "malformed status line"},
	    {"HTTP/1.1 099 X\r\n\r\n", true, "malformed status line"},
	    {"HTTP/1.1 600 X\r\n\r\n", true, "malformed status line"},
	    {"HTTP/2.0 200 OK\r\n\r\n", true, "malformed status line"},
	    {"HTTP/1.x 200 OK\r\n\r\n", true, "malformed status line"},
	    {"GET / HTTP/1.1\r\n\r\n", true, "malformed status line"},
	    {"HTTP/1.1 200 OK\r\nX\r\n\r\n", true, "malformed field"},
	};
	struct msghead h;

	for (size_t i = 0; i < RP_NELEM(rows); i++) {
		const char *cause = NULL;
		int rc = msghead_parse(&h, rows[i].in, strlen(rows[i].in),
		    rows[i].response, &cause);

		ck_assert_msg(rc == -1, "row %zu accepted", i);
		ck_assert_msg(
		    cause != NULL && strcmp(cause, rows[i].cause) == 0,
		    "row %zu: %s", i, cause ? cause : "(none)");
		ck_assert_ptr_null(h.mem);
		ck_assert_ptr_null(h.f);
		ck_assert_ptr_null(h.conn);
		msghead_free(&h); /* (again: harmless) */
	}
}
END_TEST

/*
 * A request head to forward, with every kind of field: hop-by-hop ones
 * (RFC 9110 section 7.6.1), one named by Connection (in another case),
 * Upgrade (named by Connection too), those a request never carries on
 * (Host: replaced; Content-Length: re-framed; Expect: answered here;
 * X-Retry-Attempts: the client's per-call override, README), one for
 * o->drop, and end-to-end ones in their order, repeats kept apart.
 */
static const char req_in[] = "PUT http://h/p HTTP/1.0\r\n"
			     "Host: h\r\n"
			     "Connection: keep-alive, x-hop\r\n"
			     "Accept:  */*  \r\n"
			     "Keep-Alive: timeout=5\r\n"
			     "X-Hop: 1\r\n"
			     "Content-Length: 5\r\n"
			     "Upgrade: websocket\r\n"
			     "Expect: 100-continue\r\n"
			     "Proxy-Connection: keep-alive\r\n"
			     "X-Retry-Attempts: 7\r\n"
			     "Proxy-Authorization: Basic eA==\r\n"
			     "TE: trailers\r\n"
			     "Trailer: X-T\r\n"
			     "X-Drop: d\r\n"
			     "Via: 1.0 other\r\n"
			     "CONNECTION: Upgrade\r\n"
			     "accept: text/html\r\n"
			     "\r\n";

/* The same for a response (Content-Length alone is re-framed there). */
static const char resp_in[] = "HTTP/1.0 200 OK\r\n"
			      "Content-Length: 5\r\n"
			      "Connection: keep-alive, x-hop\r\n"
			      "Content-Type: text/plain\r\n"
			      "X-Hop: 1\r\n"
			      "Transfer-Encoding: chunked\r\n"
			      "Upgrade: h2c\r\n"
			      "Keep-Alive: timeout=5\r\n"
			      "Set-Cookie: a=1\r\n"
			      "X-Drop: d\r\n"
			      "Expect: kept\r\n"
			      "Host: kept\r\n"
			      "X-Retry-Attempts: 2\r\n"
			      "Set-Cookie: b=2\r\n"
			      "\r\n";

static char *
write_head(const char *in, bool response, const struct msghead_out *o)
{
	struct msghead h;
	struct sbuf out = {0};

	parse_ok(&h, in, response);
	if (response)
		msghead_write_response(&h, o, &out);
	else
		msghead_write_request(&h, o, &out);
	msghead_free(&h);
	return out.s;
}

/*
 * Which fields a written head keeps, name by name, against the rule it
 * implements (http_is_hop_by_hop: the hop-by-hop names and any that a
 * Connection field lists), for every name msghead tells apart, their
 * near misses and case, under Connection values that list nothing, only
 * hop-by-hop names, "close", other names, with odd spacing.
 */
START_TEST(test_write_keeps_by_name)
{
	static const char *const names[] = {"TE", "te", "Te2", "Host", "Range",
	    "Close", "close", "Closed", "Expect", "Trailer", "Upgrade",
	    "If-Range", "Forwarded", "Connection", "Keep-Alive", "keep-alive",
	    "Content-Length", "X-Forwarded-For", "Proxy-Connection",
	    "X-Retry-Attempts", "Transfer-Encoding", "Proxy-Authorization",
	    "X-A", "x-a", "X-Hop", "Accept", "Hosts", "Rangex", "Upgrade1",
	    NULL};
	static const char *const conns[] = {NULL, "close", "keep-alive", "x-a",
	    "close, x-hop", "Upgrade", " te ,  X-A ", "Close,Keep-Alive",
	    "keep-alive, close", "Accept", "closed", NULL};

	for (size_t c = 0; c < sizeof conns / sizeof conns[0]; c++) {
		const char *conn = conns[c];
		if (c > 0 && conn == NULL)
			break;
		for (size_t n = 0; names[n] != NULL; n++) {
			char in[256], line[64];
			struct msghead_out o = {0};
			bool want, got;
			char *out;

			snprintf(in, sizeof in,
			    "HTTP/1.1 200 OK\r\n%s%s%s%s: v\r\n\r\n",
			    conn ? "Connection: " : "", conn ? conn : "",
			    conn ? "\r\n" : "", names[n]);
			out = write_head(in, true, &o);
			snprintf(line, sizeof line, "\r\n%s: v\r\n", names[n]);
			got = strstr(out, line) != NULL;
			want = !http_is_hop_by_hop(names[n], conn) &&
			    util_strcasecmp(names[n], "Content-Length") != 0;
			ck_assert_msg(got == want,
			    "%s with Connection: %s: kept %d, want %d\n%s",
			    names[n], conn ? conn : "(none)", got, want, out);
			free(out);
			/* a request skips Host, Expect, X-Retry-Attempts too */
			snprintf(in, sizeof in,
			    "GET http://h/ HTTP/1.1\r\nHost: h\r\n%s%s%s%s: "
			    "v\r\n\r\n",
			    conn ? "Connection: " : "", conn ? conn : "",
			    conn ? "\r\n" : "", names[n]);
			o.target = "/";
			o.host = "h";
			out = write_head(in, false, &o);
			got = strstr(out, line) != NULL;
			want = want && util_strcasecmp(names[n], "Host") != 0 &&
			    util_strcasecmp(names[n], "Expect") != 0 &&
			    util_strcasecmp(names[n], "X-Retry-Attempts") != 0;
			ck_assert_msg(got == want,
			    "request: %s with Connection: %s: kept %d, want "
			    "%d\n%s",
			    names[n], conn ? conn : "(none)", got, want, out);
			free(out);
		}
	}
}
END_TEST

/* A few whole heads, spelt out. */
START_TEST(test_write_exact)
{
	struct msghead_out o = {.target = "/p", .host = "h:8080"};
	char *got;

	got = write_head(req_in, false, &o);
	ck_assert_str_eq(got,
	    "PUT /p HTTP/1.1\r\n"
	    "Host: h:8080\r\n"
	    "Accept: */*\r\n"
	    "X-Drop: d\r\n"
	    "Via: 1.0 other\r\n"
	    "accept: text/html\r\n"
	    "\r\n");
	free(got);

	o.body = MSGHEAD_LENGTH;
	o.length = 18446744073709551615u;
	o.upgrade = o.close = true;
	o.via = "1.1 retryproxy";
	o.drop = "x-drop";
	o.extra_name = "X-Retry-Attempts";
	o.extra_value = "3";
	got = write_head(req_in, false, &o);
	ck_assert_str_eq(got,
	    "PUT /p HTTP/1.1\r\n"
	    "Host: h:8080\r\n"
	    "Accept: */*\r\n"
	    "Upgrade: websocket\r\n"
	    "Via: 1.0 other\r\n"
	    "accept: text/html\r\n"
	    "Content-Length: 18446744073709551615\r\n"
	    "Connection: Upgrade\r\n"
	    "Via: 1.1 retryproxy\r\n"
	    "X-Retry-Attempts: 3\r\n"
	    "\r\n");
	free(got);

	got = write_head(resp_in, true,
	    &(struct msghead_out){.body = MSGHEAD_CHUNKED, .close = true});
	ck_assert_str_eq(got,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\n"
	    "Set-Cookie: a=1\r\n"
	    "X-Drop: d\r\n"
	    "Expect: kept\r\n"
	    "Host: kept\r\n"
	    "X-Retry-Attempts: 2\r\n"
	    "Set-Cookie: b=2\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "Connection: close\r\n"
	    "\r\n");
	free(got);

	/* an empty reason keeps its SP (RFC 9112 section 4) */
	got = write_head("HTTP/1.1 304\r\nETag: \"x\"\r\n\r\n", true,
	    &(struct msghead_out){.body = MSGHEAD_LENGTH, .length = 0});
	ck_assert_str_eq(got,
	    "HTTP/1.1 304 \r\n"
	    "ETag: \"x\"\r\n"
	    "Content-Length: 0\r\n"
	    "\r\n");
	free(got);
}
END_TEST

/*
 * Every msghead_out combination (framing, upgrade, close, via, drop,
 * extra), for a request and a response.  The expected head is put
 * together from its parts: the start line, the kept fields in their
 * order (Upgrade only with upgrade, X-Drop only without drop), then the
 * framing, one Connection field (Upgrade wins over close), Via and the
 * extra field, each on its own.
 */
struct part {
	const char *line;
	int when; /* 0: always; 1: with upgrade; 2: without drop */
};

static const struct part req_parts[] = {
    {"Accept: */*\r\n", 0},
    {"Upgrade: websocket\r\n", 1},
    {"X-Drop: d\r\n", 2},
    {"Via: 1.0 other\r\n", 0},
    {"accept: text/html\r\n", 0},
};

static const struct part resp_parts[] = {
    {"Content-Type: text/plain\r\n", 0},
    {"Upgrade: h2c\r\n", 1},
    {"Set-Cookie: a=1\r\n", 0},
    {"X-Drop: d\r\n", 2},
    {"Expect: kept\r\n", 0},
    {"Host: kept\r\n", 0},
    {"X-Retry-Attempts: 2\r\n", 0},
    {"Set-Cookie: b=2\r\n", 0},
};

START_TEST(test_write_combinations)
{
	static const enum msghead_body bodies[] = {
	    MSGHEAD_NO_BODY, MSGHEAD_LENGTH, MSGHEAD_CHUNKED};

	for (int response = 0; response < 2; response++)
		for (size_t b = 0; b < RP_NELEM(bodies); b++)
			for (int bits = 0; bits < 32; bits++) {
				struct msghead_out o = {
				    .target = "/t?x=1",
				    .host = "[::1]:81",
				    .body = bodies[b],
				    .length = 42,
				    .upgrade = bits & 1,
				    .close = bits & 2,
				    .via = bits & 4 ? "1.0 retryproxy" : NULL,
				    .drop = bits & 8 ? "X-DROP" : NULL,
				    .extra_name = bits & 16 ? "X-E" : NULL,
				    .extra_value = "e v",
				};
				const struct part *p =
				    response ? resp_parts : req_parts;
				size_t np = response ? RP_NELEM(resp_parts)
						     : RP_NELEM(req_parts);
				struct sbuf want = {0};
				char *got;

				sbuf_puts(&want,
				    response ? "HTTP/1.1 200 OK\r\n"
					     : "PUT /t?x=1 HTTP/1.1\r\n"
					       "Host: [::1]:81\r\n");
				for (size_t i = 0; i < np; i++)
					if (p[i].when == 0 ||
					    (p[i].when == 1 && o.upgrade) ||
					    (p[i].when == 2 && o.drop == NULL))
						sbuf_puts(&want, p[i].line);
				if (o.body == MSGHEAD_LENGTH)
					sbuf_puts(
					    &want, "Content-Length: 42\r\n");
				if (o.body == MSGHEAD_CHUNKED)
					sbuf_puts(&want,
					    "Transfer-Encoding: chunked\r\n");
				if (o.upgrade)
					sbuf_puts(
					    &want, "Connection: Upgrade\r\n");
				else if (o.close)
					sbuf_puts(
					    &want, "Connection: close\r\n");
				if (o.via != NULL)
					sbuf_puts(
					    &want, "Via: 1.0 retryproxy\r\n");
				if (o.extra_name != NULL)
					sbuf_puts(&want, "X-E: e v\r\n");
				sbuf_puts(&want, "\r\n");
				got = write_head(
				    response ? resp_in : req_in, response, &o);
				ck_assert_msg(strcmp(got, want.s) == 0,
				    "%d/%zu/%d:\n%s\nwant\n%s", response, b,
				    bits, got, want.s);
				free(got);
				sbuf_free(&want);
			}
}
END_TEST

/* The replies retryproxy writes itself, byte for byte (RFC 9209). */
START_TEST(test_canned)
{
	static const struct {
		int status;
		const char *token;
		unsigned attempts;
		int flags;
		const char *body;
		const char *want;
	} rows[] = {
	    {400, NULL, 0, 0, "bad\n",
		"HTTP/1.1 400 Bad Request\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Length: 4\r\n\r\nbad\n"},
	    {431, "http_request_error", 0, CANNED_CLOSE, "",
		"HTTP/1.1 431 Request Header Fields Too Large\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Proxy-Status: retryproxy; error=http_request_error\r\n"
		"Content-Length: 0\r\nConnection: close\r\n\r\n"},
	    {502, "connection_refused", 1, 0, "x",
		"HTTP/1.1 502 Bad Gateway\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Proxy-Status: retryproxy; error=connection_refused; "
		"details=\"1 attempt\"\r\n"
		"Content-Length: 1\r\n\r\nx"},
	    {504, "connection_timeout", 3,
		CANNED_CLOSE | CANNED_VIA | CANNED_ATTEMPTS, "t\n",
		"HTTP/1.1 504 Gateway Timeout\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Proxy-Status: retryproxy; error=connection_timeout; "
		"details=\"3 attempts\"\r\n"
		"X-Retry-Attempts: 3\r\n"
		"Via: 1.1 retryproxy\r\n"
		"Content-Length: 2\r\nConnection: close\r\n\r\nt\n"},
	    {403, NULL, 2, CANNED_VIA, "",
		"HTTP/1.1 403 Forbidden\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Via: 1.1 retryproxy\r\n"
		"Content-Length: 0\r\n\r\n"},
	    {508, NULL, 0, CANNED_ATTEMPTS, "",
		"HTTP/1.1 508 Loop Detected\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"X-Retry-Attempts: 0\r\n"
		"Content-Length: 0\r\n\r\n"},
	    {418, NULL, 0, 0, "",
		"HTTP/1.1 418 Error\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Length: 0\r\n\r\n"},
	};
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	    {400, "Bad Request"},
	    {403, "Forbidden"},
	    {408, "Request Timeout"},
	    {413, "Content Too Large"},
	    {431, "Request Header Fields Too Large"},
	    {501, "Not Implemented"},
	    {502, "Bad Gateway"},
	    {504, "Gateway Timeout"},
	    {508, "Loop Detected"},
	    {200, "Error"},
	    {0, "Error"},
	};

	for (size_t i = 0; i < RP_NELEM(rows); i++) {
		struct sbuf out = {0};

		canned_format(&out, rows[i].status, rows[i].token,
		    rows[i].attempts, rows[i].flags, rows[i].body);
		ck_assert_str_eq(out.s, rows[i].want);
		sbuf_free(&out);
	}
	for (size_t i = 0; i < RP_NELEM(reasons); i++)
		ck_assert_str_eq(
		    canned_reason(reasons[i].status), reasons[i].reason);
	/* appended: what was in the buffer stays */
	{
		struct sbuf out = {0};
		sbuf_puts(&out, "x");
		canned_format(&out, 400, NULL, 0, 0, "");
		ck_assert_int_eq(strncmp(out.s, "xHTTP/1.1 400 ", 14), 0);
		sbuf_free(&out);
	}
}
END_TEST

/*
 * msghead_parse_in: the copy in the caller's store when it fits (not
 * freed by msghead_free: a store on the stack here, which free() would
 * not survive), else malloc'd; either way read the same.
 */
START_TEST(test_parse_in_store)
{
	const char *in = "GET /x HTTP/1.1\r\nHost: a.example\r\n"
			 "Connection: close\r\n\r\n";
	char store[128], small[16];
	struct msghead h;
	const char *cause = NULL;

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(msghead_parse_in(&h, in, strlen(in), false,
				     store, sizeof store, &cause),
		    0);
		ck_assert_ptr_eq(h.mem, store);
		ck_assert(!h.mem_owned);
		ck_assert_str_eq(h.target, "/x");
		ck_assert_str_eq(msghead_get(&h, "Host"), "a.example");
		ck_assert(h.conn_close);
		msghead_free(&h);
	}
	ck_assert_int_eq(msghead_parse_in(&h, in, strlen(in), false, small,
			     sizeof small, &cause),
	    0);
	ck_assert_ptr_ne(h.mem, small);
	ck_assert(h.mem_owned);
	ck_assert_str_eq(msghead_get(&h, "Host"), "a.example");
	msghead_free(&h);
	/* exactly its length does not fit: the copy ends with a NUL */
	ck_assert_int_eq(msghead_parse_in(&h, in, strlen(in), false, store,
			     strlen(in), &cause),
	    0);
	ck_assert(h.mem_owned);
	msghead_free(&h);
	ck_assert_int_eq(msghead_parse_in(&h, in, strlen(in), false, store,
			     strlen(in) + 1, &cause),
	    0);
	ck_assert(!h.mem_owned);
	msghead_free(&h);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("msghead");
	TCase *tc = tcase_create("msghead");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_parse_request);
	tcase_add_test(tc, test_parse_response);
	tcase_add_test(tc, test_parse_rejects);
	tcase_add_test(tc, test_write_exact);
	tcase_add_test(tc, test_write_keeps_by_name);
	tcase_add_test(tc, test_write_combinations);
	tcase_add_test(tc, test_canned);
	tcase_add_test(tc, test_parse_in_store);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
