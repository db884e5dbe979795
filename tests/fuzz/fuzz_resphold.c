/*
 * fuzz_resphold: the holding buffer in front of evhttp's response parser
 * -- the real resphold.c (with scanbuf and reqscan) watching a real
 * evbuffer that stands in for an upstream connection's input -- against
 * a model of response heads written here, on purpose without reqscan's
 * code, from RFC 9112.
 *
 * Input: bytes 0 and 1 pick the head limit (64..4096, mostly small, so
 * that it is reached often); bytes 2 and 3 how the rest arrives, in
 * pieces of 1 to 4096 bytes, each one evbuffer_add as a socket read
 * would be; the rest is what the origin sends.
 *
 * After every piece, the state must be the model's for the bytes so far:
 * refused (nothing in the input, nothing held, ever again), a final head
 * handed back (the input holds the stream from that head on, the interim
 * heads before it gone), or a head still awaited (the input empty, the
 * bytes after the interim heads held).  A refusal may only come at a
 * byte where the model sees the head go wrong, and must have come once
 * it does; the owner hears of it from the event loop, once.  The same
 * bytes in one piece must give the same outcome; a connection whose
 * response was read to its end is clean and serves a second exchange
 * the same way; ASan, UBSan and LeakSanitizer watch all of it.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resphold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *why)
{
	fprintf(stderr, "fuzz_resphold: %s\n", why);
	abort();
}

/* ---- the model ------------------------------------------------------ */

/*
 * Where a refusal may come: at a byte from lo to hi (stream offsets),
 * with status or status2.  A point is a "may" (what RFC 9112 lets a
 * recipient refuse or accept, such as a second Content-Length) unless it
 * is the model's last and must is set: then the refusal must have come
 * by its hi.
 */
struct point {
	size_t lo, hi;
	int status, status2;
};

struct model {
	uint64_t max_head;
	size_t *drop_end; /* each interim head ends where the next starts */
	size_t ndrop;
	bool final; /* the final head: [final_at, final_end) */
	size_t final_at, final_end;
	struct point *pt;
	size_t npt;
	bool must;
};

/* Framing fields seen in the current head. */
struct framing {
	bool cl, te, host;
};

#define NONE SIZE_MAX

static void
may(struct model *m, size_t lo, size_t hi, int status, int status2)
{
	m->pt[m->npt++] = (struct point){lo, hi, status, status2};
}

/*
 * The head must be refused with status at byte i.  An empty field name
 * from byte noname on may have been refused anywhere since (400); not at
 * byte i itself when that is over the limit (the limit comes first).
 * Returns 0: the head ends nowhere.
 */
static size_t
must(struct model *m, size_t i, int status, size_t noname)
{
	if (noname != NONE)
		may(m, noname, status == 431 ? i - 1 : i, 400, 0);
	may(m, i, i, status, 0);
	m->must = true;
	return 0;
}

/* RFC 9110 section 5.6.2: tchar. */
static bool
tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
same_name(const uint8_t *l, size_t len, const char *name)
{
	if (len != strlen(name))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((l[i] | 0x20) != name[i])
			return false;
	return true;
}

/*
 * RFC 9112 section 4: status-line = HTTP-version SP status-code SP
 * [reason-phrase], HTTP-version = "HTTP/" DIGIT "." DIGIT, major 1 here;
 * the SP before an absent reason may be missing too.  The reason's bytes
 * (HTAB, SP, VCHAR, obs-text) were checked one by one.
 */
static bool
status_line(const uint8_t *l, size_t len, int *code)
{
	if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ')
		return false;
	*code = 0;
	for (size_t i = 9; i < 12; i++) {
		if (l[i] < '0' || l[i] > '9')
			return false;
		*code = *code * 10 + (l[i] - '0');
	}
	return (len == 12 || l[12] == ' ') && *code >= 100 && *code <= 599;
}

/*
 * A well-formed field line (name, colon, value) ending at byte lf: the
 * fields that frame a message must make sense.  A Content-Length that is
 * not digits (or a list of them) must be refused (RFC 9112 section 6.3);
 * one decimal Content-Length, one "Transfer-Encoding: chunked" (not
 * both) and one Host must pass; anything else about them (repeats, a
 * list, other codings, both) a recipient may refuse or accept.
 */
static bool
field_line(
    struct model *m, struct framing *f, const uint8_t *l, size_t len, size_t lf)
{
	const uint8_t *colon = memchr(l, ':', len), *v = colon + 1,
		      *e = l + len;
	size_t name = (size_t)(colon - l), digits = 0;
	bool list = true;

	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (same_name(l, name, "content-length")) {
		for (const uint8_t *p = v; p < e; p++) {
			if (*p >= '0' && *p <= '9')
				digits++;
			else if (*p != ',' && *p != ' ' && *p != '\t')
				list = false;
		}
		if (!list || digits == 0) {
			must(m, lf, 400, NONE);
			return false;
		}
		if (digits != (size_t)(e - v) || digits > 18 || len > 64 ||
		    f->cl || f->te)
			may(m, lf, lf, 400, 0);
		f->cl = true;
	} else if (same_name(l, name, "transfer-encoding")) {
		if (e - v != 7 || !same_name(v, 7, "chunked") || len > 64 ||
		    f->cl || f->te)
			may(m, lf, lf, 400, 501);
		f->te = true;
	} else if (same_name(l, name, "host")) {
		if (f->host)
			may(m, lf, lf, 400, 0);
		f->host = true;
	}
	return true;
}

/*
 * The head that starts at byte at: where it ends (its status in *code),
 * or 0 when it must be refused or the stream ends inside it.  Lines end
 * in CRLF or a bare LF (RFC 9112 section 2.2 lets a recipient take LF
 * alone); a CR anywhere else is refused.
 */
static size_t
model_head(struct model *m, const uint8_t *s, size_t n, size_t at, int *code)
{
	size_t line = at, len = 0, noname = NONE;
	bool first = true, cr = false, colon = false;
	struct framing f = {false, false, false};

	/* a response starts with its status line: no empty line first */
	if (at < n && (s[at] == '\r' || s[at] == '\n'))
		return must(m, at, 400, NONE);
	for (size_t i = at; i < n; i++) {
		uint8_t c = s[i];

		if (i - at >= m->max_head)
			return must(m, i, 431, noname);
		if (cr && c != '\n')
			return must(m, i, 400, noname);
		if (c == '\r') {
			cr = true;
			continue;
		}
		if (c == '\n') {
			cr = false;
			if (len == 0 && !first)
				return i + 1;
			if (first) {
				if (!status_line(s + line, len, code))
					return must(m, i, 400, NONE);
			} else if (!colon) /* RFC 9112 section 5: a colon */
				return must(m, i, 400, NONE);
			else if (noname != NONE) /* field-name = token */
				return must(m, i, 400, noname);
			else if (!field_line(m, &f, s + line, len, i))
				return 0;
			first = colon = false;
			len = 0;
			line = i + 1;
			continue;
		}
		/* HTAB, SP, VCHAR and obs-text only (RFC 9110 section 5.5) */
		if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f)
			return must(m, i, 400, noname);
		/* obs-fold (RFC 9112 section 5.2): a proxy may refuse it */
		if (!first && len == 0 && (c == ' ' || c == '\t'))
			return must(m, i, 400, NONE);
		if (!first && !colon) {
			if (c == ':') {
				colon = true;
				if (len == 0)
					noname = i;
			} else if (!tchar(c)) /* RFC 9112 section 5.1 */
				return must(m, i, 400, NONE);
		}
		len++;
	}
	/* (the stream ends in the head: an empty name may be refused yet) */
	if (noname != NONE)
		may(m, noname, n - 1, 400, 0);
	return 0;
}

/* Interim heads (1xx but 101) go; a final one, or the first refusal, ends
 * the exchange. */
static void
model_build(struct model *m, const uint8_t *s, size_t n)
{
	size_t at = 0, end;
	int code;

	while ((end = model_head(m, s, n, at, &code)) != 0) {
		if (code >= 200 || code == 101) {
			m->final = true;
			m->final_at = at;
			m->final_end = end;
			return;
		}
		m->drop_end[m->ndrop++] = end;
		at = end;
	}
}

/* May resphold have been refused by a byte from..to-1, with status? */
static bool
refusable(const struct model *m, size_t from, size_t to, int status)
{
	for (size_t k = 0; k < m->npt; k++)
		if (m->pt[k].lo < to && m->pt[k].hi >= from &&
		    (status == m->pt[k].status || status == m->pt[k].status2))
			return true;
	return false;
}

/* The interim heads dropped once to bytes are in, and where they end. */
static size_t
dropped(const struct model *m, size_t to, size_t *end)
{
	size_t k = 0;

	*end = 0;
	while (k < m->ndrop && m->drop_end[k] <= to)
		*end = m->drop_end[k++];
	return k;
}

/* ---- resphold over an evbuffer --------------------------------------- */

struct run {
	struct event_base *base;
	struct evbuffer *input; /* the connection's input buffer */
	struct resphold h;
	unsigned calls; /* of refused_cb */
	int call_status;
	bool refused; /* seen refused after a piece */
};

static void
refused_cb(const struct reqscan *scan, void *arg)
{
	struct run *r = arg;

	if (scan != &r->h.scan)
		fail("refused_cb: not the hold's scan");
	r->calls++;
	r->call_status = scan->status;
}

static void
start(struct run *r, uint64_t max_head)
{
	memset(r, 0, sizeof *r);
	if ((r->base = event_base_new()) == NULL ||
	    (r->input = evbuffer_new()) == NULL)
		fail("out of memory");
	/* bufferevent_socket_new freezes the input's end between reads */
	evbuffer_freeze(r->input, 0);
	resphold_attach(&r->h, r->base, r->input);
	resphold_expect(&r->h, max_head, refused_cb, r);
}

/* A read from the socket, as bufferevent_readcb does it. */
static void
deliver(struct run *r, const uint8_t *p, size_t len)
{
	evbuffer_unfreeze(r->input, 0);
	if (evbuffer_add(r->input, p, len) != 0)
		fail("evbuffer_add");
	evbuffer_freeze(r->input, 0);
}

static void
finish(struct run *r)
{
	resphold_detach(&r->h);
	evbuffer_free(r->input);
	event_base_free(r->base);
}

/* Does buf hold exactly the len bytes at p? */
static bool
holds(struct evbuffer *buf, const uint8_t *p, size_t len)
{
	uint8_t *copy;
	bool same;

	if (evbuffer_get_length(buf) != len)
		return false;
	if (len == 0)
		return true;
	if ((copy = malloc(len)) == NULL)
		fail("out of memory");
	same = evbuffer_copyout(buf, copy, len) == (ev_ssize_t)len &&
	    memcmp(copy, p, len) == 0;
	free(copy);
	return same;
}

/*
 * The state once bytes from..to-1 of the stream s arrived in one read
 * (the bytes before in earlier ones); with contents, the input's and the
 * held bytes themselves too, not only how many.
 */
static void
check(const struct model *m, struct run *r, const uint8_t *s, size_t from,
    size_t to, bool contents)
{
	size_t in = evbuffer_get_length(r->input);
	size_t held = evbuffer_get_length(r->h.held);

	if (r->calls != 0)
		fail("the owner heard of a refusal inside a read");
	if (resphold_is_clean(&r->h))
		fail("clean in the middle of an exchange");
	if (r->h.refused) {
		if (!r->refused && !refusable(m, from, to, r->h.scan.status))
			fail("refused where (or how) the model does not");
		r->refused = true;
		if (in != 0 || held != 0 || r->h.waiting)
			fail("bytes kept after a refusal");
		return;
	}
	if (m->must && m->pt[m->npt - 1].hi < to)
		fail("not refused where the model must");
	if (m->final && to >= m->final_end) {
		/* the final head and all after it, in the input */
		if (r->h.waiting || held != 0 || in != to - m->final_at ||
		    r->h.interim != m->ndrop)
			fail("a final head not handed back whole");
		if (contents && !holds(r->input, s + m->final_at, in))
			fail("the input is not the stream after the interim "
			     "heads");
	} else {
		/* awaited: the bytes after the interim heads, held */
		size_t end, k = dropped(m, to, &end);

		if (!r->h.waiting || in != 0 || held != to - end ||
		    r->h.interim != k)
			fail("a head not held while awaited");
		if (contents && !holds(r->h.held, s + end, held))
			fail("the held bytes are not the stream after the "
			     "interim heads");
	}
}

/* The verdict, delivered from the loop (once, and only for a refusal). */
static void
verdict(struct run *r)
{
	event_base_loop(r->base, EVLOOP_NONBLOCK);
	if (r->h.refused) {
		if (r->calls != 1 || r->call_status != r->h.scan.status)
			fail("a refusal not told to the owner once");
		if (r->call_status != 400 && r->call_status != 431 &&
		    r->call_status != 501)
			fail("a refusal status other than 400, 431, 501");
	} else if (r->calls != 0)
		fail("the owner told of a refusal that was not");
}

/* What the caller can see at the end of an exchange. */
struct outcome {
	bool refused, waiting;
	int status;
	unsigned interim;
	size_t in, held;
};

static struct outcome
outcome(const struct run *r)
{
	struct outcome o = {r->h.refused, r->h.waiting,
	    r->h.refused ? r->h.scan.status : 0, r->h.interim,
	    evbuffer_get_length(r->input), evbuffer_get_length(r->h.held)};

	return o;
}

static bool
same_outcome(struct outcome a, struct outcome b)
{
	return a.refused == b.refused && a.waiting == b.waiting &&
	    a.status == b.status && a.interim == b.interim && a.in == b.in &&
	    a.held == b.held;
}

/*
 * What the model itself says, checked from the bytes: each dropped head
 * is a whole 1xx head (not 101) within the limit, and the final head
 * starts right after the last.
 */
static void
check_model(const struct model *m, const uint8_t *s)
{
	size_t at = 0;

	for (size_t k = 0; k < m->ndrop; k++) {
		const uint8_t *h = s + at;
		size_t len = m->drop_end[k] - at;

		if (len < 14 || len > m->max_head ||
		    memcmp(h, "HTTP/1.", 7) != 0 || h[9] != '1' ||
		    memcmp(h + 9, "101", 3) == 0 ||
		    (memcmp(h + len - 3, "\n\r\n", 3) != 0 &&
			memcmp(h + len - 2, "\n\n", 2) != 0))
			fail("model: a dropped head that is not interim");
		at = m->drop_end[k];
	}
	if (m->final && m->final_at != at)
		fail("model: bytes between the interim heads and the final");
}

static size_t
piece(uint32_t *rng, unsigned shift)
{
	*rng = *rng * 1103515245u + 12345u;
	return 1 + (*rng >> 16) % ((size_t)1 << shift);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *s = data + 4;
	size_t n;
	struct model m;
	struct run a, b;
	struct outcome oa, ob;
	uint32_t rng;

	if (size < 4)
		return 0;
	n = size - 4;
	memset(&m, 0, sizeof m);
	m.max_head = 64 + ((uint64_t)data[1] << (data[0] % 5)) % 4033;
	m.drop_end = malloc((n + 1) * sizeof *m.drop_end);
	m.pt = malloc((n + 2) * sizeof *m.pt);
	if (m.drop_end == NULL || m.pt == NULL)
		fail("out of memory");
	model_build(&m, s, n);
	check_model(&m, s);

	/* in pieces, checked after each */
	start(&a, m.max_head);
	rng = data[2];
	for (size_t off = 0, len; off < n; off += len) {
		len = piece(&rng, data[3] % 13);
		if (len > n - off)
			len = n - off;
		deliver(&a, s + off, len);
		check(&m, &a, s, off, off + len, false);
	}
	check(&m, &a, s, 0, n, true);
	verdict(&a);
	oa = outcome(&a);

	/* in one piece: the same */
	start(&b, m.max_head);
	if (n > 0)
		deliver(&b, s, n);
	check(&m, &b, s, 0, n, true);
	verdict(&b);
	ob = outcome(&b);
	if (!same_outcome(oa, ob))
		fail("the outcome depends on how the bytes arrive");

	if (ob.refused) {
		/* (the owner ends the exchange) nothing more gets in */
		resphold_cancel(&b.h);
		deliver(&b, (const uint8_t *)"x", 1);
		event_base_loop(b.base, EVLOOP_NONBLOCK);
		if (evbuffer_get_length(b.input) != 0 || b.calls != 1 ||
		    resphold_is_clean(&b.h))
			fail("bytes or a verdict after a refusal was told");
	} else if (!ob.waiting) {
		/* evhttp reads the response to its end: the connection is
		 * clean, and its next exchange goes the same way */
		evbuffer_drain(b.input, evbuffer_get_length(b.input));
		if (!resphold_is_clean(&b.h))
			fail("not clean after the response was read");
		resphold_expect(&b.h, m.max_head, refused_cb, &b);
		b.refused = false;
		deliver(&b, s, n);
		check(&m, &b, s, 0, n, true);
		verdict(&b);
		if (!same_outcome(outcome(&b), ob))
			fail("a second exchange differs from the first");
		/* a byte past the end of a response stays, and tells */
		evbuffer_drain(b.input, evbuffer_get_length(b.input));
		deliver(&b, (const uint8_t *)"x", 1);
		if (evbuffer_get_length(b.input) != 1 ||
		    resphold_is_clean(&b.h))
			fail("a byte past a response swallowed");
	}
	finish(&a);
	finish(&b);
	free(m.drop_end);
	free(m.pt);
	return 0;
}
