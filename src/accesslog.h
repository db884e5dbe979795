/*
 * accesslog: one line per client request, as text or JSON (the
 * README, Operations).  Pure formatting; log.c writes the line.
 */
#ifndef RP_ACCESSLOG_H
#define RP_ACCESSLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

struct access_entry {
	uint64_t wall_ms; /* when the request arrived (Unix ms) */
	const char *client; /* "addr:port" */
	const char *method;
	const char *url;
	int status;
	unsigned attempts;
	const char *retries; /* comma-separated reasons, "" for none */
	uint64_t duration_ms;
	uint64_t bytes; /* body bytes sent to the client */
	uint64_t bytes_in; /* tunnels: bytes from the client */
	int tunnel; /* a CONNECT tunnel: print bytes_in too */
	const char *route;
	const char *error; /* Proxy-Status error token, or NULL */
	/*
	 * The final attempt's upstream connection: "reused" (pooled),
	 * "warm" (pooled, for a request that may not be re-sent), or NULL
	 * (a new one; not printed).
	 */
	const char *conn;
	/* waited this long for a held origin (hold = wait); 0: not printed */
	uint64_t held_ms;
	/*
	 * The upstream address of each attempt, comma-separated, "-" for
	 * one that had none (its name did not resolve); NULL or "" for no
	 * attempt at all (not printed).
	 */
	const char *addrs;
	/* continuations spliced into a broken body (resume); 0: not printed */
	unsigned resumes;
	/* hedges sent (hedge_after), and whether one of them answered */
	unsigned hedges;
	bool hedge_won;
	/* the user of Proxy-Authorization (auth = basic); NULL or "": none */
	const char *user;
	/* the parent proxy of the final attempt ("host:port"); NULL: none */
	const char *parent;
	/* the gateway listener it came in on ("127.0.0.1:8081"), or NULL */
	const char *gateway;
};

/* Append the line (with its newline) to out; json selects the format. */
void accesslog_format(const struct access_entry *, int json, struct sbuf *out);

#endif
