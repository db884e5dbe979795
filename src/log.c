/*
 * log: diagnostics and the access log.  Lines are formatted into a
 * buffer and written with one write(2), so threads never interleave
 * inside a line and no lock is taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"
#include "util.h"

static _Atomic int log_level = LOG_LEVEL_INFO;
static int log_verbose;
static _Atomic int access_fd = 2;
static _Atomic int access_json;
static char *access_path;
static pthread_mutex_t access_lock = PTHREAD_MUTEX_INITIALIZER;
static int journald; /* stderr goes to the journal: use <N> prefixes */

void
log_init(int verbose)
{
	log_verbose = verbose;
	journald = getenv("JOURNAL_STREAM") != NULL;
	atomic_store(&log_level,
	    LOG_LEVEL_INFO + verbose > LOG_LEVEL_DEBUG
		? LOG_LEVEL_DEBUG
		: LOG_LEVEL_INFO + verbose);
}

static int
open_access(const char *path)
{
	if (strcmp(path, "stderr") == 0)
		return 2;
	if (strcmp(path, "off") == 0)
		return -1;
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_configure(const struct config *c, char **cause)
{
	int level = (int)c->proxy.log_level + log_verbose;
	int fd, old;

	atomic_store(
	    &log_level, level > LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : level);
	fd = open_access(c->proxy.access_log);
	if (fd == -1 && strcmp(c->proxy.access_log, "off") != 0) {
		*cause = xasprintf("cannot open access_log %s: %s",
		    c->proxy.access_log, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&access_lock);
	free(access_path);
	access_path = xstrdup(c->proxy.access_log);
	old = atomic_exchange(&access_fd, fd);
	atomic_store(
	    &access_json, c->proxy.access_log_format == LOG_FORMAT_JSON);
	pthread_mutex_unlock(&access_lock);
	if (old > 2)
		close(old);
	return 0;
}

void
log_reopen(void)
{
	int fd, old;

	pthread_mutex_lock(&access_lock);
	if (access_path == NULL || strcmp(access_path, "stderr") == 0 ||
	    strcmp(access_path, "off") == 0) {
		pthread_mutex_unlock(&access_lock);
		return;
	}
	fd = open_access(access_path);
	if (fd == -1) {
		pthread_mutex_unlock(&access_lock);
		log_warn("cannot reopen access_log %s", access_path);
		return;
	}
	old = atomic_exchange(&access_fd, fd);
	pthread_mutex_unlock(&access_lock);
	if (old > 2)
		close(old);
	log_info("access log %s reopened", access_path);
}

void
log_close(void)
{
	int old = atomic_exchange(&access_fd, -1);

	if (old > 2)
		close(old);
	free(access_path);
	access_path = NULL;
}

static void
vlog(int level, int with_errno, const char *fmt, va_list ap)
{
	static const char *const names[] = {
	    "error", "warning", "info", "debug"};
	static const int prio[] = {3, 4, 6, 7};
	char buf[2048];
	int saved = errno, n;

	if (level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	if (journald)
		n = snprintf(buf, sizeof buf, "<%d>", prio[level]);
	else
		n = snprintf(buf, sizeof buf, "retryproxy: %s: ", names[level]);
	n += vsnprintf(buf + n, sizeof buf - (size_t)n - 2, fmt, ap);
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	if (with_errno)
		n += snprintf(buf + n, sizeof buf - (size_t)n - 1, ": %s",
		    strerror(saved));
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	(void)!write(2, buf, (size_t)n);
}

#define LOGFN(name, level, e)                                                  \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, e, fmt, ap);                                       \
		va_end(ap);                                                    \
	}

LOGFN(log_errorx, LOG_LEVEL_ERROR, 0)
LOGFN(log_warnx, LOG_LEVEL_WARN, 0)
LOGFN(log_warn, LOG_LEVEL_WARN, 1)
LOGFN(log_info, LOG_LEVEL_INFO, 0)
LOGFN(log_debug, LOG_LEVEL_DEBUG, 0)

int
log_debug_enabled(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed) >=
	    LOG_LEVEL_DEBUG;
}

void
log_access(const char *line, size_t len)
{
	int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);

	if (fd >= 0)
		(void)!write(fd, line, len);
}

int
log_access_enabled(void)
{
	return atomic_load_explicit(&access_fd, memory_order_relaxed) >= 0;
}

int
log_access_json(void)
{
	return atomic_load_explicit(&access_json, memory_order_relaxed);
}

void
log_access_entry(struct sbuf *line, const struct access_entry *e)
{
	line->len = 0;
	accesslog_format(e, log_access_json(), line);
	log_access(line->s, line->len);
}
