/*
 * msghead: reading and writing one message head (see msghead.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "msghead.h"
#include "util.h"

/*
 * The field names written apart or not at all, found once when the head
 * is read (a switch on the length, one compare), so that writing a head
 * compares no names: the hop-by-hop ones (RFC 9110 section 7.6.1, as
 * http_is_hop_by_hop), the framing and those a proxy replaces.
 */
enum {
	MH_OTHER,
	/* hop-by-hop */
	MH_CONNECTION,
	MH_KEEP_ALIVE,
	MH_PROXY_CONNECTION,
	MH_PROXY_AUTHORIZATION,
	MH_TE,
	MH_TRAILER,
	MH_TRANSFER_ENCODING,
	MH_UPGRADE,
	/* the others */
	MH_CLOSE, /* (reserved: dropped when Connection lists "close") */
	MH_HOST,
	MH_CONTENT_LENGTH,
	MH_EXPECT,
	MH_X_RETRY_ATTEMPTS,
	MH_X_FORWARDED_FOR,
	MH_FORWARDED,
	MH_RANGE,
	MH_IF_RANGE,
};
#define MH_BIT(k) (1u << (k))
#define MH_HOP                                                                 \
	(MH_BIT(MH_CONNECTION) | MH_BIT(MH_KEEP_ALIVE) |                       \
	    MH_BIT(MH_PROXY_CONNECTION) | MH_BIT(MH_PROXY_AUTHORIZATION) |     \
	    MH_BIT(MH_TE) | MH_BIT(MH_TRAILER) |                               \
	    MH_BIT(MH_TRANSFER_ENCODING) | MH_BIT(MH_UPGRADE))

/* The kind of the name s[0..len) (len: its whole length). */
static unsigned char
kind_of(const char *s, size_t len)
{
	switch (len) {
	case 2:
		return util_name_eq(s, "TE", len) ? MH_TE : MH_OTHER;
	case 4:
		return util_name_eq(s, "Host", len) ? MH_HOST : MH_OTHER;
	case 5:
		return util_name_eq(s, "Range", len) ? MH_RANGE
		    : util_name_eq(s, "Close", len)  ? MH_CLOSE
						     : MH_OTHER;
	case 6:
		return util_name_eq(s, "Expect", len) ? MH_EXPECT : MH_OTHER;
	case 7:
		return util_name_eq(s, "Upgrade", len) ? MH_UPGRADE
		    : util_name_eq(s, "Trailer", len)  ? MH_TRAILER
						       : MH_OTHER;
	case 8:
		return util_name_eq(s, "If-Range", len) ? MH_IF_RANGE
							: MH_OTHER;
	case 9:
		return util_name_eq(s, "Forwarded", len) ? MH_FORWARDED
							 : MH_OTHER;
	case 10:
		return util_name_eq(s, "Connection", len) ? MH_CONNECTION
		    : util_name_eq(s, "Keep-Alive", len)  ? MH_KEEP_ALIVE
							  : MH_OTHER;
	case 14:
		return util_name_eq(s, "Content-Length", len)
		    ? MH_CONTENT_LENGTH
		    : MH_OTHER;
	case 15:
		return util_name_eq(s, "X-Forwarded-For", len)
		    ? MH_X_FORWARDED_FOR
		    : MH_OTHER;
	case 16:
		return util_name_eq(s, "Proxy-Connection", len)
		    ? MH_PROXY_CONNECTION
		    : util_name_eq(s, "X-Retry-Attempts", len)
		    ? MH_X_RETRY_ATTEMPTS
		    : MH_OTHER;
	case 17:
		return util_name_eq(s, "Transfer-Encoding", len)
		    ? MH_TRANSFER_ENCODING
		    : MH_OTHER;
	case 19:
		return util_name_eq(s, "Proxy-Authorization", len)
		    ? MH_PROXY_AUTHORIZATION
		    : MH_OTHER;
	default:
		return MH_OTHER;
	}
}

/*
 * What the joined Connection value lists: "close", and whether any name
 * in it is not hop-by-hop already (then fields() looks names up in it).
 */
static void
conn_tokens(struct msghead *h)
{
	for (const char *p = h->conn; *p != '\0';) {
		const char *e;
		unsigned char k;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		e = p;
		while (*e != '\0' && *e != ',')
			e++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > p) {
			k = kind_of(p, (size_t)(e - p));
			if (k == MH_CLOSE)
				h->conn_close = true;
			else if (!(MH_HOP & MH_BIT(k)))
				h->conn_names = true;
		}
		while (*p != '\0' && *p != ',')
			p++;
	}
}

static int
fail(struct msghead *h, const char **cause, const char *why)
{
	msghead_free(h);
	*cause = why;
	return -1;
}

/* "HTTP/1.D": the minor version, or -1. */
static int
version(const char *v)
{
	if (strncmp(v, "HTTP/1.", 7) != 0 || v[7] < '0' || v[7] > '9' ||
	    v[8] != '\0')
		return -1;
	return v[7] - '0';
}

static int
start_line(struct msghead *h, char *l, bool response, const char **cause)
{
	char *sp1 = strchr(l, ' '), *sp2;

	if (sp1 == NULL)
		return fail(h, cause, "malformed start line");
	*sp1 = '\0';
	if (response) {
		h->minor = version(l);
		if (h->minor < 0 || strlen(sp1 + 1) < 3)
			return fail(h, cause, "malformed status line");
		h->status = atoi(sp1 + 1);
		h->reason = sp1[4] == ' ' ? sp1 + 5 : sp1 + 4;
		if (h->status < 100 || h->status > 599)
			return fail(h, cause, "malformed status line");
		return 0;
	}
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL || sp1 == l || sp2 == sp1 + 1)
		return fail(h, cause, "malformed request line");
	*sp2 = '\0';
	h->method = l;
	h->target = sp1 + 1;
	h->minor = version(sp2 + 1);
	if (h->minor < 0)
		return fail(h, cause, "malformed request line");
	if (!http_is_token(l))
		return fail(h, cause, "malformed method");
	return 0;
}

/* One more Connection field's value: the first in place, more joined. */
static void
conn_add(struct msghead *h, char *value)
{
	size_t a, b;
	char *j;

	if (h->conn == NULL) {
		h->conn = value;
		return;
	}
	a = strlen(h->conn);
	b = strlen(value);
	j = xmalloc(a + 2 + b + 1);
	memcpy(j, h->conn, a);
	memcpy(j + a, ", ", 2);
	memcpy(j + a + 2, value, b + 1);
	if (h->conn_owned)
		free(h->conn);
	h->conn = j;
	h->conn_owned = true;
}

/*
 * The value s, its line ending at or before e (where the line's LF was,
 * now a NUL, as its CR may be): without white space around it.
 */
static char *
trim(char *s, char *e)
{
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	while (e > s &&
	    (e[-1] == '\0' || e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

int
msghead_parse(struct msghead *h, const char *buf, size_t len, bool response,
    const char **cause)
{
	return msghead_parse_in(h, buf, len, response, NULL, 0, cause);
}

int
msghead_parse_in(struct msghead *h, const char *buf, size_t len, bool response,
    char *store, size_t store_len, const char **cause)
{
	char *p, *end, *eol;
	size_t cap = MSGHEAD_FIELDS;

	/* (fbuf is written as it fills: most of the struct, left alone) */
	memset(h, 0, offsetof(struct msghead, fbuf));
	if (store != NULL && len < store_len)
		h->mem = store;
	else {
		h->mem = xmalloc(len + 1);
		h->mem_owned = true;
	}
	memcpy(h->mem, buf, len);
	h->mem[len] = '\0';
	h->f = h->fbuf;
	p = h->mem;
	end = h->mem + len;
	while (p < end && (*p == '\r' || *p == '\n'))
		p++; /* (empty lines before a request) */
	for (bool first = true;; first = false) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return fail(h, cause, "head without its empty line");
		*eol = '\0';
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		if (*p == '\0' && !first)
			break;
		if (first) {
			if (start_line(h, p, response, cause) != 0)
				return -1;
		} else {
			char *colon = strchr(p, ':');
			struct msghead_field *f;
			if (colon == NULL || colon == p)
				return fail(h, cause, "malformed field");
			*colon = '\0';
			if (h->n == cap) {
				if (h->f == h->fbuf) {
					h->f = xmalloc(2 * cap * sizeof *h->f);
					memcpy(h->f, h->fbuf, sizeof h->fbuf);
				} else
					h->f = xrealloc(
					    h->f, 2 * cap * sizeof *h->f);
				cap *= 2;
			}
			f = &h->f[h->n++];
			f->name = p;
			f->kind = kind_of(p, (size_t)(colon - p));
			f->value = trim(colon + 1, eol);
			if (f->kind == MH_CONNECTION)
				conn_add(h, f->value);
		}
		p = eol + 1;
	}
	if (h->conn != NULL)
		conn_tokens(h);
	return 0;
}

void
msghead_free(struct msghead *h)
{
	if (h->mem_owned)
		free(h->mem);
	if (h->f != h->fbuf)
		free(h->f);
	if (h->conn_owned)
		free(h->conn);
	/* (freed twice, or read after, it is an empty head) */
	memset(h, 0, offsetof(struct msghead, fbuf));
}

const char *
msghead_get(const struct msghead *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (util_ieq(h->f[i].name, name))
			return h->f[i].value;
	return NULL;
}

char *
msghead_join(const struct msghead *h, const char *name)
{
	struct sbuf s = {0};

	for (size_t i = 0; i < h->n; i++)
		if (util_ieq(h->f[i].name, name))
			sbuf_printf(
			    &s, "%s%s", s.len > 0 ? ", " : "", h->f[i].value);
	if (s.s == NULL)
		sbuf_puts(&s, "");
	if (s.len == 0) {
		sbuf_free(&s);
		return NULL;
	}
	return s.s;
}

bool
msghead_conn_has(const struct msghead *h, const char *token)
{
	return h->conn != NULL && http_list_has_token(h->conn, token);
}

/* The end-to-end fields, but for the kinds in skip and o->drop. */
static void
fields(const struct msghead *h, const struct msghead_out *o, unsigned skip,
    struct sbuf *out)
{
	if (o->xff != NULL)
		skip |= MH_BIT(MH_X_FORWARDED_FOR);
	if (o->forwarded != NULL)
		skip |= MH_BIT(MH_FORWARDED);
	if (o->range != NULL)
		skip |= MH_BIT(MH_RANGE) | MH_BIT(MH_IF_RANGE);
	for (size_t i = 0; i < h->n; i++) {
		const char *name = h->f[i].name;
		unsigned k = h->f[i].kind;

		if (MH_HOP & MH_BIT(k)) {
			if (!(o->upgrade && k == MH_UPGRADE))
				continue;
		} else if (k == MH_CLOSE && h->conn_close)
			continue;
		else if (h->conn_names && http_list_has_token(h->conn, name))
			continue; /* (named by Connection) */
		if ((skip & MH_BIT(k)) ||
		    (o->drop != NULL && util_ieq(name, o->drop)))
			continue;
		sbuf_field(out, name, h->f[i].value);
	}
}

static void
tail(const struct msghead_out *o, struct sbuf *out)
{
	if (o->body == MSGHEAD_LENGTH) {
		sbuf_add(out, "Content-Length: ", 16);
		sbuf_putu(out, o->length);
		sbuf_add(out, "\r\n", 2);
	} else if (o->body == MSGHEAD_CHUNKED)
		sbuf_puts(out, "Transfer-Encoding: chunked\r\n");
	if (o->upgrade)
		sbuf_puts(out, "Connection: Upgrade\r\n");
	else if (o->close)
		sbuf_puts(out, "Connection: close\r\n");
	else if (o->keep_alive)
		sbuf_puts(out, "Connection: keep-alive\r\n");
	if (o->via != NULL)
		sbuf_field(out, "Via", o->via);
	if (o->proxy_auth != NULL)
		sbuf_field(out, "Proxy-Authorization", o->proxy_auth);
	if (o->extra_name != NULL)
		sbuf_field(out, o->extra_name, o->extra_value);
	if (o->range != NULL) {
		sbuf_field(out, "Range", o->range);
		sbuf_field(out, "If-Range", o->if_range);
	}
	sbuf_puts(out, "\r\n");
}

void
msghead_write_request(
    const struct msghead *h, const struct msghead_out *o, struct sbuf *out)
{
	sbuf_puts(out, h->method);
	sbuf_add(out, " ", 1);
	sbuf_puts(out, o->target);
	sbuf_add(out, " HTTP/1.1\r\n", 11);
	sbuf_field(out, "Host", o->host);
	fields(h, o,
	    MH_BIT(MH_HOST) | MH_BIT(MH_CONTENT_LENGTH) | MH_BIT(MH_EXPECT) |
		MH_BIT(MH_X_RETRY_ATTEMPTS),
	    out);
	if (o->xff != NULL)
		sbuf_field(out, "X-Forwarded-For", o->xff);
	if (o->forwarded != NULL)
		sbuf_field(out, "Forwarded", o->forwarded);
	tail(o, out);
}

void
msghead_write_response(
    const struct msghead *h, const struct msghead_out *o, struct sbuf *out)
{
	char st[4];

	/* (msghead_parse took a status of three digits, 100-599) */
	st[0] = (char)('0' + h->status / 100 % 10);
	st[1] = (char)('0' + h->status / 10 % 10);
	st[2] = (char)('0' + h->status % 10);
	st[3] = ' ';
	sbuf_add(out, "HTTP/1.1 ", 9);
	sbuf_add(out, st, 4);
	sbuf_puts(out, h->reason);
	sbuf_add(out, "\r\n", 2);
	fields(h, o, MH_BIT(MH_CONTENT_LENGTH), out);
	tail(o, out);
}
