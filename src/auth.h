/*
 * auth: client authentication with Proxy-Authorization: Basic (RFC 9110
 * section 11.7.1, RFC 7617) against a file of "user:hash" lines as
 * htpasswd writes them with -B (bcrypt), -2 or -5 (SHA-crypt).  The
 * hashes are checked by the system's crypt_r (libxcrypt), never by hash
 * code of ours; an unknown user costs one hash computation like a known
 * one.  A worker keeps the credentials it accepted for AUTH_CACHE_MS
 * (keyed by their SHA-256), so that bcrypt is not paid per request.  No
 * sockets, no clock (it is passed in).
 */
#ifndef RP_AUTH_H
#define RP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_USER_MAX 128
#define AUTH_CACHE_SLOTS 64
#define AUTH_CACHE_MS 60000

struct auth_user {
	char *name;
	char *hash;
};

struct auth_users {
	struct auth_user *u;
	size_t n;
	uint64_t gen; /* a number of its own for each load (the cache key) */
};

/*
 * Parse the text of a users file (path: for the messages): "user:hash"
 * lines, '#' comments and blank lines.  0, or -1 with *err ("path:line:
 * ...", malloc'd) for the first bad line: no colon, an empty or repeated
 * user, or a hash the system's crypt does not take (htpasswd's default
 * MD5 "$apr1$" among them).
 */
int auth_users_parse(
    const char *path, const char *text, struct auth_users *, char **err);
void auth_users_free(struct auth_users *);

/*
 * The user and password of a Proxy-Authorization value "Basic <base64>".
 * 0, or -1 when it is another scheme, bad base64, has no colon, or does
 * not fit.
 */
int auth_basic_decode(
    const char *value, char *user, size_t ulen, char *pass, size_t plen);

/* Is this the user's password?  (Unknown users cost the same time.) */
bool auth_check(const struct auth_users *, const char *user, const char *pass);

#define AUTH_KEY_LEN 32 /* SHA-256 of the Proxy-Authorization value */

struct auth_cache_slot {
	unsigned char key[AUTH_KEY_LEN];
	uint64_t gen, until_ms;
	char user[AUTH_USER_MAX];
};

struct auth_cache {
	struct auth_cache_slot s[AUTH_CACHE_SLOTS];
	unsigned next;
};

/*
 * The whole check for one request: the value of its Proxy-Authorization
 * (NULL: none), through the cache.  True with *user (the name, for the
 * access log) when it is a user's with the right password.
 */
bool auth_verify(const struct auth_users *, struct auth_cache *,
    const char *value, uint64_t now_ms, char *user, size_t ulen);

/*
 * auth_verify in its parts, for a caller with two caches (each worker's,
 * then the process's, so that a password hash is checked once a process,
 * not once a worker): the cache key of a value; a cached answer; one to
 * cache; and the check itself (a password hash computed).
 */
void auth_key(const char *value, unsigned char key[AUTH_KEY_LEN]);
bool auth_cache_find(const struct auth_cache *, const struct auth_users *,
    const unsigned char key[AUTH_KEY_LEN], uint64_t now_ms, char *user,
    size_t ulen);
void auth_cache_put(struct auth_cache *, const struct auth_users *,
    const unsigned char key[AUTH_KEY_LEN], uint64_t now_ms, const char *user);
bool auth_check_value(
    const struct auth_users *, const char *value, char *user, size_t ulen);

#endif
