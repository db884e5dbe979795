/*
 * nameinfo: libevent's numeric getnameinfo() for each new client
 * connection, without glibc's general path.
 *
 * evhttp names every connection it accepts (evhttp_get_request_connection
 * asks getnameinfo(NI_NUMERICHOST | NI_NUMERICSERV) for the peer's address
 * and port as text).  glibc answers that through inet_ntop and a printf
 * of the port: about a tenth of the instructions of a whole
 * `Connection: close` request (callgrind).
 *
 * This definition of getnameinfo(), in the executable, is the one
 * libevent resolves to (as fionread.c's ioctl).  It writes exactly that
 * one question's answer for an IPv4 peer -- dotted quad, decimal port --
 * and hands every other question (IPv6, names, other flags, short
 * buffers) to the C library's own, unchanged.  check_nameinfo holds the
 * two to agree.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*getnameinfo_fn)(const struct sockaddr *, socklen_t, char *,
    socklen_t, char *, socklen_t, int);

/* n in decimal at p; returns past its last digit. */
static char *
put_u(char *p, unsigned n)
{
	char d[8];
	int k = 0;

	do {
		d[k++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (k > 0)
		*p++ = d[--k];
	return p;
}

int
getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
    socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{
	static getnameinfo_fn libc_getnameinfo;

	if (sa != NULL && sa->sa_family == AF_INET &&
	    salen >= sizeof(struct sockaddr_in) &&
	    flags == (NI_NUMERICHOST | NI_NUMERICSERV) && host != NULL &&
	    hostlen >= INET_ADDRSTRLEN && serv != NULL && servlen >= 6) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		const unsigned char *a =
		    (const unsigned char *)&sin->sin_addr.s_addr;
		char *p = host;

		for (int i = 0; i < 4; i++) {
			p = put_u(p, a[i]);
			*p++ = i < 3 ? '.' : '\0';
		}
		*put_u(serv, ntohs(sin->sin_port)) = '\0';
		return 0;
	}
	/* (a race here stores the same pointer twice) */
	if (libc_getnameinfo == NULL)
		libc_getnameinfo =
		    (getnameinfo_fn)dlsym(RTLD_NEXT, "getnameinfo");
	if (libc_getnameinfo == NULL)
		return EAI_SYSTEM;
	return libc_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
}
