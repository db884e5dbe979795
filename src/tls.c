/*
 * tls: OpenSSL glue.  For now: validation of the interception CA, as
 * `retryproxy -t` and a start both require.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
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
