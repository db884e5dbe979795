/*
 * bodyread: read a bufferevent's socket ourselves, in large pieces, into
 * its input buffer, and run its read callback as the bufferevent would.
 *
 * libevent 2.1's evbuffer_read takes at most 4 KiB a call (EVBUFFER_MAX_READ):
 * a body costs an ioctl, a readv and a turn of the loop per 4 KiB.  While a
 * bodyread is on, the bufferevent's own reading is off; the end of the
 * stream, a read error and a gap longer than the timeout reach its event
 * callback as BEV_EVENT_READING|EOF, |ERROR and |TIMEOUT, so whatever sits
 * on the bufferevent (evhttp) cannot tell the difference.  Plain sockets
 * only: not for bufferevent_openssl.
 */
#ifndef RP_BODYREAD_H
#define RP_BODYREAD_H

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

struct bufferevent;

/* The most one read takes: with libevent's chain header, a 256 KiB chain. */
#define BODYREAD_MAX (256 * 1024 - 512)
/* A body longer than this is worth reading this way (a few of libevent's reads). */
#define BODYREAD_WORTH (16 * 1024)

struct bodyread {
	struct event ev;
	struct bufferevent *bev;
	struct timeval timeout;
	/* How many more bytes to read (0: stop), or NULL: until stopped. */
	uint64_t (*left)(void *);
	void *arg;
	bool on, paused;
};

/*
 * Take over reading bev (disabling its own reading) until bodyread_stop,
 * or until left() says 0, or until EOF, an error or the timeout.
 */
void bodyread_start(struct bodyread *, struct bufferevent *bev,
    const struct timeval *timeout, uint64_t (*left)(void *), void *arg);
/*
 * Read in this turn of the loop, not after the next poll: for a body
 * that is most likely in the socket already (it came with its head, of
 * which the bufferevent read 4 KiB); the poll was one more epoll_wait for
 * every POST (strace).  Nothing there: the read says EAGAIN and the
 * reading waits as ever.
 */
void bodyread_kick(struct bodyread *);
/*
 * Read up to want bytes (at most BODYREAD_MAX) into bev's input now, once,
 * without an event and without running its read callback (a caller that
 * goes on with what came itself): > 0 how many, 0 the end of the stream,
 * -1 errno (EAGAIN: nothing there yet).  Whether bodyread is on or not.
 */
ssize_t bodyread_now(struct bufferevent *bev, size_t want);
/* Stop reading (the bufferevent's own reading stays off). */
void bodyread_stop(struct bodyread *);
/* Stop and resume reading for a while (backpressure). */
void bodyread_pause(struct bodyread *);
void bodyread_resume(struct bodyread *);
/*
 * Stop or resume reading bev (backpressure): through br while br is on,
 * else with the bufferevent's own reading.
 */
void bodyread_reading(struct bodyread *br, struct bufferevent *bev, bool on);

#endif
