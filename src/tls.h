/*
 * tls: OpenSSL contexts for upstream TLS and the interception CA.
 */
#ifndef RP_TLS_H
#define RP_TLS_H

/*
 * Check an interception CA: the certificate parses and is a CA
 * (basicConstraints CA:TRUE), the key parses and matches it.  Returns 0,
 * or -1 with *cause (heap string).
 */
int tls_check_ca(const char *cert_path, const char *key_path, char **cause);

#include <stdbool.h>

struct ssl_ctx_st;
struct ssl_st;

/*
 * The options of every client TLS bufferevent (both lanes, and through a
 * parent's tunnel): BEV_OPT_DEFER_CALLBACKS, because libevent 2.1.12's
 * OpenSSL bufferevent runs the event callback of an end or error met in
 * a read (do_read: conn_closed) before it commits what the same read got
 * just before it (evbuffer_commit_space comes after the loop), and runs
 * the read callback for it only after that: the owner saw the end, or the
 * reset, without the last bytes before it, and was gone by the time they
 * came.  Deferred, the callbacks run later in the loop, the read one
 * first.  Without it an origin's last record that came in the same read
 * as its close (FIN or reset) was lost to the raw lane: a response whose
 * head came in two records, the second with the close, got a 502 after
 * three attempts, every time (test_https.py,
 * test_tls_last_record_with_the_close).  evhttp's lane had the option
 * from the start.
 */
#define TLS_BEV_OPTIONS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

/*
 * A client context for upstream TLS: TLS 1.2+, peer verification against
 * trust ("system" or a PEM file); with verify false, none (trust is not
 * loaded: its connections are verify = no's).  NULL with *cause on error.
 */
struct ssl_ctx_st *tls_client_ctx_new(
    const char *trust, bool verify, char **cause);
/* Another reference to ctx (NULL: NULL); tls_ctx_free drops one. */
struct ssl_ctx_st *tls_ctx_ref(struct ssl_ctx_st *);
void tls_ctx_free(struct ssl_ctx_st *);
/*
 * What a client context trusts, as 32 hex digits (a digest of its
 * certificates): the same for contexts made from the same trust, whichever
 * worker or reload made them.  A connection made under one trust must not
 * serve under another (a reload that changes it).
 */
const char *tls_client_trust(const struct ssl_ctx_st *);
/*
 * A connection for host (a name or an IP literal) and port: SNI for names,
 * and, with verify, the chain and the name or address are checked.  A
 * failed check stores its X509_V_ERR code in *verify_err.  It offers a
 * session kept from an earlier connection to the same host, port and
 * verify setting under the same trust, made by any worker's context, if
 * any (resumption, RFC 8446 section 2.2).
 */
struct ssl_st *tls_client_ssl(struct ssl_ctx_st *, const char *host,
    unsigned port, bool verify, int *verify_err);
/*
 * evhttp reconnects a closed connection with the same SSL, reset for a
 * new handshake (SSL_clear, which forgets a session not shut down with
 * close_notify, as evhttp never does): offer it a kept session again.
 * Call after each request is handed to evhttp; a no-op unless the SSL
 * was reset.
 */
void tls_client_reconnected(struct ssl_st *);
/* Free the kept sessions (at exit, once no worker runs). */
void tls_sessions_free(void);
/* Describe an X509_V_ERR code. */
const char *tls_verify_error_string(int err);

/* ---- interception ---- */
struct tls_mitm;

/*
 * Load the interception CA and make a server context that mints, on each
 * handshake, a leaf certificate for the name the client asked for (SNI),
 * or for the connection's CONNECT host when it sent none.  Leaves share
 * one EC key and are cached (bounded).  NULL with *cause on error.
 */
struct tls_mitm *tls_mitm_new(
    const char *ca_cert, const char *ca_key, char **cause);
void tls_mitm_free(struct tls_mitm *);
/*
 * A server-side SSL for one intercepted connection to host (which must
 * outlive it).
 */
struct ssl_st *tls_mitm_ssl(struct tls_mitm *, const char *host);

/*
 * Create an interception CA in dir: ca.pem (the certificate, to trust)
 * and ca.key (mode 0600).  Returns 0, or -1 with *cause.
 */
int tls_make_ca(const char *dir, char **cause);

#endif
