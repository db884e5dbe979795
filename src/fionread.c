/*
 * fionread: answer libevent's FIONREAD without a system call.
 *
 * Before every socket read, libevent 2.1's evbuffer_read asks the kernel
 * how many bytes are waiting (ioctl FIONREAD), and then reads at most
 * 4096 of them anyway (EVBUFFER_MAX_READ).  That is one extra system call
 * per read -- two per proxied request (the client's request, the origin's
 * response head), about 5% of the proxy's CPU on this data path.  Long
 * bodies do not go through evbuffer_read at all (bodyread.c).
 *
 * This definition of ioctl(), in the executable, is the one libevent
 * resolves to.  FIONREAD gets "4096": libevent then offers readv() a
 * 4 KiB buffer, which returns what is there (or EAGAIN, or 0 at EOF) just
 * as before.  Every other request is passed to the kernel unchanged.
 * Nothing in this program needs the true FIONREAD count (libc's own
 * ioctl calls, e.g. isatty(), do not come through here).
 */
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FIONREAD_ANSWER 4096 /* libevent's EVBUFFER_MAX_READ */

int
ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == FIONREAD && arg != NULL) {
		*(int *)arg = FIONREAD_ANSWER;
		return 0;
	}
	return (int)syscall(SYS_ioctl, fd, request, arg);
}
