/*
 * auth: Basic credentials against a users file (see auth.h).
 */
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "util.h"

static _Atomic uint64_t generation;

void
auth_users_free(struct auth_users *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->u[i].name);
		OPENSSL_cleanse(a->u[i].hash, strlen(a->u[i].hash));
		free(a->u[i].hash);
	}
	free(a->u);
	memset(a, 0, sizeof *a);
}

/*
 * bcrypt (htpasswd -B), SHA-crypt (-2, -5), yescrypt and scrypt: the
 * hashes libxcrypt computes that are not the old DES or MD5 ones (which
 * it calls legacy, and which htpasswd writes by default as "$apr1$").
 */
static bool
strong_hash(const char *h)
{
	static const char *const prefixes[] = {
	    "$2b$", "$2y$", "$2a$", "$5$", "$6$", "$y$", "$gy$", "$7$"};

	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(h, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

int
auth_users_parse(
    const char *path, const char *text, struct auth_users *a, char **err)
{
	const char *p = text;
	unsigned line = 0;

	memset(a, 0, sizeof *a);
	while (*p != '\0') {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *l = xstrndup(p, len), *t, *colon;
		bool ok;
		line++;
		p = end ? end + 1 : p + len;
		t = util_trim(l);
		if (*t == '\0' || *t == '#') {
			free(l);
			continue;
		}
		colon = strchr(t, ':');
		if (colon == NULL || colon == t) {
			*err =
			    xasprintf("%s:%u: expected user:hash", path, line);
			goto bad;
		}
		*colon = '\0';
		if (strlen(t) >= AUTH_USER_MAX) {
			*err =
			    xasprintf("%s:%u: user name longer than %d bytes",
				path, line, AUTH_USER_MAX - 1);
			goto bad;
		}
		for (size_t i = 0; i < a->n; i++)
			if (strcmp(a->u[i].name, t) == 0) {
				*err = xasprintf(
				    "%s:%u: user '%s' again", path, line, t);
				goto bad;
			}
		ok = strong_hash(colon + 1) &&
		    crypt_checksalt(colon + 1) != CRYPT_SALT_INVALID;
		if (!ok) {
			*err =
			    xasprintf("%s:%u: user '%s': a hash the system's "
				      "crypt does not take (write it with "
				      "htpasswd -B, -2 or -5)",
				path, line, t);
			goto bad;
		}
		a->u = xrealloc(a->u, (a->n + 1) * sizeof *a->u);
		a->u[a->n].name = xstrdup(t);
		a->u[a->n].hash = xstrdup(colon + 1);
		a->n++;
		OPENSSL_cleanse(l, len);
		free(l);
		continue;
	bad:
		OPENSSL_cleanse(l, len);
		free(l);
		auth_users_free(a);
		return -1;
	}
	a->gen = atomic_fetch_add(&generation, 1) + 1;
	return 0;
}

int
auth_basic_decode(
    const char *value, char *user, size_t ulen, char *pass, size_t plen)
{
	const char *b = value;
	unsigned char out[512];
	size_t n, len;
	int got;
	char *colon;

	while (*b == ' ' || *b == '\t')
		b++;
	if (util_strncasecmp(b, "Basic", 5) != 0 ||
	    (b[5] != ' ' && b[5] != '\t'))
		return -1;
	b += 6;
	while (*b == ' ' || *b == '\t')
		b++;
	len = strcspn(b, " \t");
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof out ||
	    b[len + strspn(b + len, " \t")] != '\0')
		return -1;
	got = EVP_DecodeBlock(out, (const unsigned char *)b, (int)len);
	if (got < 0)
		return -1;
	n = (size_t)got;
	/* (EVP_DecodeBlock counts the padding's zero bytes) */
	if (b[len - 1] == '=')
		n -= b[len - 2] == '=' ? 2 : 1;
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL ||
	    (colon = strchr((char *)out, ':')) == NULL) {
		OPENSSL_cleanse(out, sizeof out);
		return -1;
	}
	*colon = '\0';
	if (strlen((char *)out) >= ulen || strlen(colon + 1) >= plen) {
		OPENSSL_cleanse(out, sizeof out);
		return -1;
	}
	strcpy(user, (char *)out);
	strcpy(pass, colon + 1);
	OPENSSL_cleanse(out, sizeof out);
	return 0;
}

bool
auth_check(const struct auth_users *a, const char *user, const char *pass)
{
	const struct auth_user *found = NULL;
	const char *hash;
	struct crypt_data *cd;
	const char *h;
	bool ok;

	if (a->n == 0)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->u[i].name, user) == 0)
			found = &a->u[i];
	/* an unknown user is checked against a hash all the same */
	hash = found ? found->hash : a->u[0].hash;
	cd = xcalloc(1, sizeof *cd);
	h = crypt_r(pass, hash, cd);
	ok = h != NULL && h[0] != '*' && strlen(h) == strlen(hash) &&
	    CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
	OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return ok && found != NULL;
}

void
auth_key(const char *value, unsigned char key[AUTH_KEY_LEN])
{
	SHA256((const unsigned char *)value, strlen(value), key);
}

bool
auth_cache_find(const struct auth_cache *c, const struct auth_users *a,
    const unsigned char key[AUTH_KEY_LEN], uint64_t now_ms, char *user,
    size_t ulen)
{
	for (unsigned i = 0; i < AUTH_CACHE_SLOTS; i++) {
		const struct auth_cache_slot *s = &c->s[i];
		if (s->gen == a->gen && s->until_ms > now_ms &&
		    CRYPTO_memcmp(s->key, key, AUTH_KEY_LEN) == 0) {
			snprintf(user, ulen, "%s", s->user);
			return true;
		}
	}
	return false;
}

void
auth_cache_put(struct auth_cache *c, const struct auth_users *a,
    const unsigned char key[AUTH_KEY_LEN], uint64_t now_ms, const char *user)
{
	struct auth_cache_slot *s = &c->s[c->next++ % AUTH_CACHE_SLOTS];

	memcpy(s->key, key, AUTH_KEY_LEN);
	s->gen = a->gen;
	s->until_ms = now_ms + AUTH_CACHE_MS;
	snprintf(s->user, sizeof s->user, "%s", user);
}

bool
auth_check_value(
    const struct auth_users *a, const char *value, char *user, size_t ulen)
{
	char u[AUTH_USER_MAX], pw[256];
	bool ok;

	if (auth_basic_decode(value, u, sizeof u, pw, sizeof pw) != 0)
		return false;
	ok = auth_check(a, u, pw);
	OPENSSL_cleanse(pw, sizeof pw);
	if (ok)
		snprintf(user, ulen, "%s", u);
	return ok;
}

bool
auth_verify(const struct auth_users *a, struct auth_cache *c, const char *value,
    uint64_t now_ms, char *user, size_t ulen)
{
	unsigned char key[AUTH_KEY_LEN];

	if (value == NULL || a == NULL)
		return false;
	auth_key(value, key);
	if (auth_cache_find(c, a, key, now_ms, user, ulen))
		return true;
	if (!auth_check_value(a, value, user, ulen))
		return false;
	auth_cache_put(c, a, key, now_ms, user);
	return true;
}
