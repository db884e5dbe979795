/*
 * config-keys: the one table of config keys (private to config.c and
 * config-keys.c).  Each entry says where a key lives, its default in
 * config syntax, its bounds, and how to parse and print it.
 */
#ifndef RP_CONFIG_KEYS_H
#define RP_CONFIG_KEYS_H

#include "config.h"

enum key_scope {
	SCOPE_PROXY = 0,
	SCOPE_TLS = 1,
	SCOPE_POLICY = 2,
	SCOPE_GATEWAY = 3, /* [gateway ADDR]: struct gateway */
};

struct key_def;
typedef int (*key_parse_fn)(struct config *, const struct key_def *, void *base,
    const char *value, char **cause);
typedef void (*key_print_fn)(
    const struct key_def *, const void *base, struct sbuf *);

struct key_def {
	const char *name;
	enum key_scope scope;
	const char *def; /* default, in config syntax */
	const char *help;
	key_parse_fn parse;
	key_print_fn print;
	size_t off; /* into struct proxy_config, tls_config, policy, gateway */
	uint64_t min, max;
	const char *const *names; /* for enums */
};

extern const struct key_def config_keys[];
extern const size_t config_nkeys_;

const struct key_def *config_key_find(enum key_scope, const char *name);
const char *config_scope_name(enum key_scope);
/* Parse "ADDR:PORT" ("[::1]:PORT" for IPv6), as listen does. */
int config_listen_addr_parse(const char *, struct listen_addr *, char **cause);
/* Remember a heap block the snapshot owns. */
void *config_own(struct config *, void *);

#endif
