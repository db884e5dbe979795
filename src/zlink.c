/*
 * zlink: two plain sockets joined in the kernel, driven by events of our
 * own (see zlink.h).
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "util.h"
#include "zlink.h"

#define ON_CRD 1 /* the client's socket readable: up */
#define ON_CWR 2 /* writable: down */
#define ON_URD 4 /* the origin's readable: down */
#define ON_UWR 8 /* writable: up */

/* At most one line in this long about pipes that could not be made. */
#define SAY_MS (10 * 60 * 1000)

static void
watch(struct zlink *zl, unsigned which, struct event *ev, bool on)
{
	if (on == ((zl->on & which) != 0))
		return;
	if (on) {
		event_add(ev, NULL);
		zl->on |= which;
	} else {
		event_del(ev);
		zl->on &= ~which;
	}
}

/*
 * The pool could not make a pipe (zsplice.h), or splice(2) was refused:
 * the tunnels copy meanwhile, which works, so the log gets one line now
 * and then (for the whole process), not one a failure.  Past the pipe
 * memory limit every new pipe fails, tunnel after tunnel: a daemon
 * without CAP_SYS_RESOURCE (the systemd unit's DynamicUser=) has
 * fs.pipe-user-pages-soft, 64 MiB of pipes by default (retryproxy(8),
 * CONNECT).
 */
static void
say(struct zlink *zl, struct zsplice_pool *p, int nosplice_before)
{
	static _Atomic bool nosplice_said;
	static _Atomic uint64_t said_ms;
	uint64_t now, last;

	if (p->nosplice != 0 && nosplice_before == 0 &&
	    !atomic_exchange(&nosplice_said, true))
		log_warnx("splice(2) refused (%s): tunnels copy their bytes "
			  "through the daemon's memory (a seccomp filter "
			  "without splice?)",
		    strerror(p->nosplice));
	if (p->pipe_failures == 0)
		return;
	now = util_now_ms();
	last = atomic_load(&said_ms);
	if ((last != 0 && now - last < SAY_MS) ||
	    !atomic_compare_exchange_strong(&said_ms, &last, now))
		return; /* (counted on: said with the next line) */
	log_warnx("no pipe for splice(2) (%s: %s, %u time%s on worker %u "
		  "since the last such line, which comes at most every %d "
		  "minutes): tunnels copy those bytes instead (see "
		  "fs.pipe-user-pages-soft and the descriptor limit)",
	    p->pipe_call, strerror(p->pipe_errno), p->pipe_failures,
	    p->pipe_failures == 1 ? "" : "s", zl->worker, SAY_MS / 60000);
	p->pipe_failures = 0;
}

/*
 * Move one direction on as far as it goes now, then wait for what it
 * waits for: the source to be readable, or (its bytes held: the
 * backpressure) the destination writable.  A socket error ends the link,
 * as on the bufferevent path; so does the end passed on both ways (each
 * FIN after its direction's last byte: half-close).
 */
static void
pump(struct zlink *zl, bool up)
{
	struct zsplice_dir *d = up ? &zl->up : &zl->down;
	uint64_t in = d->in, out = d->out, spliced = d->spliced;
	int nosplice = d->pool->nosplice;
	int r = up ? zsplice_pump(d, zl->cfd, zl->ufd)
		   : zsplice_pump(d, zl->ufd, zl->cfd);

	if (d->pool->pipe_failures > 0 || d->pool->nosplice != nosplice)
		say(zl, d->pool, nosplice);
	zl->read_cb(zl->arg, up, d->spliced - spliced,
	    (d->in - in) - (d->spliced - spliced),
	    d->in != in || d->out != out);
	if (r == ZS_ERROR) {
		zl->end_cb(zl->arg);
		return;
	}
	if (up) {
		watch(zl, ON_CRD, &zl->c_rd, r == ZS_READ);
		watch(zl, ON_UWR, &zl->u_wr, r == ZS_WRITE);
	} else {
		watch(zl, ON_URD, &zl->u_rd, r == ZS_READ);
		watch(zl, ON_CWR, &zl->c_wr, r == ZS_WRITE);
	}
	if (zl->up.shut && zl->down.shut)
		zl->end_cb(zl->arg);
}

static void
up_cb(evutil_socket_t fd, short what, void *arg)
{
	pump(arg, true);
}

static void
down_cb(evutil_socket_t fd, short what, void *arg)
{
	pump(arg, false);
}

void
zlink_init(struct zlink *zl, struct zsplice_pool *pool, int cfd, int ufd)
{
	memset(zl, 0, sizeof *zl);
	zsplice_dir_init(&zl->up, pool);
	zsplice_dir_init(&zl->down, pool);
	zl->cfd = cfd;
	zl->ufd = ufd;
}

size_t
zlink_take(struct zlink *zl, bool up, struct evbuffer *buf, bool output)
{
	size_t len = evbuffer_get_length(buf);

	if (len == 0)
		return 0;
	if (output)
		evbuffer_unfreeze(buf, 1);
	zsplice_dir_queue(
	    up ? &zl->up : &zl->down, evbuffer_pullup(buf, -1), len);
	evbuffer_drain(buf, len);
	if (output)
		evbuffer_freeze(buf, 1);
	return len;
}

void
zlink_start(struct zlink *zl, struct event_base *base, unsigned worker,
    void (*read_cb)(void *, bool, uint64_t, uint64_t, bool),
    void (*end_cb)(void *), void *arg)
{
	zl->worker = worker;
	zl->read_cb = read_cb;
	zl->end_cb = end_cb;
	zl->arg = arg;
	event_assign(&zl->c_rd, base, zl->cfd, EV_READ | EV_PERSIST, up_cb, zl);
	event_assign(
	    &zl->u_wr, base, zl->ufd, EV_WRITE | EV_PERSIST, up_cb, zl);
	event_assign(
	    &zl->u_rd, base, zl->ufd, EV_READ | EV_PERSIST, down_cb, zl);
	event_assign(
	    &zl->c_wr, base, zl->cfd, EV_WRITE | EV_PERSIST, down_cb, zl);
	event_active(&zl->c_rd, EV_READ, 1);
	event_active(&zl->u_rd, EV_READ, 1);
}

void
zlink_stop(struct zlink *zl)
{
	/* (an active event is taken off the loop's queue too) */
	event_del(&zl->c_rd);
	event_del(&zl->c_wr);
	event_del(&zl->u_rd);
	event_del(&zl->u_wr);
	zl->on = 0;
	zsplice_dir_free(&zl->up);
	zsplice_dir_free(&zl->down);
}
