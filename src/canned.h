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

/* The reason phrase for a status retryproxy answers with. */
const char *canned_reason(int status);
/*
 * Append a whole reply: status, Proxy-Status with token (none when
 * NULL; "details" counts attempts when > 0), flags, and body.
 */
void canned_format(struct sbuf *out, int status, const char *token,
    unsigned attempts, int flags, const char *body);

#endif
