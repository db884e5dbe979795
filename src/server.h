/*
 * server: the running daemon -- workers, signals, reload (their
 * listening sockets: listeners.h).
 */
#ifndef RP_SERVER_H
#define RP_SERVER_H

#include "config.h"

/*
 * Run until SIGTERM/SIGINT.  path is the config file to re-read on
 * SIGHUP (NULL: built-in defaults).  Returns the process exit code.
 */
int server_run(struct config *, const char *path, const struct config_options *,
    int verbose);

#endif
