/*
 * listeners: the addresses the daemon listens on, and each worker's
 * listening sockets for them.
 *
 * [proxy] listen and every gateway's address, bound by each worker on its
 * own SO_REUSEPORT socket (the kernel spreads connections over them), or
 * the sockets systemd passed (socket activation: its ListenStream=
 * replaces listen), dup'd into every worker.  An address is tried by the
 * main thread before any worker starts, or before a reload goes live, so
 * that one that cannot be bound is a clear error at once (or keeps the
 * running configuration), never a worker that cannot serve.
 */
#ifndef RP_LISTENERS_H
#define RP_LISTENERS_H

#include "config.h"

struct worker;

/*
 * At start, in the main thread: take systemd's sockets, if any, and try
 * every address c binds itself.  0, or -1 (logged: which address).
 */
int listeners_start(const struct config *c);
/*
 * Before a reload: can every address of c that the running configuration
 * does not bind be bound?  0, or -1 (logged; keep the running one).
 */
int listeners_probe(const struct config *c, const struct config *running);
/* Sockets systemd passed (0: none). */
int listeners_activated(void);
/* Close systemd's sockets once every worker has its own dup of them. */
void listeners_close_activated(void);
/*
 * In worker w's thread: listen on exactly c's addresses (and systemd's
 * sockets): bind the new ones, drop the ones no longer listed.  0, or -1
 * (logged).
 */
int listeners_bind(struct worker *w, const struct config *c);
/* Stop accepting on all of w's listeners (shutting down). */
void listeners_unbind(struct worker *w);
/* Free what listeners_bind kept in w (at its teardown). */
void listeners_worker_free(struct worker *w);
/* At exit: what listeners_start kept. */
void listeners_free(void);

#endif
