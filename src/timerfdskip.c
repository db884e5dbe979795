/*
 * timerfdskip: leave out the timerfd_settime calls libevent makes that
 * only move its timer later.
 *
 * The workers' event bases keep time on CLOCK_MONOTONIC
 * (EVENT_BASE_FLAG_PRECISE_TIMER, server.c), and with it libevent 2.1's
 * epoll backend waits through a timerfd: before every epoll_wait it arms
 * the timerfd for the next timeout -- a system call each turn of the loop
 * (0.23 a keep-alive GET at 50 clients, each 0.8-3 us in a VM; nginx
 * makes none), though
 * the earliest timeout rarely changes between turns (libevent's own
 * comment there: "we could avoid unnecessary syscalls here by only
 * calling timerfd_settime when the top timeout changes").  libevent
 * never reads the timerfd: arming it again is what clears it once it
 * fired.
 *
 * This definition of timerfd_settime(), in the executable, is the one
 * libevent resolves to.  Per thread it remembers the timerfd it last
 * armed and the latest time that timer can expire.  A relative arming
 * (flags 0, no interval, the old value not asked for) of that timerfd,
 * while it is armed and has neither expired nor been returned by
 * epoll_wait, that would expire no earlier than it, is answered "done"
 * without a system call: the timer fires at its earlier time, libevent
 * finds nothing due and arms it again -- a spare turn of the loop about
 * once a timeout period instead of a system call every turn.  Every
 * other call goes to the kernel: an earlier expiry, a disarm, a timer
 * that fired (else epoll_wait would return at once, forever), another
 * fd.  loopclock.c's epoll_wait reports what epoll_wait returned
 * (timerfdskip_seen), epollskip.c's close() an fd this thread closes
 * (timerfdskip_closed: a timerfd made after may get its number).  Another
 * thread's state is its own: a worker's timerfd is armed by the worker
 * alone, for the life of its thread (server.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "timerfdskip.h"

static _Thread_local int t_fd = -1;
static _Thread_local bool t_armed; /* and not seen to fire */
static _Thread_local uint64_t t_by; /* it expires at this, or before */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
span_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

int
timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
    struct itimerspec *old_value)
{
	bool relative = flags == 0 && old_value == NULL && new_value != NULL &&
	    new_value->it_interval.tv_sec == 0 &&
	    new_value->it_interval.tv_nsec == 0 &&
	    new_value->it_value.tv_sec >= 0 &&
	    new_value->it_value.tv_nsec >= 0 &&
	    new_value->it_value.tv_nsec < 1000000000 &&
	    (new_value->it_value.tv_sec > 0 || new_value->it_value.tv_nsec > 0);
	int r;

	if (relative && fd == t_fd && t_armed) {
		/* (the earliest the new expiry could be; the old one's latest) */
		uint64_t now = now_ns();

		if (t_by > now && t_by <= now + span_ns(&new_value->it_value))
			return 0;
	}
	r = (int)syscall(SYS_timerfd_settime, fd, flags, new_value, old_value);
	if (r == 0) {
		t_fd = fd;
		t_armed = relative;
		if (relative)
			t_by = now_ns() + span_ns(&new_value->it_value);
	} else if (fd == t_fd)
		t_armed = false;
	return r;
}

void
timerfdskip_closed(int fd)
{
	if (fd == t_fd) {
		/* (a timerfd made later may get the number, unarmed) */
		t_fd = -1;
		t_armed = false;
	}
}

void
timerfdskip_seen(const struct epoll_event *events, int n)
{
	int i;

	if (!t_armed)
		return;
	for (i = 0; i < n; i++)
		if (events[i].data.fd == t_fd) {
			t_armed = false;
			return;
		}
}
