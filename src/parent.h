/*
 * parent: the parent proxies of a route (`parent`, retryproxy.ini(5))
 * -- which one an attempt goes through, the parents that failed a moment
 * ago, and whether a response is the parent's own error rather than the
 * origin's answer relayed.
 *
 * An attempt goes through the first parent of the list that this request
 * has not seen fail and that is not marked: a parent that refused or
 * reset a connection, or answered 502/503/504 (or 500) itself, is marked
 * for [proxy] avoid_failed_address, and new attempts try it last.  A mark
 * only orders the parents: when every one is marked, the attempt goes
 * through the one whose mark ends first.
 *
 * Pure: the caller passes the clock and keeps the table (under its lock).
 */
#ifndef RP_PARENT_H
#define RP_PARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARENT_MAX 16 /* parents one route may list */
#define PARENT_MARKS 64 /* parents marked at once (process) */

/* One parent proxy: http://host:port. */
struct parent {
	char *host;
	unsigned port;
	char *text; /* "host:port" (IPv6 in brackets), for logs and metrics */
};

/*
 * Parse one `parent` list item, "http://host:port" (a port is needed, no
 * path, no user).  0, or -1 with a static *why.
 */
int parent_parse(const char *item, char *host, size_t hostlen, unsigned *port,
    const char **why);

/* The parents marked after a failure: "host:port" -> until when. */
struct parent_marks {
	struct {
		char key[270]; /* "" = a free slot */
		uint64_t until_ms;
	} e[PARENT_MARKS];
	uint64_t latest_ms; /* the latest until_ms ever set */
};

/* Mark parent text until now_ms + for_ms (a later mark extends it). */
void parent_mark(
    struct parent_marks *, const char *text, uint64_t now_ms, uint64_t for_ms);
/* A request went through parent text: its mark ends. */
void parent_forget(struct parent_marks *, const char *text);
/* When text's mark ends, or 0 when it is not marked at now_ms. */
uint64_t parent_until(
    const struct parent_marks *, const char *text, uint64_t now_ms);

/*
 * The parent (index into v, n > 0) for a request's next attempt: the
 * first one neither in failed (bit i: the request saw parent i fail)
 * nor marked; else the first not marked; else the one whose mark ends
 * first.  marks may be NULL (none).  *passed_over: a parent before it
 * in the list was skipped.
 */
size_t parent_pick(const struct parent *v, size_t n, uint32_t failed,
    const struct parent_marks *, uint64_t now_ms, bool *passed_over);

/*
 * Is a response received through a parent the parent's own error (it
 * could not reach the origin, or failed itself) rather than the origin's
 * answer?  A 500, 502, 503 or 504 that carries Proxy-Status with an
 * error parameter (RFC 9209), or X-Squid-Error (Squid's error pages), or
 * no Via at all (a parent names itself in Via on what it relays, as Squid
 * and tinyproxy do; tinyproxy's own error pages carry none).  get(name,
 * arg): the response's first value of a field, or NULL.
 */
bool parent_response_is_own(
    int status, const char *(*get)(const char *name, void *arg), void *arg);

#endif
