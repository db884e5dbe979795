/*
 * nodelay: TCP_NODELAY on a socket of ours.
 *
 * What the daemon writes is a whole message head, or a piece of a body
 * that is here now: never worth holding back.  Without TCP_NODELAY,
 * Nagle's algorithm holds a write shorter than a segment while an earlier
 * one is unacknowledged, and a peer that acknowledges late (a delayed
 * ACK: 40 ms on Linux) stalls the exchange for that long.  Every TCP
 * socket the daemon writes to takes it: accepted clients (from their
 * listener, front.c), origin connections of both lanes (upstream.c,
 * dial.c) and the loopback hop of TLS interception (intercept.c).
 */
#ifndef RP_NODELAY_H
#define RP_NODELAY_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* 0, or -1 with errno (not a TCP socket: a Unix one refuses it). */
static inline int
nodelay_set(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

#endif
