/*
 * msghead: one complete HTTP/1.x message head (request or response), as
 * bytes that reqscan has already accepted, read into its start line and
 * fields, and written out again the way a proxy forwards it (RFC 9110
 * section 7.6: hop-by-hop fields, and every field a Connection field
 * names, stay behind).  Used where evhttp does not carry a request (the
 * raw lane, relay.c).  Pure: no I/O.
 */
#ifndef RP_MSGHEAD_H
#define RP_MSGHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Fields a head holds without an allocation of its own. */
#define MSGHEAD_FIELDS 20

struct msghead_field {
	char *name;
	char *value; /* without surrounding white space */
	unsigned char kind; /* which name msghead treats apart (msghead.c) */
};

struct msghead {
	char *mem; /* a copy of the head, cut up in place */
	bool mem_owned; /* malloc'd (else the caller's store) */
	/* a request */
	char *method;
	char *target;
	/* a response */
	int status;
	char *reason;
	int minor; /* HTTP/1.minor */
	struct msghead_field *f; /* fbuf, or (more fields) malloc'd */
	size_t n;
	/*
	 * Every Connection field's value, joined; NULL: none.  (One field's
	 * value is in mem; two or more are joined in a malloc'd copy.)
	 */
	char *conn;
	bool conn_owned;
	/*
	 * conn lists "close"; conn lists a name that is not hop-by-hop
	 * already (only then is each field looked up in it when written).
	 */
	bool conn_close, conn_names;
	/* (most heads: no allocation for their fields) */
	struct msghead_field fbuf[MSGHEAD_FIELDS];
};

/*
 * Read len bytes of a head (start line to the empty line) that reqscan
 * accepted.  Returns 0, or -1 with *cause when it is not one: reqscan
 * checks fields and status lines, not request lines, so a malformed
 * request line (RFC 9112 section 3) is refused here.
 */
int msghead_parse(struct msghead *, const char *buf, size_t len, bool response,
    const char **cause);
/*
 * The same, the copy made in store (store_len bytes, the caller's, to
 * outlive the head) when it fits, else malloc'd: a relay's heads, two a
 * request, most of them a few hundred bytes.
 */
int msghead_parse_in(struct msghead *, const char *buf, size_t len,
    bool response, char *store, size_t store_len, const char **cause);
void msghead_free(struct msghead *);
/* The value of the first field called name (case-insensitive), or NULL. */
const char *msghead_get(const struct msghead *, const char *name);
/*
 * Every field called name, their values joined with ", " (malloc'd), or
 * NULL when there is none.
 */
char *msghead_join(const struct msghead *, const char *name);
/* Does any Connection field list token (case-insensitive)? */
bool msghead_conn_has(const struct msghead *, const char *token);

/* How a forwarded message's body is framed. */
enum msghead_body {
	MSGHEAD_NO_BODY, /* no framing field at all */
	MSGHEAD_LENGTH, /* Content-Length: length */
	MSGHEAD_CHUNKED, /* Transfer-Encoding: chunked */
};

struct msghead_out {
	const char *target; /* a request: the origin-form target (absolute
			       to a parent proxy) */
	const char *host; /* a request: the Host value */
	enum msghead_body body;
	uint64_t length;
	bool upgrade; /* keep Upgrade; say "Connection: Upgrade" */
	bool close; /* say "Connection: close" */
	bool keep_alive; /* say "Connection: keep-alive" (to HTTP/1.0) */
	const char *via; /* add "Via: <via>" (http_via), or NULL */
	const char *drop; /* one more field to leave out (or NULL) */
	const char *proxy_auth; /* a request: Proxy-Authorization for a
				   parent proxy (or NULL) */
	const char *extra_name; /* one more field to add (or NULL) */
	const char *extra_value;
	/* a request: these replace the client's fields (a gateway's) */
	const char *xff; /* X-Forwarded-For, or NULL: as the client sent */
	const char *forwarded; /* Forwarded, or NULL */
	/*
	 * A request: a resume's "Range: bytes=<range>" and "If-Range:
	 * <if_range>", in place of the client's fields (or NULL).
	 */
	const char *range;
	const char *if_range;
};

/*
 * Write the request head to send upstream: "METHOD target HTTP/1.1",
 * Host, the end-to-end fields (not Host, Content-Length, Expect,
 * X-Retry-Attempts, nor o->drop), then the framing, Via and extra field
 * that o asks for.
 */
void msghead_write_request(
    const struct msghead *, const struct msghead_out *o, struct sbuf *out);
/*
 * Write the response head to send to the client: "HTTP/1.1 status
 * reason", the end-to-end fields but Content-Length, then framing
 * (a HEAD response or a 304 says its length without a body),
 * Connection, Via and the extra field.
 */
void msghead_write_response(
    const struct msghead *, const struct msghead_out *o, struct sbuf *out);

#endif
