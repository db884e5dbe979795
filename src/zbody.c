/*
 * zbody: one counted body, socket to socket in the kernel (see zbody.h).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <string.h>

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

static void
pump(struct zbody *zb)
{
	int r = zsplice_pump(&zb->dir, zb->from, zb->to);

	switch (r) {
	case ZS_READ:
		event_del(&zb->wr);
		event_add(&zb->rd,
		    zb->from_tv.tv_sec || zb->from_tv.tv_usec ? &zb->from_tv
							      : NULL);
		return;
	case ZS_WRITE:
		event_del(&zb->rd);
		event_add(&zb->wr,
		    zb->to_tv.tv_sec || zb->to_tv.tv_usec ? &zb->to_tv : NULL);
		return;
	case ZS_DONE:
		end(zb, zb->dir.in == zb->dir.limit ? ZBODY_DONE : ZBODY_SHORT);
		return;
	default:
		end(zb, zb->dir.to_failed ? ZBODY_TO_ERROR : ZBODY_FROM_ERROR);
		return;
	}
}

/* Either socket ready, or its wait timed out (which: by its descriptor). */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct zbody *zb = arg;

	if (what & EV_TIMEOUT)
		end(zb, fd == zb->from ? ZBODY_FROM_TIMEOUT : ZBODY_TO_TIMEOUT);
	else
		pump(zb);
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
	event_del(&zb->rd);
	event_del(&zb->wr);
	zsplice_dir_free(&zb->dir);
	return zb->dir.in; /* (the pipe and buffer went, not the counts) */
}
