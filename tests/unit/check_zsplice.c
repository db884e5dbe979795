/*
 * check_zsplice: one direction of a tunnel, socket to socket, over real TCP
 * connections on loopback: every byte arrives, in order, then the end;
 * bytes queued first go first; a reader that does not read stops the
 * reading (bounded: one pipe or one buffer held); a socket error is said;
 * pipes go back to the pool.  Each test runs twice: with splice(2), and
 * with the copying fallback (what a seccomp filter refusing splice leaves).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zsplice.h"

/* A connected pair of non-blocking TCP sockets on 127.0.0.1. */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(l, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sa, sizeof sa), 0);
	*b = accept(l, NULL, NULL);
	ck_assert_int_ge(*b, 0);
	close(l);
	fcntl(*a, F_SETFL, O_NONBLOCK);
	fcntl(*b, F_SETFL, O_NONBLOCK);
}

/* Wait (5 s at most) for fd to be ready for `events`, or in error. */
static void
ready(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};

	ck_assert_int_eq(poll(&p, 1, 5000), 1);
}

/*
 * The writer's end -> [from  pump  to] -> the reader's end.  copy: the
 * pool refuses splice(2), as after EPERM.
 */
struct rig {
	int writer, from, to, reader;
	struct zsplice_pool pool;
	struct zsplice_dir d;
};

static void
rig_open(struct rig *g, int copy)
{
	tcp_pair(&g->writer, &g->from);
	tcp_pair(&g->to, &g->reader);
	zsplice_pool_init(&g->pool, ZSPLICE_MAX_PIPES);
	g->pool.nosplice = copy ? EPERM : 0;
	zsplice_dir_init(&g->d, &g->pool);
}

static void
rig_close(struct rig *g)
{
	zsplice_dir_free(&g->d);
	ck_assert_uint_eq(g->pool.lent, 0);
	zsplice_pool_clear(&g->pool);
	ck_assert_uint_eq(g->pool.nidle, 0);
	close(g->writer);
	close(g->from);
	close(g->to);
	close(g->reader);
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 4099) & 0xff);
}

/* Write pattern bytes [*sent, n) until the socket is full. */
static void
feed(int fd, size_t *sent, size_t n)
{
	unsigned char buf[65536];

	while (*sent < n) {
		size_t k = n - *sent < sizeof buf ? n - *sent : sizeof buf;
		ssize_t w;
		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(*sent + i);
		w = write(fd, buf, k);
		if (w <= 0)
			break;
		*sent += (size_t)w;
	}
}

/* Read what is there, checking the pattern; 1 at the end of the stream. */
static int
take(int fd, size_t *got)
{
	unsigned char buf[65536];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r == 0)
			return 1;
		if (r < 0) {
			ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
			return 0;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(*got + (size_t)i))
				ck_abort_msg(
				    "byte %zu differs", *got + (size_t)i);
		*got += (size_t)r;
	}
}

START_TEST(test_every_byte_then_the_end)
{
	struct rig g;
	size_t n = 24u << 20, sent = 0, got = 0;
	int r = 0, ended = 0;

	rig_open(&g, _i);
	for (int turns = 0; !ended && turns < 1000000; turns++) {
		feed(g.writer, &sent, n);
		if (sent == n && r != ZS_DONE && !g.d.eof)
			shutdown(g.writer, SHUT_WR);
		r = zsplice_pump(&g.d, g.from, g.to);
		ck_assert_int_ne(r, ZS_ERROR);
		ended = take(g.reader, &got);
	}
	ck_assert(ended);
	ck_assert_uint_eq(got, n);
	ck_assert_int_eq(r, ZS_DONE);
	ck_assert(g.d.eof && g.d.shut);
	ck_assert_uint_eq(g.d.in, n);
	ck_assert_uint_eq(g.d.out, n);
	ck_assert_uint_eq(zsplice_dir_held(&g.d), 0);
	if (_i) {
		ck_assert_uint_eq(g.d.spliced, 0);
		ck_assert_uint_eq(g.pool.spliced, 0);
		ck_assert_uint_eq(g.pool.copied, n);
	} else {
		ck_assert_uint_eq(g.d.spliced, n);
		ck_assert_uint_eq(g.pool.spliced, n);
		ck_assert_uint_eq(g.pool.copied, 0);
		/* one pipe, lent and given back again and again */
		ck_assert_uint_eq(g.pool.pipes_made, 1);
		ck_assert_uint_eq(g.pool.nidle, 1);
	}
	/* done is done */
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_DONE);
	rig_close(&g);
}
END_TEST

START_TEST(test_queued_bytes_go_first)
{
	struct rig g;
	char buf[64];
	ssize_t k;
	size_t got = 0;

	rig_open(&g, _i);
	zsplice_dir_queue(&g.d, "HTTP/1.1 200 OK\r\n\r\n", 19);
	zsplice_dir_queue(&g.d, "early", 5);
	ck_assert_uint_eq(zsplice_dir_held(&g.d), 24);
	ck_assert_int_eq(write(g.writer, "later", 5), 5);
	ready(g.from, POLLIN);
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_READ);
	while (got < 29) {
		ready(g.reader, POLLIN);
		k = read(g.reader, buf + got, sizeof buf - got);
		ck_assert_int_gt(k, 0);
		got += (size_t)k;
	}
	ck_assert_uint_eq(got, 29);
	ck_assert(memcmp(buf, "HTTP/1.1 200 OK\r\n\r\nearlylater", 29) == 0);
	/* (queued bytes are not counted as read: the caller counts them) */
	ck_assert_uint_eq(g.d.in, 5);
	ck_assert_uint_eq(g.d.out, 29);
	rig_close(&g);
}
END_TEST

/*
 * A counted direction (a response body of known length on a kept
 * connection): exactly its bytes go, not one of what follows them, and
 * nothing is shut down -- the next message is the sockets' own.
 */
START_TEST(test_a_counted_direction_stops_at_its_count)
{
	struct rig g;
	size_t n = 3u << 20, body = n - 1000, sent = 0, got = 0;
	int r = 0;
	unsigned char rest[2000];
	ssize_t k;

	rig_open(&g, _i);
	zsplice_dir_limit(&g.d, body);
	for (int turns = 0; got < body && turns < 1000000; turns++) {
		feed(g.writer, &sent, n);
		r = zsplice_pump(&g.d, g.from, g.to);
		ck_assert_int_ne(r, ZS_ERROR);
		ck_assert_int_eq(take(g.reader, &got), 0);
	}
	ck_assert_uint_eq(got, body);
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_DONE);
	ck_assert(!g.d.eof && !g.d.shut);
	ck_assert_uint_eq(g.d.in, body);
	ck_assert_uint_eq(zsplice_dir_held(&g.d), 0);
	/* what followed the count is still in `from`, untouched */
	ready(g.from, POLLIN);
	k = read(g.from, rest, sizeof rest);
	ck_assert_int_eq(k, 1000);
	for (ssize_t i = 0; i < k; i++)
		ck_assert_uint_eq(rest[i], pattern(body + (size_t)i));
	/* and `to` was not shut: the reader sees no end */
	ck_assert_int_eq(take(g.reader, &got), 0);
	rig_close(&g);
}
END_TEST

/* A counted direction whose source ends early: done, short, not shut. */
START_TEST(test_a_counted_direction_that_ends_short)
{
	struct rig g;
	size_t sent = 0, got = 0;
	int r = ZS_READ;

	rig_open(&g, _i);
	zsplice_dir_limit(&g.d, 100000);
	feed(g.writer, &sent, 5000);
	shutdown(g.writer, SHUT_WR);
	for (int turns = 0; r != ZS_DONE && turns < 100000; turns++) {
		r = zsplice_pump(&g.d, g.from, g.to);
		ck_assert_int_ne(r, ZS_ERROR);
	}
	ck_assert_int_eq(r, ZS_DONE);
	ck_assert(g.d.eof && !g.d.shut);
	ck_assert_uint_eq(g.d.in, 5000);
	while (got < 5000) {
		ready(g.reader, POLLIN);
		ck_assert_int_eq(take(g.reader, &got), 0);
	}
	ck_assert_uint_eq(got, 5000);
	rig_close(&g);
}
END_TEST

/* Which side failed: writing `to` (the reader reset) is said as such. */
START_TEST(test_a_write_error_says_so)
{
	struct rig g;
	size_t sent = 0;
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int r = ZS_READ;

	rig_open(&g, _i);
	setsockopt(g.reader, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(g.reader);
	g.reader = socket(AF_INET, SOCK_STREAM, 0); /* (for rig_close) */
	for (int turns = 0; r != ZS_ERROR && turns < 100000; turns++) {
		feed(g.writer, &sent, 1u << 20);
		r = zsplice_pump(&g.d, g.from, g.to);
	}
	ck_assert_int_eq(r, ZS_ERROR);
	ck_assert(g.d.to_failed);
	rig_close(&g);
}
END_TEST

/* Whether a pool would lend a pipe now: callers with a better copy ask. */
START_TEST(test_can_lend)
{
	struct zsplice_pool p;

	zsplice_pool_init(&p, 0);
	ck_assert(!zsplice_pool_can_lend(&p)); /* (no pipes allowed) */
	zsplice_pool_init(&p, 2);
	ck_assert(zsplice_pool_can_lend(&p));
	p.lent = 2; /* (both lent) */
	ck_assert(!zsplice_pool_can_lend(&p));
	p.lent = 1;
	p.backoff = 3; /* (a pipe could not be made a moment ago) */
	ck_assert(!zsplice_pool_can_lend(&p));
	p.backoff = 0;
	p.nosplice = EPERM; /* (splice(2) refused here) */
	ck_assert(!zsplice_pool_can_lend(&p));
}
END_TEST

START_TEST(test_a_reader_that_does_not_read_stops_the_reading)
{
	struct rig g;
	size_t n = 64u << 20, sent = 0, got = 0, bound;
	uint64_t in;
	int r = 0;

	rig_open(&g, _i);
	bound = _i ? ZSPLICE_BUF : ZSPLICE_PIPE;
	/* fill everything: the writer's socket, ours, the reader's */
	for (int turns = 0; turns < 10000 && r != ZS_WRITE; turns++) {
		feed(g.writer, &sent, n);
		r = zsplice_pump(&g.d, g.from, g.to);
		ck_assert_int_ne(r, ZS_ERROR);
	}
	ck_assert_int_eq(r, ZS_WRITE);
	ck_assert(sent < n); /* the writer was stopped too */
	ck_assert_uint_gt(zsplice_dir_held(&g.d), 0);
	ck_assert_uint_le(zsplice_dir_held(&g.d), bound);
	ck_assert_uint_eq(g.d.in - g.d.out, zsplice_dir_held(&g.d));
	if (!_i)
		ck_assert_uint_eq(g.pool.lent, 1); /* the pipe holding them */
	/* while it waits, nothing more is read */
	in = g.d.in;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_WRITE);
	ck_assert_uint_eq(g.d.in, in);
	/* then the reader reads: everything arrives, in order */
	for (int turns = 0; got < n && turns < 1000000; turns++) {
		feed(g.writer, &sent, n);
		if (sent == n && !g.d.eof)
			shutdown(g.writer, SHUT_WR);
		r = zsplice_pump(&g.d, g.from, g.to);
		ck_assert_int_ne(r, ZS_ERROR);
		take(g.reader, &got);
	}
	ck_assert_uint_eq(got, n);
	rig_close(&g);
}
END_TEST

START_TEST(test_a_reset_reader_is_an_error)
{
	struct rig g;
	struct linger lg = {1, 0};
	size_t sent = 0;
	int r = 0;

	rig_open(&g, _i);
	/* bytes held for a reader that goes away with a RST */
	for (int turns = 0; turns < 10000 && r != ZS_WRITE; turns++) {
		feed(g.writer, &sent, 64u << 20);
		r = zsplice_pump(&g.d, g.from, g.to);
	}
	ck_assert_int_eq(r, ZS_WRITE);
	setsockopt(g.reader, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(g.reader);
	g.reader = open("/dev/null", O_RDONLY); /* (for rig_close) */
	ready(g.to, POLLOUT); /* (the RST: POLLERR) */
	errno = 0;
	r = zsplice_pump(&g.d, g.from, g.to);
	ck_assert_int_eq(r, ZS_ERROR);
	ck_assert(errno == ECONNRESET || errno == EPIPE);
	/* a pipe that still holds bytes is closed, not given back */
	zsplice_dir_free(&g.d);
	ck_assert_uint_eq(g.pool.lent, 0);
	ck_assert_uint_eq(g.pool.nidle, 0);
	rig_close(&g);
}
END_TEST

START_TEST(test_an_idle_direction_holds_no_pipe_nor_buffer)
{
	struct rig g;
	char buf[16];

	rig_open(&g, _i);
	/* (nothing to read: the pipe it tried with went back at once) */
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_READ);
	ck_assert_uint_eq(g.pool.lent, 0);
	ck_assert_ptr_null(g.d.pipe);
	ck_assert_ptr_null(g.d.buf);
	ck_assert_int_eq(write(g.writer, "ping", 4), 4);
	ready(g.from, POLLIN);
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_READ);
	ready(g.reader, POLLIN);
	ck_assert_int_eq(read(g.reader, buf, sizeof buf), 4);
	/*
	 * Waiting to read, it holds nothing: the pipe that carried the
	 * bytes is idle in the pool, the copy buffer is freed (else every
	 * idle tunnel that ever copied keeps 64 KiB a direction).
	 */
	ck_assert_ptr_null(g.d.pipe);
	ck_assert_ptr_null(g.d.buf);
	ck_assert_uint_eq(g.pool.lent, 0);
	if (!_i) {
		ck_assert_uint_eq(g.pool.pipes_made, 1);
		ck_assert_uint_eq(g.pool.nidle, 1);
	} else
		ck_assert_uint_eq(g.pool.copied, 4);
	/* the end too */
	shutdown(g.writer, SHUT_WR);
	ready(g.from, POLLIN);
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_DONE);
	ck_assert_ptr_null(g.d.buf);
	rig_close(&g);
}
END_TEST

/*
 * Two directions, both held up by a reader that does not read, from one
 * pool of max_pipes pipes: with 1, one holds the pipe and the other
 * copies (its bytes in a buffer); with 0 both copy.  Every byte
 * arrives all the same once the readers read.
 */
START_TEST(test_a_pool_holds_no_more_than_its_pipes)
{
	struct rig a, b;
	size_t n = 8u << 20, sent[2] = {0, 0}, got[2] = {0, 0};
	int r[2] = {0, 0};
	unsigned max = (unsigned)_i;

	rig_open(&a, 0);
	rig_open(&b, 0);
	/* b lends from a's pool */
	zsplice_pool_init(&a.pool, max);
	zsplice_dir_init(&b.d, &a.pool);
	for (int turns = 0;
	     turns < 10000 && (r[0] != ZS_WRITE || r[1] != ZS_WRITE); turns++) {
		feed(a.writer, &sent[0], n);
		feed(b.writer, &sent[1], n);
		r[0] = zsplice_pump(&a.d, a.from, a.to);
		r[1] = zsplice_pump(&b.d, b.from, b.to);
		ck_assert_int_ne(r[0], ZS_ERROR);
		ck_assert_int_ne(r[1], ZS_ERROR);
	}
	ck_assert_int_eq(r[0], ZS_WRITE);
	ck_assert_int_eq(r[1], ZS_WRITE);
	ck_assert_uint_le(a.pool.lent + a.pool.nidle, max);
	ck_assert_uint_eq(a.pool.pipes_made, max);
	if (max == 1) {
		/* one holds the pipe, the other its buffer */
		ck_assert_int_eq((a.d.pipe != NULL) + (b.d.pipe != NULL), 1);
		ck_assert_int_eq((a.d.buf != NULL) + (b.d.buf != NULL), 1);
		ck_assert_uint_gt(a.pool.copied, 0);
	} else
		ck_assert_uint_eq(a.pool.spliced, 0);
	for (int turns = 0; (got[0] < n || got[1] < n) && turns < 1000000;
	     turns++) {
		feed(a.writer, &sent[0], n);
		feed(b.writer, &sent[1], n);
		if (sent[0] == n && !a.d.eof)
			shutdown(a.writer, SHUT_WR);
		if (sent[1] == n && !b.d.eof)
			shutdown(b.writer, SHUT_WR);
		ck_assert_int_ne(zsplice_pump(&a.d, a.from, a.to), ZS_ERROR);
		ck_assert_int_ne(zsplice_pump(&b.d, b.from, b.to), ZS_ERROR);
		take(a.reader, &got[0]);
		take(b.reader, &got[1]);
	}
	ck_assert_uint_eq(got[0], n);
	ck_assert_uint_eq(got[1], n);
	ck_assert_uint_eq(a.pool.spliced + a.pool.copied, 2 * n);
	ck_assert_uint_le(a.pool.pipes_made, max);
	zsplice_dir_free(&b.d);
	rig_close(&a);
	zsplice_pool_clear(&b.pool);
	close(b.writer);
	close(b.from);
	close(b.to);
	close(b.reader);
}
END_TEST

/* Pump until the reader has `until` bytes (or everything, then the end). */
static void
pump_until(struct rig *g, size_t *sent, size_t n, size_t *got, size_t until)
{
	for (int turns = 0; *got < until && turns < 1000000; turns++) {
		feed(g->writer, sent, n);
		if (*sent == n && !g->d.eof)
			shutdown(g->writer, SHUT_WR);
		ck_assert_int_ne(zsplice_pump(&g->d, g->from, g->to), ZS_ERROR);
		take(g->reader, got);
	}
	ck_assert_uint_ge(*got, until);
}

/*
 * No descriptor left for a pipe (as no pipe memory left: the pool cannot
 * make one): the bytes are copied, and the pool says why for the caller
 * to log.  Once pipes can be made again (after the backoff) the rest is
 * spliced; every byte arrives once, in order, across the changes.
 */
START_TEST(test_a_pipe_that_cannot_be_made_copies)
{
	struct rig g;
	struct rlimit rl, low;
	size_t n = 16u << 20, sent = 0, got = 0;
	int probe;

	rig_open(&g, 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	probe = dup(0); /* the lowest free descriptor: none below it */
	ck_assert_int_ge(probe, 0);
	close(probe);
	low = rl;
	low.rlim_cur = (rlim_t)probe;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	pump_until(&g, &sent, n, &got, 1u << 20);
	ck_assert_uint_eq(g.pool.pipes_made, 0);
	ck_assert_uint_eq(g.pool.spliced, 0);
	ck_assert_uint_ge(g.pool.pipe_failures, 1);
	ck_assert_str_eq(g.pool.pipe_call, "pipe2");
	ck_assert_int_eq(g.pool.pipe_errno, EMFILE);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	pump_until(&g, &sent, n, &got, n);
	/* then the end (the writer's FIN went long ago) */
	ready(g.from, POLLIN);
	ck_assert_int_eq(zsplice_pump(&g.d, g.from, g.to), ZS_DONE);
	ready(g.reader, POLLIN);
	ck_assert_int_eq(take(g.reader, &got), 1);
	ck_assert_uint_eq(got, n);
	ck_assert_uint_ge(g.pool.pipes_made, 1);
	ck_assert_uint_gt(g.pool.spliced, 0);
	ck_assert_uint_gt(g.pool.copied, 0);
	ck_assert_uint_eq(g.pool.spliced + g.pool.copied, n);
	ck_assert_uint_eq(g.d.spliced, g.pool.spliced);
	ck_assert_uint_eq(g.d.in, n);
	ck_assert_uint_eq(g.d.out, n);
	rig_close(&g);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("zsplice");
	TCase *tc = tcase_create("zsplice");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN); /* (the daemon ignores it too) */
	tcase_set_timeout(tc, 60);
	/* _i = 0: splice(2); 1: the copying fallback */
	tcase_add_loop_test(tc, test_every_byte_then_the_end, 0, 2);
	tcase_add_loop_test(tc, test_queued_bytes_go_first, 0, 2);
	tcase_add_loop_test(
	    tc, test_a_reader_that_does_not_read_stops_the_reading, 0, 2);
	tcase_add_loop_test(tc, test_a_reset_reader_is_an_error, 0, 2);
	tcase_add_loop_test(
	    tc, test_a_counted_direction_stops_at_its_count, 0, 2);
	tcase_add_loop_test(tc, test_a_counted_direction_that_ends_short, 0, 2);
	tcase_add_loop_test(tc, test_a_write_error_says_so, 0, 2);
	tcase_add_loop_test(
	    tc, test_an_idle_direction_holds_no_pipe_nor_buffer, 0, 2);
	/* _i: the pool's max_pipes */
	tcase_add_loop_test(tc, test_a_pool_holds_no_more_than_its_pipes, 0, 2);
	tcase_add_test(tc, test_a_pipe_that_cannot_be_made_copies);
	tcase_add_test(tc, test_can_lend);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
