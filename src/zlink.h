/*
 * zlink: a tunnel's two plain sockets joined in the kernel (zsplice.h).
 * It owns the four events a spliced pair needs (each socket readable and
 * writable, as its two directions wait), runs the pumps, and says in the
 * log when pipes cannot be had.  It never ends anything itself: its owner
 * (tunnel.c) is told of the bytes each pump read and of the end (both
 * ways passed on, or a socket error), and stops it before closing the
 * sockets.
 */
#ifndef RP_ZLINK_H
#define RP_ZLINK_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "zsplice.h"

struct evbuffer;
struct event_base;

struct zlink {
	struct zsplice_dir up, down; /* up: the client's bytes to the origin */
	int cfd, ufd;
	unsigned on; /* which of the four events are added */
	unsigned worker; /* (for the log) */
	struct event c_rd, c_wr, u_rd, u_wr;
	/*
	 * A pump read bytes from a side (up: the client), spliced or copied,
	 * or moved some on (moved): the owner counts them, and may not end
	 * the link here.
	 */
	void (*read_cb)(
	    void *, bool up, uint64_t spliced, uint64_t copied, bool moved);
	/* Both ways passed on, or a socket error: the owner stops the link. */
	void (*end_cb)(void *);
	void *arg;
};

/* Two directions between cfd and ufd, lending from pool; no events yet. */
void zlink_init(struct zlink *, struct zsplice_pool *, int cfd, int ufd);
/*
 * Queue what a bufferevent's buffer holds to go first, in order, one way
 * (up: to the origin), and empty it; output: it is the bufferevent's
 * output (whose start libevent keeps frozen).  Returns the bytes taken.
 */
size_t zlink_take(struct zlink *, bool up, struct evbuffer *, bool output);
/*
 * Start: the first pumps run from the loop, never inside this call, so
 * that an end at once does not free the owner under its callers.
 */
void zlink_start(struct zlink *, struct event_base *, unsigned worker,
    void (*read_cb)(void *, bool, uint64_t, uint64_t, bool),
    void (*end_cb)(void *), void *arg);
/* Events off, pipes back to the pool: before the sockets close. */
void zlink_stop(struct zlink *);

#endif
