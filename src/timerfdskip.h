/*
 * timerfdskip: the daemon's own timerfd_settime(), which leaves out the
 * re-armings of libevent's timerfd that would only move its expiry later
 * (see timerfdskip.c).  Linking timerfdskip.c is all it takes, with
 * loopclock.c's epoll_wait telling it what epoll_wait returned and
 * epollskip.c's close which fd goes.
 */
#ifndef RETRYPROXY_TIMERFDSKIP_H
#define RETRYPROXY_TIMERFDSKIP_H

#include <sys/epoll.h>

/* epoll_wait returned these n events (in this thread). */
void timerfdskip_seen(const struct epoll_event *events, int n);
/* fd is being closed (epollskip.c's close): its number may come back. */
void timerfdskip_closed(int fd);

#endif
