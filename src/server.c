/*
 * server: placeholder until the data path lands.
 */
#include <stdio.h>

#include "server.h"

int
server_run(struct config *c, const char *path,
    const struct config_options *opts, int verbose)
{
	fprintf(stderr, "retryproxy: the data path is not built yet\n");
	return 1;
}
