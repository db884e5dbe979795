/*
 * front: per-connection handling in front of evhttp -- raw request
 * scanning (reqscan), the slow-request limit, max_connections, and the
 * connection's close callback shared by the requests on it.
 */
#ifndef RP_FRONT_H
#define RP_FRONT_H

#include <stdbool.h>

struct evconnlistener;
struct evhttp_connection;
struct worker;

/* Install on the worker's evhttp (after evhttp_new). */
void front_init(struct worker *, unsigned max_conns);
/* In the worker's thread, before its loop runs. */
void front_thread_init(struct worker *);
/*
 * Pause accepting on l for 100 ms when accept() fails for want of file
 * descriptors or memory (libevent would otherwise retry at once, forever).
 */
void front_watch_listener(struct worker *, struct evconnlistener *l);
/* After evhttp_free. */
void front_free(struct worker *);
/* Has any client connection replies not yet written (for a clean stop)? */
bool front_output_pending(struct worker *);
/* Client connections open on this worker. */
unsigned front_connections(const struct worker *);

#endif
