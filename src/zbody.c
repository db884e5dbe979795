/*
 * zbody: one counted body, socket to socket in the kernel (see zbody.h).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"
#include "zbody.h"

void
zbody_init(struct zbody *zb, struct zsplice_pool *pool)
{
	memset(zb, 0, sizeof *zb);
	zsplice_dir_init(&zb->dir, pool);
}

size_t
zbody_take(struct zbody *zb, struct evbuffer *buf, bool output)
{
	size_t len = evbuffer_get_length(buf);

	if (len == 0)
		return 0;
	/* (a socket bufferevent's output is drained by its writes alone) */
	if (output)
		evbuffer_unfreeze(buf, 1);
	zsplice_dir_queue(&zb->dir, evbuffer_pullup(buf, -1), len);
	evbuffer_drain(buf, len);
	if (output)
		evbuffer_freeze(buf, 1);
	return len;
}

/* The spliced bytes not told yet (the copied ones are a fallback's). */
static void
count(struct zbody *zb)
{
	metrics_body_spliced(zb->dir.spliced - zb->counted);
	zb->counted = zb->dir.spliced;
}

/*
 * (Neither event is pending here: each is added alone, for one wait, and
 * the one that ran is off.  The owner stops zb, which counts it.)
 */
static void
end(struct zbody *zb, enum zbody_end how)
{
	/* (the last call: the owner may free zb) */
	zb->end_cb(zb->arg, how);
}

/* from's SO_RCVLOWAT, where it differs (a failure costs only wakeups). */
static void
set_lowat(struct zbody *zb, int v)
{
	if (v != zb->lowat &&
	    setsockopt(zb->from, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
		zb->lowat = v;
}

/*
 * Wait to read (the direction holds nothing: what is left is to come):
 * marked, for ZBODY_LOWAT of it or ZBODY_LOWAT_MS; else for any byte, or
 * the body's timeout.
 */
static void
wait_read(struct zbody *zb, bool marked)
{
	static const struct timeval mtv = {0, ZBODY_LOWAT_MS * 1000};
	uint64_t left = zb->dir.limit - zb->dir.in;
	const struct timeval *tv = NULL;

	set_lowat(zb,
	    !marked || left <= 1     ? 1
		: left < ZBODY_LOWAT ? (int)left
				     : ZBODY_LOWAT);
	if (zb->lowat > 1)
		tv = &mtv;
	else if (zb->from_tv.tv_sec || zb->from_tv.tv_usec)
		tv = &zb->from_tv;
	event_del(&zb->wr);
	event_add(&zb->rd, tv);
}

/* Move what can be moved, then wait as zsplice_pump says. */
static void
pump(struct zbody *zb, bool marked)
{
	int r = zsplice_pump(&zb->dir, zb->from, zb->to);

	switch (r) {
	case ZS_READ:
		wait_read(zb, marked);
		break;
	case ZS_WRITE:
		event_del(&zb->rd);
		event_add(&zb->wr,
		    zb->to_tv.tv_sec || zb->to_tv.tv_usec ? &zb->to_tv : NULL);
		break;
	case ZS_DONE:
		end(zb, zb->dir.in == zb->dir.limit ? ZBODY_DONE : ZBODY_SHORT);
		break;
	default:
		end(zb, zb->dir.to_failed ? ZBODY_TO_ERROR : ZBODY_FROM_ERROR);
		break;
	}
}

/* Either socket ready, or its wait timed out (which: by its descriptor). */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct zbody *zb = arg;

	if (!(what & EV_TIMEOUT))
		pump(zb, true);
	else if (fd == zb->from && zb->lowat > 1)
		/* a marked wait's time: what came goes, then any byte is awaited */
		pump(zb, false);
	else
		end(zb, fd == zb->from ? ZBODY_FROM_TIMEOUT : ZBODY_TO_TIMEOUT);
}

void
zbody_start(struct zbody *zb, struct event_base *base, int from, int to,
    uint64_t n, const struct timeval *from_tv, const struct timeval *to_tv,
    void (*end_cb)(void *, enum zbody_end), void *arg)
{
	zb->from = from;
	zb->to = to;
	if (from_tv != NULL)
		zb->from_tv = *from_tv;
	if (to_tv != NULL)
		zb->to_tv = *to_tv;
	zb->end_cb = end_cb;
	zb->arg = arg;
	zsplice_dir_limit(&zb->dir, n);
	event_assign(&zb->rd, base, from, EV_READ, ready_cb, zb);
	event_assign(&zb->wr, base, to, EV_WRITE, ready_cb, zb);
	zb->on = true;
	/* (from the loop: the owner's callback under way returns first) */
	event_active(&zb->wr, EV_WRITE, 1);
}

uint64_t
zbody_stop(struct zbody *zb)
{
	if (!zb->on)
		return 0;
	zb->on = false;
	count(zb);
	/* (from goes on: the next response on a kept connection, or request) */
	if (zb->lowat > 1)
		set_lowat(zb, 1);
	event_del(&zb->rd);
	event_del(&zb->wr);
	zsplice_dir_free(&zb->dir);
	return zb->dir.in; /* (the pipe and buffer went, not the counts) */
}
