/*
 * canned: the replies retryproxy writes itself, byte by byte, where
 * evhttp does not (a refused request head, CONNECT, the raw lane):
 * text/plain, a Content-Length, and Proxy-Status (RFC 9209) naming the
 * error.  Pure: formatting only.
 */
#ifndef RP_CANNED_H
#define RP_CANNED_H

#include "util.h"

#define CANNED_CLOSE 0x1 /* "Connection: close" */
#define CANNED_VIA 0x2 /* "Via: 1.1 retryproxy" */
#define CANNED_ATTEMPTS 0x4 /* "X-Retry-Attempts: N" */
#define CANNED_AUTH 0x8 /* a 407's "Proxy-Authenticate: Basic realm=..." */
/* The challenge of a 407 (RFC 9110 section 11.7.1; RFC 7617). */
#define CANNED_CHALLENGE "Basic realm=\"retryproxy\", charset=\"UTF-8\""

/* The reason phrase for a status retryproxy answers with. */
const char *canned_reason(int status);
/*
 * Append a whole reply: status, Proxy-Status with token (none when
 * NULL; "details" counts attempts when > 0), flags, and body.
 */
void canned_format(struct sbuf *out, int status, const char *token,
    unsigned attempts, int flags, const char *body);
/* Proxy-Status of a reply for a held origin (hold = fail, hold.h). */
#define CANNED_HELD_STATUS "retryproxy; details=\"origin held\""
/* Proxy-Status of a reply for an ejected origin (eject_after, eject.h). */
#define CANNED_EJECTED_STATUS                                                  \
	"retryproxy; error=destination_unavailable; details=\"ejected\""
/*
 * Append a reply that says "not now": status (for a held origin, its own
 * 429 or 503; for an ejected one, 503) with Retry-After: retry_after_s
 * (RFC 9110 section 10.2.3), Proxy-Status proxy_status, flags, and body.
 */
void canned_format_later(struct sbuf *out, int status, unsigned retry_after_s,
    const char *proxy_status, int flags, const char *body);

#endif
