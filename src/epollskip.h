/*
 * epollskip: the daemon's own epoll_ctl(), close(), dup2() and dup3(),
 * which leave out the epoll_ctl calls that would change nothing (see
 * epollskip.c).  Linking epollskip.c is all it takes; nothing calls it by
 * another name.
 */
#ifndef RETRYPROXY_EPOLLSKIP_H
#define RETRYPROXY_EPOLLSKIP_H

/* fds at or above this are always passed to the kernel */
#define EPOLLSKIP_FDS 65536

#endif
