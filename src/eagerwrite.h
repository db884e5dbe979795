/*
 * eagerwrite: write what is queued on a bufferevent in the same turn of the
 * loop, instead of waiting for the socket to be reported writable.
 *
 * A libevent 2.1 socket bufferevent writes only from its write event: each
 * reply costs an epoll_ctl to watch for EPOLLOUT, a trip through epoll_wait
 * and an epoll_ctl to stop watching.  Once the current callbacks are done
 * (so evhttp has queued everything it will), eagerwrite writes the output
 * buffer itself and, when it is empty, runs the bufferevent's write
 * callback as the bufferevent would.  Whatever the socket does not take
 * stays queued for the bufferevent's own write event.  Plain sockets only:
 * not for bufferevent_openssl (for it, eagerwrite_tls_now).
 */
#ifndef RP_EAGERWRITE_H
#define RP_EAGERWRITE_H

#include <event2/event_struct.h>
#include <stdbool.h>

struct bufferevent;
struct evbuffer_cb_entry;

struct eagerwrite {
	struct event ev;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *cbe;
	bool scheduled;
	bool held; /* (eagerwrite_hold) */
};

/* Write bev's output eagerly from now on. */
void eagerwrite_attach(struct eagerwrite *, struct bufferevent *bev);
/* Stop (before bev is freed or given to TLS). */
void eagerwrite_detach(struct eagerwrite *);
/*
 * Bytes queued from now until the release are the caller's to write (it
 * writes them itself, eagerwrite_now): no flush is scheduled for them --
 * the raw lane's response, whose flush found nothing left to write, a
 * turn of the loop for every request.  The release schedules one for
 * what is still queued then.  Either is a no-op when not attached.
 */
void eagerwrite_hold(struct eagerwrite *);
void eagerwrite_release(struct eagerwrite *);
/*
 * Write bev's output now, once, without running any callback: true when
 * all of it went (else what is left is the caller's to send, with the
 * bufferevent's write event).  For a caller that knows its output whole,
 * as the raw lane its request: no attach, no event, no write callback.
 */
bool eagerwrite_now(struct bufferevent *bev);
/*
 * The same for a socket bufferevent_openssl (libevent 2.1 writes its
 * output only from the write event it adds when bytes are queued: an
 * epoll_ctl for EPOLLOUT, a turn of the loop, an epoll_ctl to take it
 * off, each TLS request).  Its output must have been empty before the
 * caller queued what it now writes (so no earlier SSL_write waits to be
 * repeated), the handshake done, and no read waiting to write.  Writes as
 * libevent's do_write would, one SSL_write a chain (the first of the
 * output, whole, as its evbuffer_peek gives it): a write that must be
 * repeated (the socket full) is repeated by libevent with the same bytes
 * and length, as OpenSSL requires.  True when all of it went: then bev's
 * write event is off (EV_WRITE disabled).  False: nothing was written,
 * or part, or the connection failed; what is left (or the error) is
 * libevent's, with EV_WRITE enabled by the caller.
 */
bool eagerwrite_tls_now(struct bufferevent *bev);

#endif
