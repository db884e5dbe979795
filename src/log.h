/*
 * log: diagnostics to stderr (level-filtered) and the access log
 * (stderr, off or a file, reopened on SIGUSR1).  Thread-safe: each line
 * is one write(2).
 */
#ifndef RP_LOG_H
#define RP_LOG_H

#include "config.h"

void log_init(int verbose);
/* Apply [proxy] log_level (raised by -v) and open access_log; -1 on error. */
int log_configure(const struct config *, char **cause);
/* Reopen the access log file (SIGUSR1). */
void log_reopen(void);
void log_close(void);

void log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
int log_debug_enabled(void);

/* Write one formatted access line (already ending in '\n'). */
void log_access(const char *line, size_t len);
/* Is the access log on, and is it JSON? */
int log_access_enabled(void);
struct access_entry;
struct sbuf;
/*
 * Format e (text or JSON, as configured) into line and write it: every
 * lane's one way to the access log.
 */
void log_access_entry(struct sbuf *line, const struct access_entry *e);
int log_access_json(void);

#endif
