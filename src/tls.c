/*
 * tls: OpenSSL glue.  For now: validation of the interception CA, as
 * `retryproxy -t` and a start both require.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <string.h>
#include <stdio.h>

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

static int ex_idx = -1;

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
tls_client_ctx_new(const char *trust, char **cause)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*cause = ssl_cause("cannot create a TLS context", "");
		return NULL;
	}
	if (ex_idx == -1)
		ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* real servers often end a body without close_notify */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
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
	return ctx;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

SSL *
tls_client_ssl(SSL_CTX *ctx, const char *host, bool verify, int *verify_err)
{
	SSL *ssl = SSL_new(ctx);
	unsigned char buf[16];
	bool ip = inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;

	if (ssl == NULL)
		return NULL;
	SSL_set_ex_data(ssl, ex_idx, verify_err);
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

const char *
tls_verify_error_string(int err)
{
	return X509_verify_cert_error_string(err);
}
