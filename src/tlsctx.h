/*
 * tlsctx: the upstream TLS client contexts, one for the process that
 * verifies against [tls] trust and one for verify = no, each made for a
 * configuration generation.  Loading a trust (the system's store: ~140
 * certificates) takes ~60 ms and 4 MiB: a worker that made its own at its
 * first TLS request, and again after each reload, kept all its clients
 * waiting that long.  The main thread makes the verifying one before it
 * installs a configuration that verifies origins over TLS (config
 * tls_verifies); else the first worker to need one does (a request for an
 * https:// URL), as it does the other (which loads nothing).  A trust that
 * cannot be loaded is logged once a generation; its requests fail.
 */
#ifndef RP_TLSCTX_H
#define RP_TLSCTX_H

#include <stdbool.h>

struct config;
struct ssl_ctx_st;

/*
 * A reference to the context (verify or not) for generation gen of c,
 * made now if none is, or NULL (its trust could not be loaded).  A caller
 * still on an older generation gets the newest: it is about to move to
 * it.  tls_ctx_free drops the reference.
 */
struct ssl_ctx_st *tlsctx_get(
    unsigned gen, const struct config *c, bool verify);
/* Make the verifying context of generation gen now (the main thread). */
void tlsctx_prepare(unsigned gen, const struct config *c);
/* Drop the process's references (at the end; workers drop their own). */
void tlsctx_free_all(void);

#endif
