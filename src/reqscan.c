/*
 * reqscan: the state machine.  One byte at a time where a byte decides
 * something, whole runs of ordinary bytes at once (head_run); no
 * allocation; the only memory is the first bytes of the current line,
 * enough to read the header names that decide framing.
 */
#include <string.h>

#include "reqscan.h"
#include "http.h"
#include "util.h"

enum {
	S_START = 0, /* between requests */
	S_HEAD = 1, /* request line and header fields */
	S_BODY = 2, /* Content-Length body */
	S_CHUNK_SIZE = 3,
	S_CHUNK_EXT = 4,
	S_CHUNK_SIZE_LF = 5,
	S_CHUNK_DATA = 6,
	S_CHUNK_DATA_CR = 7,
	S_CHUNK_DATA_LF = 8,
	S_TRAILER = 9,
	S_PASS = 10, /* after a CONNECT: not HTTP any more */
	S_ERROR = 11,
};

/* Longer chunk extensions are refused rather than skipped forever. */
#define CHUNK_EXT_MAX 4096

static int
refuse(struct reqscan *s, int status, const char *why)
{
	s->state = S_ERROR;
	s->status = status;
	s->why = why;
	return -1;
}

void
reqscan_init(struct reqscan *s, uint64_t max_head)
{
	memset(s, 0, sizeof *s);
	s->max_head = max_head;
}

void
reqscan_init_response(struct reqscan *s, uint64_t max_head)
{
	reqscan_init(s, max_head);
	s->head_only = true;
}

void
reqscan_init_response_msg(
    struct reqscan *s, uint64_t max_head, bool head_request)
{
	reqscan_init_response(s, max_head);
	s->whole_msg = true;
	s->head_request = head_request;
}

void
reqscan_set_max_body(struct reqscan *s, uint64_t max_body)
{
	s->max_body = max_body;
	s->limit_body = true;
}

bool
reqscan_in_head(const struct reqscan *s)
{
	return s->state == S_HEAD;
}

uint64_t
reqscan_body_left(const struct reqscan *s)
{
	return s->state == S_BODY ? s->remaining : 0;
}

void
reqscan_body_taken(struct reqscan *s, uint64_t n)
{
	if (s->state != S_BODY || n == 0)
		return;
	if (n > s->remaining)
		n = s->remaining;
	s->head_done = s->msg_done = false;
	s->remaining -= n;
	if (s->remaining == 0) {
		s->state = S_START;
		s->msg_done = true;
	}
}

bool
reqscan_is_tunnel(const struct reqscan *s)
{
	return s->state == S_PASS;
}

bool
reqscan_in_data(const struct reqscan *s)
{
	return s->state == S_BODY || s->state == S_CHUNK_DATA ||
	    (s->state == S_PASS && s->whole_msg);
}

/*
 * RFC 9110 tchar, as the bytewise path checks it.  The fast path's table
 * (byte_class) says the same again; check_reqscan and fuzz_reqscan hold
 * the two to agree on every byte.
 */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Is a field name this long one that header_line reads (Host, Upgrade,
 * Connection, Content-Length, Transfer-Encoding)?  The others are only
 * counted: their bytes are not kept in s->line (head_run).
 */
static bool
framing_name_len(size_t n)
{
	return n == 4 || n == 7 || n == 10 || n == 14 || n == 17;
}

/* A whole header line is in (its first bytes in) s->line. */
static int
header_line(struct reqscan *s)
{
	size_t n = s->llen < sizeof s->line ? s->llen : sizeof s->line;
	char *colon, *v, *e;
	uint64_t cl = 0;

	if (!s->colon)
		return refuse(s, 400, "header line without ':'");
	/* (a long name, past s->line, was checked as it came: no framing) */
	if (!framing_name_len(s->colon_at))
		return 0;
	/* (the colon is the line's first, where its name ended) */
	colon = s->line + s->colon_at;
	*colon = '\0';
	v = colon + 1;
	e = s->line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	/* (one name of each length can be one of the five) */
	switch (colon - s->line) {
	case 14:
		if (!util_name_eq(s->line, "Content-Length", 14))
			break;
		if (s->llen > sizeof s->line)
			return refuse(s, 400, "bad Content-Length");
		if (s->has_cl)
			return refuse(s, 400, "duplicate Content-Length");
		if (v == e)
			return refuse(s, 400, "bad Content-Length");
		for (; v < e; v++) {
			if (*v < '0' || *v > '9' || cl > UINT64_MAX / 10 - 10)
				return refuse(s, 400, "bad Content-Length");
			cl = cl * 10 + (uint64_t)(*v - '0');
		}
		s->has_cl = true;
		s->remaining = cl;
		break;
	case 17:
		if (!util_name_eq(s->line, "Transfer-Encoding", 17))
			break;
		if (s->chunked)
			return refuse(s, 400, "duplicate Transfer-Encoding");
		if (s->llen > sizeof s->line || (size_t)(e - v) != 7 ||
		    util_strncasecmp(v, "chunked", 7) != 0)
			return refuse(s, 501, "unsupported Transfer-Encoding");
		s->chunked = true;
		break;
	case 4:
		if (util_name_eq(s->line, "Host", 4) && ++s->nhost > 1)
			return refuse(s, 400, "duplicate Host");
		break;
	case 7:
		if (util_name_eq(s->line, "Upgrade", 7))
			s->upgrade = true;
		break;
	case 10:
		/* (only a request's "upgrade" decides anything: its lane) */
		if (!s->head_only && util_name_eq(s->line, "Connection", 10)) {
			/* (the value's first bytes: "upgrade" comes early) */
			char list[sizeof s->line + 1], *cut;
			memcpy(list, v, (size_t)(e - v));
			list[e - v] = '\0';
			/* a longer line: its last token here may be cut short */
			if (s->llen > sizeof s->line)
				*((cut = strrchr(list, ',')) != NULL ? cut
								     : list) =
				    '\0';
			if (http_list_has_token(list, "upgrade"))
				s->conn_upgrade = true;
		}
		break;
	default:
		return 0;
	}
	if (s->has_cl && s->chunked)
		return refuse(
		    s, 400, "both Content-Length and Transfer-Encoding");
	return 0;
}

/* The empty line ending the head: decide how the body is framed. */
static int
end_head(struct reqscan *s)
{
	/*
	 * libevent reads no body after HEAD or TRACE: what follows is the
	 * next request to it, and body bytes to us.  Refuse the ambiguity.
	 */
	if (s->nobody && (s->chunked || (s->has_cl && s->remaining > 0)))
		return refuse(s, 400, "a body on a HEAD or TRACE request");
	if (!s->head_only && s->limit_body && s->has_cl &&
	    s->remaining > s->max_body)
		return refuse(s, 413, "request body larger than the limit");
	s->stop = s->head_done = true;
	if (s->whole_msg) {
		int st = s->resp_status;
		if (st == 101)
			s->state = S_PASS;
		else if (st < 200) {
			s->state =
			    S_START; /* an interim head: another follows */
		} else if (s->head_request || st == 204 || st == 304 ||
		    (s->has_cl && s->remaining == 0)) {
			s->state = S_START;
			s->msg_done = true;
		} else if (s->chunked)
			s->state = S_CHUNK_SIZE;
		else if (s->has_cl)
			s->state = S_BODY;
		else
			s->state = S_PASS; /* up to the end of the connection */
		s->ndigits = 0;
		return 0;
	}
	if (s->connect || s->head_only)
		s->state = S_PASS;
	else if (s->chunked)
		s->state = S_CHUNK_SIZE;
	else if (s->has_cl && s->remaining > 0)
		s->state = S_BODY;
	else {
		s->state = S_START;
		s->msg_done = true;
	}
	s->ndigits = 0;
	return 0;
}

/*
 * A response's status line (its first bytes in s->line): the version
 * HTTP/1.x, a three-digit status of 100-599, and then the end of the
 * line or a space before the reason (which may be empty).  libevent
 * reads "2x0" as 2 and any version it can scan: refuse what it would
 * misread.
 */
static int
status_line(struct reqscan *s)
{
	const char *l = s->line;
	int code;

	if (s->llen < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ')
		return refuse(s, 400, "malformed status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return refuse(s, 400, "malformed status code");
	if (s->llen > 12 && l[12] != ' ')
		return refuse(s, 400, "malformed status code");
	code = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (code < 100 || code > 599)
		return refuse(s, 400, "status code out of range");
	s->resp_status = code;
	return 0;
}

static void
start_request(struct reqscan *s)
{
	s->state = S_HEAD;
	s->first = true;
	s->connect = s->nobody = s->has_cl = s->chunked = false;
	s->upgrade = s->conn_upgrade = false;
	s->head_done = s->msg_done = false;
	s->nhost = 0;
	s->body_total = 0;
	s->head_bytes = 0;
	s->remaining = 0;
	s->llen = 0;
	s->colon = false;
	s->cr = false;
}

/*
 * The LF ending a line of a head (its CR checked): the request or status
 * line, a field line, or the empty line ending the head or the trailer.
 */
static int
line_end(struct reqscan *s, bool trailer)
{
	if (s->llen == 0) {
		if (s->first)
			return 0; /* (an empty line before it) */
		if (trailer) {
			s->state = S_START;
			s->msg_done = s->stop = true;
			return 0;
		}
		return end_head(s);
	}
	if (s->first) {
		size_t m = 0;
		s->first = false;
		if (s->head_only && status_line(s) != 0)
			return -1;
		while (!s->head_only && m < s->llen &&
		    m < sizeof s->method - 1 && s->line[m] != ' ')
			m++;
		memcpy(s->method, s->line, m);
		s->method[m] = '\0';
		s->connect =
		    s->llen >= 8 && memcmp(s->line, "CONNECT ", 8) == 0;
		s->nobody = !s->head_only &&
		    ((s->llen >= 5 && memcmp(s->line, "HEAD ", 5) == 0) ||
			(s->llen >= 6 && memcmp(s->line, "TRACE ", 6) == 0));
	} else if (trailer) {
		/*
		 * A trailer field frames nothing (RFC 9110 section 6.5.1): a
		 * Content-Length or Host there is no second one.  Its name
		 * was checked byte by byte.
		 */
		if (!s->colon)
			return refuse(s, 400, "trailer line without ':'");
	} else if (header_line(s) != 0)
		return -1;
	s->llen = 0;
	s->colon = false;
	return 0;
}

/* One byte of a head (request line, header fields or trailer fields). */
static int
head_byte(struct reqscan *s, unsigned char c, bool trailer)
{
	if (++s->head_bytes > s->max_head)
		return refuse(s, 431, "header block too large");
	if (s->cr && c != '\n')
		return refuse(s, 400, "bare CR in request head");
	if (c == '\r') {
		s->cr = true;
		return 0;
	}
	if (c == '\n') {
		s->cr = false;
		return line_end(s, trailer);
	}
	if (c == '\0')
		return refuse(s, 400, "NUL in request head");
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return refuse(s, 400, "control character in request head");
	if (s->llen == 0 && !s->first && (c == ' ' || c == '\t'))
		return refuse(s, 400, "obsolete line folding in request head");
	if (!s->first && !s->colon) {
		/* a field name is a token: one tchar at least (RFC 9110 5.1) */
		if (c == ':' && s->llen == 0)
			return refuse(s, 400, "empty header name");
		if (c == ':') {
			s->colon = true;
			s->colon_at = s->llen;
		} else if (!is_tchar(c))
			return refuse(s, 400, "malformed header name");
	}
	if (s->llen < sizeof s->line)
		s->line[s->llen] = (char)c;
	s->llen++;
	return 0;
}

/*
 * The fast path through a head: the runs of bytes in it that head_byte
 * would only count and keep, and the CRLFs between them.  In a field name
 * those are tchars (and the ':' ending it; a line's first byte too, but
 * not a ':' or white space there); after it, and on the request line,
 * every byte but CR, LF, NUL and the other control characters (tab and
 * obs-text are field content).  A CRLF ends the line as head_byte's LF
 * would, and the run goes on with the next line, to the end of the head.
 * The request line's first byte, a CR not followed by LF in these bytes
 * and everything refused still go through head_byte, one at a time.
 * Returns how many bytes were taken (0: none, or refused).
 */
enum { C_TCHAR = 1, C_TEXT = 2 };
/* clang-format off */
static const unsigned char byte_class[256] = {
#define T(c) [c] = C_TCHAR | C_TEXT
	T('!'), T('#'), T('$'), T('%'), T('&'), T('\''), T('*'), T('+'),
	T('-'), T('.'), T('^'), T('_'), T('`'), T('|'), T('~'),
	T('0'), T('1'), T('2'), T('3'), T('4'), T('5'), T('6'), T('7'),
	T('8'), T('9'),
	T('A'), T('B'), T('C'), T('D'), T('E'), T('F'), T('G'), T('H'),
	T('I'), T('J'), T('K'), T('L'), T('M'), T('N'), T('O'), T('P'),
	T('Q'), T('R'), T('S'), T('T'), T('U'), T('V'), T('W'), T('X'),
	T('Y'), T('Z'),
	T('a'), T('b'), T('c'), T('d'), T('e'), T('f'), T('g'), T('h'),
	T('i'), T('j'), T('k'), T('l'), T('m'), T('n'), T('o'), T('p'),
	T('q'), T('r'), T('s'), T('t'), T('u'), T('v'), T('w'), T('x'),
	T('y'), T('z'),
#undef T
#define X(c) [c] = C_TEXT
	X('\t'), X(' '), X('"'), X('('), X(')'), X(','), X('/'), X(':'),
	X(';'), X('<'), X('='), X('>'), X('?'), X('@'), X('['), X('\\'),
	X(']'), X('{'), X('}'),
	/* obs-text */
#define X16(b) X(b), X(b + 1), X(b + 2), X(b + 3), X(b + 4), X(b + 5), \
	X(b + 6), X(b + 7), X(b + 8), X(b + 9), X(b + 10), X(b + 11),   \
	X(b + 12), X(b + 13), X(b + 14), X(b + 15)
	X16(0x80), X16(0x90), X16(0xa0), X16(0xb0),
	X16(0xc0), X16(0xd0), X16(0xe0), X16(0xf0),
#undef X16
#undef X
};
/* clang-format on */

/*
 * The bytes of x that are not field text: below 0x20 (a control; a tab
 * too, which head_run then steps over) or 0x7f, each as its top bit; 0
 * when all eight are text.  (Bit tricks: a byte below n borrows into its
 * top bit when n is subtracted, unless its top bit was set already, i.e.
 * obs-text; 0x7f is found as a zero byte of x ^ 0x7f...)
 */
#define ONES 0x0101010101010101ULL
#define TOPS 0x8080808080808080ULL
static uint64_t
not_text(uint64_t x)
{
	uint64_t below = (x - ONES * 0x20) & ~x & TOPS;
	uint64_t y = x ^ (ONES * 0x7f);
	uint64_t del = (y - ONES) & ~y & TOPS;

	/*
	 * (a borrow runs up only from a byte that is flagged: the lowest
	 * flagged byte is the first that is not text; those above it may
	 * be flagged wrongly)
	 */
	return below | del;
}

static bool use_fast_path = true;

void
reqscan_fast_path(bool on)
{
	use_fast_path = on;
}

static size_t
head_run(struct reqscan *s, const unsigned char *p, size_t len, bool trailer)
{
	size_t j = 0;

	if (!use_fast_path || s->cr || (s->llen == 0 && s->first))
		return 0;
	for (;;) {
		size_t from = j, n, room;

		if (!s->first && !s->colon) {
			while (j < len && (byte_class[p[j]] & C_TCHAR))
				j++;
			/* (a ':' first is an empty name: head_byte's) */
			if (j < len && p[j] == ':' &&
			    (j > from || s->llen > 0)) {
				s->colon = true;
				s->colon_at = s->llen + (j - from);
				j++;
			}
		}
		if (s->first || s->colon) {
			/*
			 * Eight at a time while all are text, then on to the
			 * first that is not (a tab: on from after it).
			 */
			while (len - j >= 8) {
				uint64_t x, m;
				memcpy(&x, p + j, 8);
				m = not_text(x);
				if (m == 0) {
					j += 8;
					continue;
				}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				j += (size_t)__builtin_ctzll(m) / 8;
				if (p[j] == '\t') {
					j++;
					continue;
				}
#endif
				break;
			}
			while (j < len && (byte_class[p[j]] & C_TEXT))
				j++;
		}
		n = j - from;
		if (n > s->max_head - s->head_bytes) {
			refuse(s, 431, "header block too large");
			return 0;
		}
		s->head_bytes += n;
		room = sizeof s->line -
		    (s->llen < sizeof s->line ? s->llen : sizeof s->line);
		/* (a field line header_line will not read: only counted) */
		if (room > 0 &&
		    (s->first || !s->colon || framing_name_len(s->colon_at)))
			memcpy(
			    s->line + s->llen, p + from, n < room ? n : room);
		s->llen += n;
		/* the line's end, when both its bytes are here and fit */
		if (len - j < 2 || p[j] != '\r' || p[j + 1] != '\n' ||
		    s->max_head - s->head_bytes < 2)
			return j;
		s->head_bytes += 2;
		j += 2;
		if (line_end(s, trailer) != 0)
			return 0;
		if (s->state != S_HEAD && s->state != S_TRAILER)
			return j; /* the head or the trailer ended */
		if (j == len || (s->llen == 0 && s->first))
			return j;
	}
}

/*
 * Body bytes: nothing to check, just count them off (up to avail of
 * them), then go to state next.  Returns how many were taken (>= 1).
 */
static size_t
skip(struct reqscan *s, size_t avail, int next)
{
	size_t take = avail < s->remaining ? avail : (size_t)s->remaining;

	s->remaining -= take;
	if (s->remaining == 0) {
		s->state = next;
		if (next == S_START)
			s->msg_done = true;
	}
	s->stop = true; /* (a run of data: a boundary either way) */
	return take;
}

/*
 * The scan.  step: return after the first boundary (s->stop) with the
 * bytes taken.  Returns the bytes taken, or -1 once refused.
 */
static ssize_t
feed(struct reqscan *s, const char *buf, size_t len, bool step)
{
	s->stop = false;
	for (size_t i = 0; i < len; i++) {
		if (step && s->stop)
			return (ssize_t)i;
		unsigned char c = (unsigned char)buf[i];
		size_t run;
		int h;

		switch (s->state) {
		case S_ERROR:
			return -1;
		case S_PASS:
			return (ssize_t)len; /* all of it, unscanned */
		case S_START:
			if ((c == '\r' || c == '\n') && s->head_only)
				return refuse(s, 400,
				    "empty line before the "
				    "status line");
			if (c == '\r') {
				s->cr = true;
				break;
			}
			if (c == '\n') {
				s->cr = false;
				break; /* empty lines between requests */
			}
			if (s->cr)
				return refuse(
				    s, 400, "bare CR in request head");
			start_request(s);
			if (head_byte(s, c, false) != 0)
				return -1;
			break;
		case S_HEAD:
		case S_TRAILER:
			run = head_run(s, (const unsigned char *)buf + i,
			    len - i, s->state == S_TRAILER);
			if (run > 0) {
				i += run - 1;
				break;
			}
			if (s->state == S_ERROR ||
			    head_byte(s, c, s->state == S_TRAILER) != 0)
				return -1;
			break;
		case S_BODY:
			i += skip(s, len - i, S_START) - 1;
			break;
		case S_CHUNK_SIZE:
			h = hexval(c);
			if (h >= 0) {
				if (++s->ndigits > 15)
					return refuse(
					    s, 400, "chunk too large");
				s->remaining = s->remaining * 16 + (unsigned)h;
			} else if (s->ndigits > 0 && c == ';') {
				s->state = S_CHUNK_EXT;
				s->ext_len = 0;
				s->nexts++;
			} else if (s->ndigits > 0 && c == '\r')
				s->state = S_CHUNK_SIZE_LF;
			else
				return refuse(s, 400, "bad chunk size");
			break;
		case S_CHUNK_EXT:
			if (c == '\r')
				s->state = S_CHUNK_SIZE_LF;
			else if ((c < 0x20 && c != '\t') || c == 0x7f)
				return refuse(s, 400, "bad chunk extension");
			else if (++s->ext_len > CHUNK_EXT_MAX)
				return refuse(
				    s, 400, "chunk extension too long");
			break;
		case S_CHUNK_SIZE_LF:
			if (c != '\n')
				return refuse(s, 400, "bad chunk size line");
			s->ndigits = 0;
			s->body_total += s->remaining;
			if (s->limit_body && s->body_total > s->max_body)
				return refuse(s, 413,
				    "request body larger than the limit");
			if (s->remaining == 0) {
				s->state = S_TRAILER;
				s->head_bytes = 0; /* (its own max_head) */
				s->llen = 0;
				s->colon = false;
				s->first = false;
				s->cr = false;
			} else {
				s->state = S_CHUNK_DATA;
				s->stop = true; /* data starts */
			}
			break;
		case S_CHUNK_DATA:
			i += skip(s, len - i, S_CHUNK_DATA_CR) - 1;
			break;
		case S_CHUNK_DATA_CR:
			if (c != '\r')
				return refuse(
				    s, 400, "chunk not followed by CRLF");
			s->state = S_CHUNK_DATA_LF;
			break;
		case S_CHUNK_DATA_LF:
			if (c != '\n')
				return refuse(
				    s, 400, "chunk not followed by CRLF");
			s->state = S_CHUNK_SIZE;
			break;
		}
	}
	return s->state == S_ERROR ? -1 : (ssize_t)len;
}

int
reqscan_feed(struct reqscan *s, const char *buf, size_t len)
{
	return feed(s, buf, len, false) < 0 ? -1 : 0;
}

ssize_t
reqscan_feed_step(struct reqscan *s, const char *buf, size_t len)
{
	s->head_done = s->msg_done = false;
	return feed(s, buf, len, true);
}

ssize_t
reqscan_strip_ext(struct reqscan *s, const char *buf, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int before = s->state;
		if (reqscan_feed(s, buf + i, 1) != 0)
			return -1;
		/* the ';' and what follows it up to the CR */
		if (s->state == S_CHUNK_EXT &&
		    (before == S_CHUNK_SIZE || before == S_CHUNK_EXT))
			continue;
		out[n++] = buf[i];
	}
	return (ssize_t)n;
}
