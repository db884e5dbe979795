/*
 * loopclock: a new turn of an event loop begins when epoll_wait returns;
 * util.h's clock, read once a turn in the workers, learns it here.
 *
 * nginx reads the time once after each epoll_wait and every handler uses
 * that; a keep-alive request through the raw lane read the clock about a
 * dozen times (its start, its dial, the pool, the policy's decision, the
 * log line), each a vDSO clock_gettime: 0.4 us of the 37 us a request
 * cost under perf, against nginx's 0.02.
 *
 * This definition of epoll_wait(), in the executable, is the one libevent
 * resolves to: the kernel's epoll_wait, then util_clock_turn() for the
 * calling thread.  Threads that did not ask for the clock per turn
 * (util_clock_per_turn) read it at every call, as before.
 */
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "timerfdskip.h"
#include "util.h"

int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
#ifdef SYS_epoll_wait
	int n = (int)syscall(SYS_epoll_wait, epfd, events, maxevents, timeout);
#else
	/* (newer ports, arm64 among them, have only epoll_pwait) */
	int n = (int)syscall(
	    SYS_epoll_pwait, epfd, events, maxevents, timeout, NULL, (size_t)8);
#endif

	util_clock_turn();
	if (n > 0)
		timerfdskip_seen(events, n); /* (did libevent's timer fire?) */
	return n;
}
