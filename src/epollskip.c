/*
 * epollskip: leave out the epoll_ctl calls libevent makes that change
 * nothing.
 *
 * evhttp turns a connection's reading off and on again within one loop
 * turn several times a request (it stops reading when a request is
 * complete, we start again to watch for the client going away; it stops
 * reading an upstream connection between exchanges and starts again with
 * the next).  libevent 2.1's changelist folds each such pair into one
 * change, and then issues it as EPOLL_CTL_MOD with the events the fd
 * already has -- on purpose: the fd may have been closed and reopened in
 * between, and a MOD on the new file fails (ENOENT), which libevent then
 * retries as an ADD.  strace of a keep-alive GET through the proxy: three
 * such MODs, a third of its system calls.  And when evhttp frees a
 * connection it closes the socket first and deletes its events after, so
 * every closed connection costs an EPOLL_CTL_DEL that fails with EBADF.
 *
 * These definitions of epoll_ctl(), close(), dup2() and dup3(), in the
 * executable, are the ones libevent (and OpenSSL, and our code) resolve to.
 * A table indexed by fd remembers, for each fd, the epoll instance, events
 * and data of the last successful ADD or MOD.  A MOD that would set exactly
 * those again is answered "done" without a system call; everything else
 * goes to the kernel and updates the table.  Closing an fd (or dup2-ing
 * over it) forgets it first, before the kernel can hand the number out
 * again, so a reused number never inherits the old file's entry: a MOD on
 * it reaches the kernel, fails with ENOENT and becomes an ADD as libevent
 * intends.  A DEL for an fd closed since it was last added is answered
 * EBADF, which is what the kernel would say (libevent ignores EBADF,
 * ENOENT and EPERM on a DEL).  Edge-triggered and one-shot registrations
 * are never skipped: a MOD re-arms those.
 *
 * File descriptors closed behind libc's back (its internal close calls,
 * e.g. in fclose or getaddrinfo) never reach this table, but those are
 * never in an epoll set.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "epollskip.h"
#include "timerfdskip.h"

/*
 * One entry per fd below EPOLLSKIP_FDS (the daemon raises its descriptor
 * limit to about 2 x max_connections; higher fds are passed through).
 * 0: unknown; CLOSED: closed since its last ADD/MOD; otherwise KNOWN,
 * the epoll fd in bits 32-62 and the events in bits 0-31.  An fd is
 * used by one thread at a time, and handed between threads only through
 * close() and a later accept() or socket(): relaxed atomics suffice.
 */
#define KNOWN ((uint64_t)1 << 63)
#define CLOSED ((uint64_t)1)
#define SKIPPABLE                                                              \
	(EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP)

static _Atomic uint64_t table[EPOLLSKIP_FDS];

static uint64_t
entry(int epfd, const struct epoll_event *ev)
{
	return KNOWN | ((uint64_t)(uint32_t)epfd << 32) | ev->events;
}

static int
skippable(int epfd, int fd, const struct epoll_event *ev)
{
	return epfd >= 0 && fd >= 0 && fd < EPOLLSKIP_FDS && ev != NULL &&
	    (ev->events & ~(uint32_t)SKIPPABLE) == 0 &&
	    ev->data.u64 == (uint64_t)fd;
}

static void
forget(int fd, uint64_t what)
{
	if (fd >= 0 && fd < EPOLLSKIP_FDS)
		atomic_store_explicit(&table[fd], what, memory_order_relaxed);
}

int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int rc;

	if (op == EPOLL_CTL_MOD && skippable(epfd, fd, ev) &&
	    atomic_load_explicit(&table[fd], memory_order_relaxed) ==
		entry(epfd, ev))
		return 0;
	if (op == EPOLL_CTL_DEL && fd >= 0 && fd < EPOLLSKIP_FDS &&
	    atomic_load_explicit(&table[fd], memory_order_relaxed) == CLOSED) {
		errno = EBADF;
		return -1;
	}
	rc = (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
	if (rc == 0 && op != EPOLL_CTL_DEL && skippable(epfd, fd, ev))
		forget(fd, entry(epfd, ev));
	else
		forget(fd, 0);
	return rc;
}

int
close(int fd)
{
	forget(fd, CLOSED);
	timerfdskip_closed(fd);
	return (int)syscall(SYS_close, fd);
}

int
dup2(int oldfd, int newfd)
{
	if (oldfd == newfd) /* dup3 refuses this; dup2 checks oldfd */
		return fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
	forget(newfd, 0);
	return (int)syscall(SYS_dup3, oldfd, newfd, 0);
}

int
dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd)
		forget(newfd, 0);
	return (int)syscall(SYS_dup3, oldfd, newfd, flags);
}
