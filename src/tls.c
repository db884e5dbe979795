/*
 * tls: OpenSSL glue: the client context for upstream TLS (verification,
 * and a session cache, shared by the workers, so new connections to an
 * origin resume), the interception CA and its minted leaves.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <string.h>
#include <stdio.h>

#include "metrics.h"
#include "tls.h"
#include "util.h"

static char *
ssl_cause(const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return xasprintf("%s %s%s%s", what, path, *buf ? ": " : "", buf);
}

int
tls_check_ca(const char *cert_path, const char *key_path, char **cause)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	FILE *f;
	int rc = -1;

	if ((f = fopen(cert_path, "r")) == NULL) {
		*cause = xasprintf("cannot read ca_cert %s", cert_path);
		return -1;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (cert == NULL) {
		*cause = ssl_cause("no PEM certificate in ca_cert", cert_path);
		goto out;
	}
	if (X509_check_ca(cert) != 1) {
		*cause = xasprintf("ca_cert %s is not a CA certificate "
				   "(basicConstraints CA:TRUE is missing)",
		    cert_path);
		goto out;
	}
	if ((f = fopen(key_path, "r")) == NULL) {
		*cause = xasprintf("cannot read ca_key %s", key_path);
		goto out;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		*cause = ssl_cause("no PEM private key in ca_key", key_path);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		*cause = xasprintf(
		    "ca_key %s does not match ca_cert %s", key_path, cert_path);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

static int ex_idx = -1; /* SSL: the caller's verify_err slot */
static int note_idx = -1; /* SSL: struct conn_note */
static int trust_idx = -1; /* SSL_CTX: its trust's fingerprint (hex) */
/* a context that verifies nothing: no trust (not hex) */
#define NO_TRUST "none"

static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

/*
 * Client sessions.  OpenSSL's client side keeps no cache it would look up
 * by itself: the sessions (TLS 1.2) and tickets (TLS 1.3) an origin gives
 * are kept here, one store for the process, and offered to the next new
 * connection to the same host, port, verify setting and trust, whichever
 * worker (and so whichever context) makes it: a client session is not
 * tied to the context that got it, only to the origin, name and protocol.
 * A TLS 1.3 ticket is offered once (RFC 8446 appendix C.4: a client should
 * not reuse one), so a few are kept per origin, and taking one removes it
 * under the lock, so no two connections get the same; a TLS 1.2 session
 * is offered until it expires.  A resumed session was verified when it
 * was made, against the same trust (its fingerprint is in the key: a
 * reload that changes the trust file, or its contents, starts afresh)
 * and the same name.  The lock guards the slots only: copies are made,
 * and sessions freed, outside it.
 */
#define SESS_SLOTS 512 /* origins (direct-mapped): 2 workers' worth before */
#define SESS_PER_SLOT 4 /* TLS 1.3 tickets kept per origin */

struct sess_slot {
	char *key;
	SSL_SESSION *s[SESS_PER_SLOT];
	unsigned n;
};

static struct {
	pthread_mutex_t lock;
	struct sess_slot slot[SESS_SLOTS];
} sess_store = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What a client connection remembers: its origin's key, once counted. */
struct conn_note {
	bool counted;
	char key[];
};

/* Move sl's sessions to drop (for freeing once unlocked); how many. */
static unsigned
slot_empty(struct sess_slot *sl, SSL_SESSION **drop)
{
	unsigned n = sl->n;

	memcpy(drop, sl->s, sizeof sl->s[0] * n);
	sl->n = 0;
	return n;
}

static void
trust_free_cb(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void
note_free_cb(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	free(ptr);
}

static void
make_indexes(void)
{
	ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	note_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, note_free_cb);
	trust_idx =
	    SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, trust_free_cb);
}

static struct sess_slot *
slot_of(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &sess_store.slot[h % SESS_SLOTS];
}

/*
 * OpenSSL made a session (or got a ticket): keep a copy for the next
 * connection.  A copy, because the SSL's own is marked not resumable when
 * evhttp reuses the SSL without having shut it down (SSL_clear).
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *orig)
{
	struct conn_note *note = SSL_get_ex_data(ssl, note_idx);
	SSL_SESSION *drop[SESS_PER_SLOT], *sess;
	struct sess_slot *sl;
	char *key, *old_key = NULL;
	unsigned ndrop = 0;

	if (note == NULL || !SSL_SESSION_is_resumable(orig) ||
	    (sess = SSL_SESSION_dup(orig)) == NULL)
		return 0;
	key = xstrdup(note->key); /* (made here: no allocation when locked) */
	sl = slot_of(key);
	pthread_mutex_lock(&sess_store.lock);
	if (sl->key == NULL || strcmp(sl->key, key) != 0) {
		ndrop = slot_empty(sl, drop); /* another origin had the slot */
		old_key = sl->key;
		sl->key = key;
		key = NULL;
	}
	/* a TLS 1.2 session serves every new connection: the one to keep */
	if (SSL_SESSION_get_protocol_version(sess) < TLS1_3_VERSION)
		ndrop += slot_empty(sl, drop + ndrop);
	if (sl->n == SESS_PER_SLOT) {
		drop[ndrop++] = sl->s[0];
		memmove(sl->s, sl->s + 1, sizeof sl->s[0] * --sl->n);
	}
	sl->s[sl->n++] = sess;
	pthread_mutex_unlock(&sess_store.lock);
	while (ndrop > 0)
		SSL_SESSION_free(drop[--ndrop]);
	free(old_key);
	free(key);
	return 0; /* (orig stays OpenSSL's) */
}

/*
 * Offer the newest live session for key to ssl, if there is one: a TLS 1.3
 * ticket is taken out of the store (used once); a TLS 1.2 session stays,
 * and ssl gets a copy (the SSL_clear that ends ssl's use would mark ours
 * too).
 */
static void
offer_session(SSL *ssl, const char *key)
{
	struct sess_slot *sl = slot_of(key);
	SSL_SESSION *drop[SESS_PER_SLOT], *take = NULL, *give;
	unsigned ndrop = 0;
	time_t now = time(NULL);

	pthread_mutex_lock(&sess_store.lock);
	while (take == NULL && sl->n > 0 && strcmp(sl->key, key) == 0) {
		SSL_SESSION *s = sl->s[sl->n - 1];
		bool live =
		    SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) > now;

		if (!live || !SSL_SESSION_is_resumable(s)) {
			drop[ndrop++] = s;
			sl->n--;
			continue;
		}
		take = s;
		if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION)
			sl->n--; /* used once: no other connection gets it */
		else
			SSL_SESSION_up_ref(s); /* the store keeps its own */
	}
	pthread_mutex_unlock(&sess_store.lock);
	while (ndrop > 0)
		SSL_SESSION_free(drop[--ndrop]);
	if (take == NULL)
		return;
	/* (no one changes a stored session: copying it unlocked is safe) */
	give = SSL_SESSION_get_protocol_version(take) >= TLS1_3_VERSION
	    ? take
	    : SSL_SESSION_dup(take);
	if (give != NULL)
		SSL_set_session(ssl, give); /* (takes its own reference) */
	if (give != take)
		SSL_SESSION_free(give);
	SSL_SESSION_free(take);
}

void
tls_sessions_free(void)
{
	pthread_mutex_lock(&sess_store.lock);
	for (unsigned i = 0; i < SESS_SLOTS; i++) {
		struct sess_slot *sl = &sess_store.slot[i];

		for (unsigned j = 0; j < sl->n; j++)
			SSL_SESSION_free(sl->s[j]);
		sl->n = 0;
		free(sl->key);
		sl->key = NULL;
	}
	pthread_mutex_unlock(&sess_store.lock);
}

static int
digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, SHA256_DIGEST_LENGTH);
}

/*
 * What ctx trusts, as hex: SHA-256 over the kind of store and the sorted
 * digests of the certificates and CRLs it loaded (for "system", the
 * default file, which on Debian is the whole store; its hashed directory
 * is read lazily and so not included).  Sessions are keyed by it.
 */
static char *
trust_fingerprint(SSL_CTX *ctx, bool system)
{
	STACK_OF(X509_OBJECT) *objs =
	    X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	int n = objs != NULL ? sk_X509_OBJECT_num(objs) : 0;
	unsigned char(*d)[SHA256_DIGEST_LENGTH] =
	    xcalloc((size_t)n + 1, sizeof *d);
	unsigned char md[SHA256_DIGEST_LENGTH];
	char *hex = xcalloc(1, 2 * 16 + 1);
	size_t nd = 0;
	unsigned len;

	for (int i = 0; i < n; i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		X509 *x = X509_OBJECT_get0_X509(o);
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);

		if ((x != NULL && X509_digest(x, EVP_sha256(), d[nd], &len)) ||
		    (crl != NULL &&
			X509_CRL_digest(crl, EVP_sha256(), d[nd], &len)))
			nd++;
	}
	qsort(d, nd, sizeof *d, digest_cmp);
	memset(d[nd], system ? 's' : 'f', sizeof d[nd]);
	SHA256(d[0], (nd + 1) * sizeof *d, md);
	free(d);
	/* (128 bits: tells trusts apart, and keeps the key short) */
	for (size_t i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return hex;
}

/* A client handshake finished: count it, new or resumed (once). */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct conn_note *note;

	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	note = SSL_get_ex_data(ssl, note_idx);
	if (note == NULL || note->counted)
		return;
	note->counted = true; /* (TLS 1.3 tickets end "handshakes" too) */
	metrics_tls_handshake(SSL_session_reused((SSL *)ssl) == 1);
}

/* Remember why verification failed: evhttp resets the SSL before telling. */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl;
	int *slot;

	if (ok)
		return ok;
	ssl =
	    X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	slot = ssl != NULL ? SSL_get_ex_data(ssl, ex_idx) : NULL;
	if (slot != NULL && *slot == 0)
		*slot = X509_STORE_CTX_get_error(x);
	return ok;
}

SSL_CTX *
tls_client_ctx_new(const char *trust, bool verify, char **cause)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*cause = ssl_cause("cannot create a TLS context", "");
		return NULL;
	}
	pthread_once(&idx_once, make_indexes);
	SSL_CTX_set_session_cache_mode(
	    ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	SSL_CTX_set_info_callback(ctx, info_cb);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* real servers often end a body without close_notify */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (!verify) {
		/* (no store: 4 MiB and ~60 ms for the system's) */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_ex_data(ctx, trust_idx, xstrdup(NO_TRUST));
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	if (trust == NULL || strcmp(trust, "system") == 0) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			*cause =
			    ssl_cause("cannot load the system CA store", "");
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_load_verify_locations(ctx, trust, NULL) != 1) {
		*cause = ssl_cause("cannot load [tls] trust", trust);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_ex_data(ctx, trust_idx,
	    trust_fingerprint(
		ctx, trust == NULL || strcmp(trust, "system") == 0));
	return ctx;
}

const char *
tls_client_trust(const SSL_CTX *ctx)
{
	return SSL_CTX_get_ex_data(ctx, trust_idx);
}

SSL_CTX *
tls_ctx_ref(SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *
tls_client_ssl(
    SSL_CTX *ctx, const char *host, unsigned port, bool verify, int *verify_err)
{
	SSL *ssl = SSL_new(ctx);
	unsigned char buf[16];
	bool ip = inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
	const char *trust = tls_client_trust(ctx);
	size_t len = strlen(host) + strlen(trust) + 16;
	struct conn_note *note;

	if (ssl == NULL)
		return NULL;
	SSL_set_ex_data(ssl, ex_idx, verify_err);
	note = xcalloc(1, sizeof *note + len);
	snprintf(note->key, len, "%s:%u:%c:%s", host, port, verify ? 'v' : '-',
	    trust);
	SSL_set_ex_data(ssl, note_idx, note);
	offer_session(ssl, note->key);
	if (!ip)
		SSL_set_tlsext_host_name(ssl, host);
	if (!verify)
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	else if (ip)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	else
		SSL_set1_host(ssl, host);
	return ssl;
}

void
tls_client_reconnected(SSL *ssl)
{
	struct conn_note *note = SSL_get_ex_data(ssl, note_idx);

	/* (only an SSL reset for a new connection, not one in use) */
	if (note == NULL || !note->counted || !SSL_in_before(ssl))
		return;
	note->counted = false;
	offer_session(ssl, note->key);
}

const char *
tls_verify_error_string(int err)
{
	return X509_verify_cert_error_string(err);
}

/* ---- interception ---------------------------------------------------- */

#define MITM_CACHE 256

struct mitm_leaf {
	char name[256];
	X509 *cert;
	uint64_t used;
};

struct tls_mitm {
	SSL_CTX *ctx;
	X509 *ca;
	EVP_PKEY *ca_key;
	EVP_PKEY *leaf_key;
	struct mitm_leaf cache[MITM_CACHE];
	uint64_t tick;
	pthread_mutex_t lock; /* the cache is shared by all workers */
};

static int host_idx = -1; /* SSL ex_data: the CONNECT host (no SNI) */

static EVP_PKEY *
ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

static void
random_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();

	BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
	BN_free(bn);
}

/* A leaf for name (a host name or an IP literal), signed by the CA. */
static X509 *
mint(struct tls_mitm *m, const char *name)
{
	X509 *cert = X509_new();
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1;
	char san[300];

	X509_set_version(cert, 2);
	random_serial(cert);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 7L * 24 * 3600);
	X509_set_pubkey(cert, m->leaf_key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(m->ca));
	snprintf(san, sizeof san, "%s:%s", is_ip ? "IP" : "DNS", name);
	if (add_ext(cert, m->ca, NID_subject_alt_name, san) != 0 ||
	    add_ext(cert, m->ca, NID_basic_constraints, "critical,CA:FALSE") !=
		0 ||
	    add_ext(cert, m->ca, NID_key_usage, "critical,digitalSignature") !=
		0 ||
	    add_ext(cert, m->ca, NID_ext_key_usage, "serverAuth") != 0 ||
	    add_ext(cert, m->ca, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(cert, m->ca, NID_authority_key_identifier, "keyid") != 0 ||
	    X509_sign(cert, m->ca_key, EVP_sha256()) == 0) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

static X509 *
leaf_for(struct tls_mitm *m, const char *name)
{
	struct mitm_leaf *slot = &m->cache[0];

	for (size_t i = 0; i < MITM_CACHE; i++) {
		if (m->cache[i].cert != NULL &&
		    strcmp(m->cache[i].name, name) == 0) {
			m->cache[i].used = ++m->tick;
			return m->cache[i].cert;
		}
		if (m->cache[i].used < slot->used)
			slot = &m->cache[i];
	}
	/* not cached: replace the least recently used */
	X509_free(slot->cert);
	slot->cert = mint(m, name);
	snprintf(slot->name, sizeof slot->name, "%s", name);
	slot->used = ++m->tick;
	return slot->cert;
}

static int
mitm_cert_cb(SSL *ssl, void *arg)
{
	struct tls_mitm *m = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	X509 *leaf;
	int rc;

	if (name == NULL)
		name = SSL_get_ex_data(ssl, host_idx);
	if (name == NULL || strlen(name) >= 256)
		return 0;
	pthread_mutex_lock(&m->lock);
	leaf = leaf_for(m, name);
	if (leaf != NULL)
		X509_up_ref(leaf); /* the cache may drop it once unlocked */
	pthread_mutex_unlock(&m->lock);
	if (leaf == NULL)
		return 0;
	rc = SSL_use_certificate(ssl, leaf);
	X509_free(leaf);
	if (rc != 1 || SSL_use_PrivateKey(ssl, m->leaf_key) != 1 ||
	    SSL_add1_chain_cert(ssl, m->ca) != 1)
		return 0;
	return 1;
}

struct tls_mitm *
tls_mitm_new(const char *ca_cert, const char *ca_key, char **cause)
{
	struct tls_mitm *m = xcalloc(1, sizeof *m);
	FILE *f;

	pthread_mutex_init(&m->lock, NULL);
	if ((f = fopen(ca_cert, "r")) != NULL) {
		m->ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if ((f = fopen(ca_key, "r")) != NULL) {
		m->ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	m->leaf_key = ec_key();
	m->ctx = SSL_CTX_new(TLS_server_method());
	if (m->ca == NULL || m->ca_key == NULL || m->leaf_key == NULL ||
	    m->ctx == NULL) {
		*cause = ssl_cause("cannot set up interception with", ca_cert);
		tls_mitm_free(m);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(m->ctx, TLS1_2_VERSION);
	SSL_CTX_set_cert_cb(m->ctx, mitm_cert_cb, m);
	if (host_idx == -1)
		host_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return m;
}

void
tls_mitm_free(struct tls_mitm *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < MITM_CACHE; i++)
		X509_free(m->cache[i].cert);
	SSL_CTX_free(m->ctx);
	X509_free(m->ca);
	EVP_PKEY_free(m->ca_key);
	EVP_PKEY_free(m->leaf_key);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

SSL *
tls_mitm_ssl(struct tls_mitm *m, const char *host)
{
	SSL *ssl = SSL_new(m->ctx);

	if (ssl != NULL)
		SSL_set_ex_data(ssl, host_idx, (void *)host);
	return ssl;
}

int
tls_make_ca(const char *dir, char **cause)
{
	char *certp = xasprintf("%s/ca.pem", dir);
	char *keyp = xasprintf("%s/ca.key", dir);
	EVP_PKEY *key = ec_key();
	X509 *cert = X509_new();
	FILE *f = NULL;
	int fd, rc = -1;

	if (key == NULL || cert == NULL) {
		*cause = ssl_cause("cannot generate a key", "");
		goto out;
	}
	X509_set_version(cert, 2);
	random_serial(cert);
	X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
	X509_set_pubkey(cert, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)"retryproxy interception CA",
	    -1, -1, 0);
	X509_set_issuer_name(cert, X509_get_subject_name(cert));
	if (add_ext(cert, cert, NID_basic_constraints,
		"critical,CA:TRUE,pathlen:0") != 0 ||
	    add_ext(cert, cert, NID_key_usage,
		"critical,keyCertSign,cRLSign") != 0 ||
	    add_ext(cert, cert, NID_subject_key_identifier, "hash") != 0 ||
	    X509_sign(cert, key, EVP_sha256()) == 0) {
		*cause = ssl_cause("cannot make the CA certificate", "");
		goto out;
	}
	fd = open(keyp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		*cause =
		    xasprintf("cannot create %s: %s", keyp, strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    fclose(f) != 0) {
		f = NULL;
		*cause = xasprintf("cannot write %s", keyp);
		goto out;
	}
	fd = open(certp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
		*cause =
		    xasprintf("cannot create %s: %s", certp, strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	if (PEM_write_X509(f, cert) != 1 || fclose(f) != 0) {
		*cause = xasprintf("cannot write %s", certp);
		goto out;
	}
	rc = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	free(certp);
	free(keyp);
	return rc;
}
