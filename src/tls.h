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

#endif
