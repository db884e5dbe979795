/*
 * bodyread: large reads for bodies, under a bufferevent (see bodyread.h).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/uio.h>

#include "bodyread.h"

/* The gap allowed between reads; none for a zero timeout. */
static const struct timeval *
timeout_of(const struct bodyread *br)
{
	return br->timeout.tv_sec > 0 || br->timeout.tv_usec > 0 ? &br->timeout
								 : NULL;
}

void
bodyread_stop(struct bodyread *br)
{
	if (br->on) {
		br->on = false;
		event_del(&br->ev);
	}
	br->paused = false;
}

/* The end, an error or a timeout: tell the bufferevent's owner. */
static void
finish(struct bodyread *br, short what)
{
	struct bufferevent *bev = br->bev;

	bodyread_stop(br);
	bufferevent_trigger_event(bev, BEV_EVENT_READING | what, 0);
}

/*
 * Read up to want bytes of fd into bev's input: > 0 how many, 0 the end,
 * -1 errno (EAGAIN: none there).
 */
static ssize_t
fill(struct bufferevent *bev, evutil_socket_t fd, size_t want)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec vec[2];
	struct iovec iov[2];
	ssize_t n, got;
	int nv, err;

	/* (the bufferevent keeps the end of its input frozen between reads) */
	evbuffer_unfreeze(in, 0);
	nv = evbuffer_reserve_space(in, (ev_ssize_t)want, vec, 2);
	if (nv <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
		if (iov[i].iov_len > want)
			iov[i].iov_len = want;
		want -= iov[i].iov_len;
	}
	got = n = readv(fd, iov, nv);
	if (n <= 0) {
		err = errno;
		evbuffer_commit_space(in, vec, 0);
		evbuffer_freeze(in, 0);
		errno = err;
		return n;
	}
	for (int i = 0; i < nv; i++) {
		size_t k =
		    (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
		vec[i].iov_len = k;
		n -= (ssize_t)k;
	}
	/* (this runs the input buffer's callbacks: the scanners) */
	evbuffer_commit_space(in, vec, nv);
	evbuffer_freeze(in, 0);
	return got;
}

static void
read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bodyread *br = arg;
	struct bufferevent *bev = br->bev;
	size_t want = BODYREAD_MAX;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		finish(br, BEV_EVENT_TIMEOUT);
		return;
	}
	if (br->left != NULL) {
		uint64_t left = br->left(br->arg);
		if (left == 0) {
			bodyread_stop(br);
			return;
		}
		if (left < want)
			want = (size_t)left;
	}
	n = fill(bev, fd, want);
	if (n <= 0) {
		if (n < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		finish(br, n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
		return;
	}
	if (br->left != NULL && br->on && br->left(br->arg) == 0)
		bodyread_stop(br); /* all of it: the next bytes are not ours */
	/* the owner reads what came; it may stop us or free bev in there */
	bufferevent_trigger(bev, EV_READ, 0);
}

ssize_t
bodyread_now(struct bufferevent *bev, size_t want)
{
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (want > BODYREAD_MAX)
		want = BODYREAD_MAX;
	return fill(bev, fd, want);
}

void
bodyread_start(struct bodyread *br, struct bufferevent *bev,
    const struct timeval *timeout, uint64_t (*left)(void *), void *arg)
{
	evutil_socket_t fd = bufferevent_getfd(bev);

	if (br->on || fd < 0)
		return;
	bufferevent_disable(bev, EV_READ);
	br->bev = bev;
	br->timeout = *timeout;
	br->left = left;
	br->arg = arg;
	event_assign(&br->ev, bufferevent_get_base(bev), fd,
	    EV_READ | EV_PERSIST, read_cb, br);
	br->on = true;
	if (!br->paused)
		event_add(&br->ev, timeout_of(br));
}

void
bodyread_kick(struct bodyread *br)
{
	if (br->on && !br->paused)
		event_active(&br->ev, EV_READ, 1);
}

void
bodyread_pause(struct bodyread *br)
{
	if (br->on && !br->paused)
		event_del(&br->ev);
	br->paused = true;
}

void
bodyread_resume(struct bodyread *br)
{
	if (br->on && br->paused)
		event_add(&br->ev, timeout_of(br));
	br->paused = false;
}

void
bodyread_reading(struct bodyread *br, struct bufferevent *bev, bool on)
{
	if (br->on && on)
		bodyread_resume(br);
	else if (br->on)
		bodyread_pause(br);
	else if (on)
		bufferevent_enable(bev, EV_READ);
	else
		bufferevent_disable(bev, EV_READ);
}
