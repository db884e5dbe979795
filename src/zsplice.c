/*
 * zsplice: socket to socket through a pipe with splice(2) (see zsplice.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"
#include "zsplice.h"

struct zsplice_pipe {
	int r, w;
	size_t cap;
	struct zsplice_pipe *next;
};

/* After a pipe could not be made (or was too small): fills that copy. */
#define BACKOFF 64

static void
pipe_close(struct zsplice_pipe *z)
{
	int err = errno;

	close(z->r);
	close(z->w);
	free(z);
	errno = err;
}

void
zsplice_pool_init(struct zsplice_pool *p, unsigned max_pipes)
{
	memset(p, 0, sizeof *p);
	p->max_pipes = max_pipes;
}

void
zsplice_pool_clear(struct zsplice_pool *p)
{
	while (p->idle != NULL) {
		struct zsplice_pipe *z = p->idle;
		p->idle = z->next;
		pipe_close(z);
	}
	p->nidle = 0;
}

/* A pipe could not be had: copy for a while, and say why. */
static struct zsplice_pipe *
pool_failed(struct zsplice_pool *p, const char *call, int err)
{
	p->backoff = BACKOFF;
	p->pipe_failures++;
	p->pipe_call = call;
	p->pipe_errno = err;
	return NULL;
}

/*
 * An empty pipe: an idle one, or a new one of ZSPLICE_PIPE bytes.  NULL
 * when none may or can be had (max_pipes held already, no descriptor, the
 * pipe memory limit: fs.pipe-user-pages-soft gives an unprivileged user
 * 64 MiB of pipes, past that a new pipe gets two pages): the caller copies.
 */
static struct zsplice_pipe *
pool_get(struct zsplice_pool *p)
{
	struct zsplice_pipe *z;
	int fds[2], cap, err = 0;

	if (p->idle != NULL) {
		z = p->idle;
		p->idle = z->next;
		p->nidle--;
		p->lent++;
		return z;
	}
	if (p->lent + p->nidle >= p->max_pipes)
		return NULL;
	if (p->backoff > 0) {
		p->backoff--;
		return NULL;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
		return pool_failed(p, "pipe2", errno);
	cap = fcntl(fds[1], F_SETPIPE_SZ, ZSPLICE_PIPE);
	if (cap < 0) {
		/* (the default 64 KiB will do; two pages past the limit won't) */
		err = errno;
		cap = fcntl(fds[1], F_GETPIPE_SZ);
	}
	if (cap < ZSPLICE_MIN_PIPE) {
		close(fds[0]);
		close(fds[1]);
		return pool_failed(p, "F_SETPIPE_SZ", err != 0 ? err : ENOMEM);
	}
	z = xmalloc(sizeof *z);
	z->r = fds[0];
	z->w = fds[1];
	z->cap = (size_t)cap;
	z->next = NULL;
	p->pipes_made++;
	p->lent++;
	return z;
}

bool
zsplice_pool_can_lend(const struct zsplice_pool *p)
{
	return p->nosplice == 0 &&
	    (p->idle != NULL ||
		(p->lent + p->nidle < p->max_pipes && p->backoff == 0));
}

/* An empty pipe back to the pool. */
static void
pool_put(struct zsplice_pool *p, struct zsplice_pipe *z)
{
	p->lent--;
	if (p->nidle >= ZSPLICE_MAX_IDLE) {
		pipe_close(z);
		return;
	}
	z->next = p->idle;
	p->idle = z;
	p->nidle++;
}

/* The user-space buffer, once empty. */
static void
buf_free(struct zsplice_dir *d)
{
	free(d->buf);
	d->buf = NULL;
	d->len = d->off = d->size = 0;
}

void
zsplice_dir_init(struct zsplice_dir *d, struct zsplice_pool *p)
{
	memset(d, 0, sizeof *d);
	d->pool = p;
}

void
zsplice_dir_limit(struct zsplice_dir *d, uint64_t limit)
{
	d->limited = true;
	d->limit = d->in + limit;
}

void
zsplice_dir_queue(struct zsplice_dir *d, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (d->off > 0) {
		memmove(d->buf, d->buf + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (d->len + len > d->size) {
		d->size = d->len + len;
		d->buf = xrealloc(d->buf, d->size);
	}
	memcpy(d->buf + d->len, data, len);
	d->len += len;
}

void
zsplice_dir_free(struct zsplice_dir *d)
{
	if (d->pipe != NULL) {
		if (d->in_pipe > 0) {
			/* bytes nobody will read: not for the next user */
			d->pool->lent--;
			pipe_close(d->pipe);
		} else
			pool_put(d->pool, d->pipe);
		d->pipe = NULL;
		d->in_pipe = 0;
	}
	buf_free(d);
}

size_t
zsplice_dir_held(const struct zsplice_dir *d)
{
	return d->len - d->off + d->in_pipe;
}

static bool
copying(const struct zsplice_dir *d)
{
	return d->copy || d->pool->nosplice != 0;
}

/*
 * Write what the direction holds: 1 all of it went, 0 `to` is full (a
 * short write on a non-blocking socket says as much as EAGAIN), -1 error.
 */
static int
drain(struct zsplice_dir *d, int to)
{
	while (d->off < d->len) {
		ssize_t n = write(to, d->buf + d->off, d->len - d->off);
		if (n > 0) {
			d->off += (size_t)n;
			d->out += (uint64_t)n;
			if (d->off < d->len)
				return 0;
		} else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else {
			if (n == 0)
				errno = EIO;
			d->to_failed = true;
			return -1;
		}
	}
	if (d->buf != NULL && d->size != ZSPLICE_BUF)
		buf_free(d); /* (what was queued: the copy buffer is reused) */
	d->len = d->off = 0;
	while (d->in_pipe > 0) {
		ssize_t n = splice(d->pipe->r, NULL, to, NULL, d->in_pipe,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			d->in_pipe -= (size_t)n;
			d->out += (uint64_t)n;
			if (d->in_pipe > 0)
				return 0;
		} else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		else {
			/* (0: an empty pipe, but we hold its writer) */
			if (n == 0)
				errno = EIO;
			d->to_failed = true;
			return -1;
		}
	}
	if (d->pipe != NULL) {
		pool_put(d->pool, d->pipe);
		d->pipe = NULL;
	}
	return 1;
}

/*
 * Read more (the direction holds nothing): into a pipe, or copying into
 * the buffer.  > 0 bytes (*asked: how many could have come), 0 the end,
 * -1 errno (EAGAIN: nothing to read).
 */
static ssize_t
fill(struct zsplice_dir *d, int from, size_t *asked)
{
	struct zsplice_pool *p = d->pool;
	/* (a counted direction: never a byte past its count) */
	uint64_t most = d->limited ? d->limit - d->in : UINT64_MAX;
	ssize_t n;

	if (!copying(d)) {
		struct zsplice_pipe *z = pool_get(p);
		if (z != NULL) {
			size_t want = most < z->cap ? (size_t)most : z->cap;
			int err;
			do
				n = splice(from, NULL, z->w, NULL, want,
				    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			while (n < 0 && errno == EINTR);
			if (n > 0) {
				d->pipe = z;
				d->in_pipe = (size_t)n;
				*asked = want;
				d->spliced += (uint64_t)n;
				p->spliced += (uint64_t)n;
				return n;
			}
			err = errno;
			pool_put(p, z); /* (still empty) */
			if (n == 0)
				return 0;
			if (err == EINVAL)
				d->copy = true; /* not these sockets */
			else if (err == EPERM || err == ENOSYS)
				p->nosplice = err; /* not here (seccomp) */
			else {
				errno = err;
				return -1;
			}
		}
	}
	if (d->buf == NULL) {
		d->buf = xmalloc(ZSPLICE_BUF);
		d->size = ZSPLICE_BUF;
	}
	d->off = d->len = 0;
	*asked = most < d->size ? (size_t)most : d->size;
	do
		n = read(from, d->buf, *asked);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		d->len = (size_t)n;
		p->copied += (uint64_t)n;
	}
	return n;
}

int
zsplice_pump(struct zsplice_dir *d, int from, int to)
{
	size_t moved = 0;
	bool more = true; /* the last read filled all it could */

	for (;;) {
		size_t asked = 0;
		ssize_t n;
		int r = drain(d, to);

		if (r < 0)
			return ZS_ERROR;
		if (r == 0)
			return ZS_WRITE;
		if (d->eof || (d->limited && d->in == d->limit)) {
			buf_free(d);
			if (!d->shut && !d->limited) {
				/* (an error here shows on the next read) */
				d->shut = true;
				shutdown(to, SHUT_WR);
			}
			return ZS_DONE;
		}
		/*
		 * A short read emptied the socket (epoll is level-triggered:
		 * if more came since, it says so); a burst is enough for one
		 * turn of the loop.  A direction that waits to read holds no
		 * memory: the copy buffer (64 KiB) would otherwise stay with
		 * every idle tunnel that ever copied.
		 */
		if (!more || moved >= ZSPLICE_BURST) {
			buf_free(d);
			return ZS_READ;
		}
		n = fill(d, from, &asked);
		if (n > 0) {
			d->in += (uint64_t)n;
			moved += (size_t)n;
			more = (size_t)n >= asked;
		} else if (n == 0)
			d->eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			buf_free(d);
			return ZS_READ;
		} else
			return ZS_ERROR;
	}
}
