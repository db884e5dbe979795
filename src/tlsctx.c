/*
 * tlsctx: the process's upstream TLS client contexts (see tlsctx.h).
 * Workers hold references: an SSL_CTX may be shared by threads once made
 * (OpenSSL locks what SSL_new and handshakes change in it; the sessions
 * are tls.c's store, one for the process anyway).  A context is made
 * outside the lock, so no worker waits on it while a trust store loads
 * (two threads may both make one at a worker's first use: the first is
 * kept, the other freed).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "tls.h"
#include "tlsctx.h"

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ssl_ctx_st *g_tls_ctx[2]; /* [verify] */
static unsigned g_tls_gen[2]; /* each one's generation (0: none yet) */

struct ssl_ctx_st *
tlsctx_get(unsigned gen, const struct config *c, bool verify)
{
	struct ssl_ctx_st *ctx, *made, *old = NULL;
	char *cause = NULL;

	pthread_mutex_lock(&tls_lock);
	if (gen <= g_tls_gen[verify]) {
		ctx = tls_ctx_ref(g_tls_ctx[verify]);
		pthread_mutex_unlock(&tls_lock);
		return ctx;
	}
	pthread_mutex_unlock(&tls_lock);
	/* (made unlocked: no worker waits on the lock while a store loads) */
	made = tls_client_ctx_new(c->tls.trust, verify, &cause);
	pthread_mutex_lock(&tls_lock);
	if (gen > g_tls_gen[verify]) {
		old = g_tls_ctx[verify];
		g_tls_ctx[verify] = made;
		g_tls_gen[verify] = gen;
		if (made == NULL)
			log_warnx("upstream TLS unavailable: %s", cause);
		made = NULL;
	}
	ctx = tls_ctx_ref(g_tls_ctx[verify]);
	pthread_mutex_unlock(&tls_lock);
	tls_ctx_free(made); /* (another thread's came first) */
	tls_ctx_free(old);
	free(cause);
	return ctx;
}
void
tlsctx_prepare(unsigned gen, const struct config *c)
{
	tls_ctx_free(tlsctx_get(gen, c, true));
}

void
tlsctx_free_all(void)
{
	for (int v = 0; v < 2; v++) {
		tls_ctx_free(g_tls_ctx[v]);
		g_tls_ctx[v] = NULL;
		g_tls_gen[v] = 0;
	}
}
