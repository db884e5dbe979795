/*
 * zbody: a message body of known length moved from one plain socket to
 * another in the kernel (one counted zsplice direction, zsplice.h),
 * driven by events of its own, each wait timed.
 *
 * Why: the raw lane (relay.c) read a response body into an evbuffer and
 * wrote it out again: two copies of every byte (bench get1m: 1 MiB GETs
 * at 0.83x nginx's MiB/s); a streamed upload the same way up.  A body
 * whose length the head says (Content-Length) ends at a known byte, so
 * its bytes can be spliced without ever being read by us, and the
 * connection kept for the next message: the count stops the splice
 * exactly at the body's end.
 *
 * Its owner takes the bufferevents' buffers first (zbody_take: the head,
 * and body bytes read with it), keeps both bufferevents from reading or
 * writing those sockets meanwhile, and is told the end once: every byte
 * written (ZBODY_DONE), or which side failed.  A side that fails while
 * zbody waits to read holds no byte of the body (zsplice reads only when
 * it holds none), so what zbody_stop() says it read the other side got.
 */
#ifndef RP_ZBODY_H
#define RP_ZBODY_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

#include "zsplice.h"

struct evbuffer;
struct event_base;

/* A body shorter than this (still to come) is not worth the events. */
#define ZBODY_WORTH (64 * 1024)
/*
 * While it waits to read, `from` is readable only once this much of the
 * body (or all that is left of it, or its end) is there -- SO_RCVLOWAT,
 * put back to 1 when zbody stops -- or ZBODY_LOWAT_MS have passed: then
 * zbody moves what came, and waits for any byte (the mark at 1) with the
 * body's own timeout.  So bytes are never held back longer than that,
 * and a timeout still means that nothing came.  Why: woken for every
 * segment that came, the daemon spliced what was there and slept again
 * (bench get1m: 11.8 splices, 3.2 epoll_waits, 2 context switches a MiB).
 */
#define ZBODY_LOWAT (512 * 1024)
#define ZBODY_LOWAT_MS 10

enum zbody_end {
	ZBODY_DONE, /* all of it written */
	ZBODY_SHORT, /* `from` ended before the count */
	ZBODY_FROM_ERROR, /* reading `from` failed */
	ZBODY_FROM_TIMEOUT, /* nothing came from `from` for from_tv */
	ZBODY_TO_ERROR, /* writing `to` failed (errno) */
	ZBODY_TO_TIMEOUT, /* `to` took nothing for to_tv */
};

struct zbody {
	struct zsplice_dir dir;
	struct event rd, wr;
	int from, to;
	bool on; /* started, not stopped */
	struct timeval from_tv, to_tv;
	uint64_t counted; /* of dir.spliced: told to the metrics */
	int lowat; /* from's SO_RCVLOWAT as set (0, 1: the default) */
	void (*end_cb)(void *, enum zbody_end);
	void *arg;
};

void zbody_init(struct zbody *, struct zsplice_pool *);
/*
 * Queue what buf holds, to be written first (a copy); returns its length.
 * output: buf is a bufferevent's output (frozen at its start).
 */
size_t zbody_take(struct zbody *, struct evbuffer *buf, bool output);
/*
 * Move count bytes from `from` to `to` (after what was taken), from the
 * next turn of the loop; end_cb once, at the end.  A NULL timeout: none.
 */
void zbody_start(struct zbody *, struct event_base *, int from, int to,
    uint64_t count, const struct timeval *from_tv, const struct timeval *to_tv,
    void (*end_cb)(void *, enum zbody_end), void *arg);
/*
 * Stop (events off, the pipe back to the pool): the bytes it read from
 * `from`, all of which `to` was given unless it ended in a write error.
 * Not started or stopped already: 0.
 */
uint64_t zbody_stop(struct zbody *);

#endif
