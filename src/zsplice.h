/*
 * zsplice: move a tunnel's bytes from one plain socket to another inside
 * the kernel, with splice(2) through a pipe, instead of reading them into
 * our memory and writing them out again.
 *
 * Why: profiling bench connect1m (1 MiB GETs inside CONNECT tunnels) showed
 * the daemon 96 % in the kernel and about 42 % of its CPU in the two copies
 * a byte costs on the bufferevent path (_copy_to_iter for the readv out of
 * one socket, _copy_from_iter for the writev into the other), with only
 * ~10 system calls per MiB left to save.  splice(2) from a TCP socket into a
 * pipe takes references to the received pages, and from the pipe into a
 * TCP socket hands them on (MSG_SPLICE_PAGES): neither copies.
 *
 * No libevent here: zsplice_pump() does what it can without blocking and
 * says which readiness of which socket it waits for; the caller owns the
 * events (zlink.c), the idle timer and the end of the tunnel (tunnel.c).
 *
 * A direction holds its bytes in one place at a time: bytes queued in user
 * space (what the bufferevents held when the tunnel switched over, or
 * what the copying fallback read), or a pipe.  It reads more only when
 * both are empty, so a splice(2) that says EAGAIN always means "nothing to
 * read", never "pipe full", and the bytes held per direction never exceed
 * one pipe (or one buffer): that is the backpressure.  Pipes are lent from
 * a per-worker pool while they hold bytes and go back once emptied, so an
 * idle tunnel holds no pipe and no descriptors beyond its two sockets.
 *
 * When splice(2) cannot be used (a seccomp filter that refuses it, a
 * socket type that cannot be spliced, the pool's pipes all lent, no
 * descriptor or pipe memory left for a pipe), the direction reads into a
 * user-space buffer and writes that instead: the same behaviour, with the
 * copies.
 */
#ifndef RP_ZSPLICE_H
#define RP_ZSPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The pipe capacity asked for (F_SETPIPE_SZ): the most one splice moves. */
#define ZSPLICE_PIPE (256 * 1024)
/* A pipe smaller than this (the pipe memory limit reached) is not used. */
#define ZSPLICE_MIN_PIPE (64 * 1024)
/* The copying fallback's buffer. */
#define ZSPLICE_BUF (64 * 1024)
/* The most one zsplice_pump() moves before it lets other sockets run. */
#define ZSPLICE_BURST (1024 * 1024)
/*
 * Pipes one pool (one worker) may hold, lent and idle, two descriptors
 * each: the daemon asks for that many descriptors more than its
 * connections need, and lends fewer when the limit does not allow it
 * (server.c, fd_limit).  Beyond them a direction copies.  In bench
 * connect1m (50 tunnels, 2 workers) ~25 a worker were lent at once.
 */
#define ZSPLICE_MAX_PIPES 256
/* Empty pipes a pool keeps for the next use (of those above). */
#define ZSPLICE_MAX_IDLE 8

struct zsplice_pipe;

/* One per worker (one thread): pipes to lend. */
struct zsplice_pool {
	struct zsplice_pipe *idle;
	unsigned nidle, lent;
	unsigned max_pipes; /* lent + idle, at most */
	unsigned backoff; /* after a failed pipe: this many fills copy */
	/* splice(2) refused: its errno (EPERM, ENOSYS), and always copy */
	int nosplice;
	/*
	 * Pipes that could not be made (or were too small) since the caller
	 * last set this to 0 (it logs them), and the last one's call and errno.
	 */
	unsigned pipe_failures;
	const char *pipe_call;
	int pipe_errno;
	/* counters (the metric counts per direction: zsplice_dir.spliced) */
	uint64_t pipes_made, spliced, copied;
};

/* One direction of a tunnel: from one socket to the other. */
struct zsplice_dir {
	struct zsplice_pool *pool;
	struct zsplice_pipe *pipe; /* lent while it holds bytes */
	size_t in_pipe;
	char *buf; /* user-space bytes to write, before anything else */
	size_t len, off, size;
	uint64_t in, out; /* bytes read from `from`, written to `to` */
	uint64_t spliced; /* of `in`: read into a pipe (the rest: copied) */
	bool eof; /* `from` ended */
	bool shut; /* and its FIN was passed on, after the bytes */
	bool copy; /* splice(2) refused for these sockets: copy */
	/*
	 * A counted direction (zsplice_dir_limit): it reads no more than
	 * limit bytes from `from` -- what follows is not its own (the next
	 * response on a kept connection) -- and passes no end on: both
	 * sockets go on after it.
	 */
	bool limited;
	uint64_t limit;
	bool to_failed; /* the ZS_ERROR was writing `to` (else reading) */
};

/* What zsplice_pump() waits for (or says). */
#define ZS_READ 1 /* `from` to be readable */
#define ZS_WRITE 2 /* `to` to be writable */
#define ZS_DONE 4 /* everything passed on, and the end (shutdown(to, WR)) */
#define ZS_ERROR 8 /* a socket error (errno): the tunnel is over */

/* An empty pool that holds at most max_pipes pipes (0: always copy). */
void zsplice_pool_init(struct zsplice_pool *, unsigned max_pipes);
/*
 * Would a direction get a pipe now (else it would copy)?  For a caller
 * with a copying path of its own, better than this one's (zbody.h).
 */
bool zsplice_pool_can_lend(const struct zsplice_pool *);
/* Close the idle pipes (lent ones are closed by zsplice_dir_free). */
void zsplice_pool_clear(struct zsplice_pool *);

void zsplice_dir_init(struct zsplice_dir *, struct zsplice_pool *);
/*
 * Read at most limit bytes from `from` (counting from now, what `in`
 * says already included); zsplice_pump then says ZS_DONE once they are
 * all written, or once `from` ended before them (in < limit), and shuts
 * nothing down.
 */
void zsplice_dir_limit(struct zsplice_dir *, uint64_t limit);
/* Queue bytes to be written before anything read from `from`. */
void zsplice_dir_queue(struct zsplice_dir *, const void *, size_t);
/* Give the pipe back (closed if it still holds bytes), free the buffer. */
void zsplice_dir_free(struct zsplice_dir *);
/* Bytes held (queued or in a pipe), not written yet. */
size_t zsplice_dir_held(const struct zsplice_dir *);

/*
 * Move what can be moved from `from` to `to` without blocking (at most
 * about ZSPLICE_BURST bytes); pass the end on once everything before it
 * went.  Returns ZS_READ or ZS_WRITE (wait for that, then call again),
 * ZS_DONE, or ZS_ERROR with errno set.
 */
int zsplice_pump(struct zsplice_dir *, int from, int to);

#endif
