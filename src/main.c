/*
 * main: the command line (retryproxy(8) OPTIONS), config loading and
 * checking, --explain, then the server.  Exit codes: 0 clean stop, 64 usage, 78
 * config error, 1 runtime failure.
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "config.h"
#include "evmem.h"
#include "explain.h"
#include "http.h"
#include "server.h"
#include "tls.h"
#include "util.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_CONFIG_ 78

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/retryproxy/retryproxy.ini"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: retryproxy [-c FILE] [-l ADDR:PORT] [-t] [-v]... [-V] [-h]\n"
	    "       retryproxy --explain METHOD URL [-c FILE]\n"
	    "\n"
	    "  -c, --config FILE        config file (default %s;\n"
	    "                           built-in defaults when it does not exist)\n"
	    "  -l, --listen ADDR:PORT   listen here instead of [proxy] listen\n"
	    "  -t, --check-config       validate, print the effective settings, exit\n"
	    "      --explain METHOD URL show the route, policy and delay schedule\n"
	    "      --make-ca DIR        create an interception CA in DIR (ca.pem, ca.key)\n"
	    "  -v, --verbose            more logging (repeat for debug)\n"
	    "  -V, --version            print the version\n"
	    "  -h, --help               this help\n",
	    DEFAULT_CONFIG);
}

/* Load the config the way a start would, printing errors and warnings. */
static struct config *
load(const char *path, bool path_given, const struct config_options *opts)
{
	struct config_errors errs = {0};
	struct config *c;
	char *cause = NULL;

	if (!path_given && access(path, F_OK) != 0)
		path = NULL; /* built-in defaults */
	c = config_load(path, opts, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "retryproxy: %s\n", errs.v[i]);
	config_errors_free(&errs);
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->nwarnings; i++)
		fprintf(stderr, "retryproxy: warning: %s\n", c->warnings[i]);
	if (c->tls.ca_cert != NULL && c->tls.ca_key != NULL &&
	    tls_check_ca(c->tls.ca_cert, c->tls.ca_key, &cause) != 0) {
		fprintf(stderr, "retryproxy: %s: [tls] %s\n",
		    c->file ? c->file : "config", cause);
		free(cause);
		config_unref(c);
		return NULL;
	}
	return c;
}

/* --make-ca DIR: the interception CA, and how to use and trust it. */
static int
make_ca(const char *dir)
{
	char *cause = NULL;

	if (tls_make_ca(dir, &cause) != 0) {
		fprintf(stderr, "retryproxy: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("created %s/ca.pem (certificate) and %s/ca.key (key, mode "
	       "0600)\n\n"
	       "use it in the config:\n"
	       "  [tls]\n  ca_cert = %s/ca.pem\n  ca_key = %s/ca.key\n"
	       "and set intercept = yes on the routes to intercept.\n\n"
	       "trust it on Debian (clients that use the system store):\n"
	       "  cp %s/ca.pem /usr/local/share/ca-certificates/"
	       "retryproxy.crt && update-ca-certificates\n",
	    dir, dir, dir, dir, dir);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"check-config", no_argument, NULL, 't'},
	    {"explain", required_argument, NULL, 'E'},
	    {"make-ca", required_argument, NULL, 'M'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_options opts = {0};
	const char *path = DEFAULT_CONFIG, *explain_method = NULL;
	const char *explain_url = NULL;
	bool path_given = false, check = false;
	struct config *c;
	int ch, verbose = 0, rc;

	/*
	 * Bodies move through 256 KiB buffers (src/upstream.c).  glibc's
	 * defaults would mmap and unmap each one, or give freed heap back and
	 * fault it in again a moment later: a page fault per 4 KiB of body.
	 * Keep them in the heap, and trim the heap only past 16 MiB free.
	 * No fastbins: with them, every allocation of 1 KiB or more (an
	 * evbuffer chain, several a request) first consolidated them
	 * (malloc_consolidate was 1.3% of the proxy's CPU); tcache still
	 * serves the small ones.
	 */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
	mallopt(M_MXFAST, 0);
	/*
	 * libevent's allocations go through evmem: its callocs through
	 * malloc, and what it takes and gives back for every connection and
	 * request kept in the thread for the next (src/evmem.h).  Before
	 * anything of libevent's is made.
	 */
	evmem_install();

	while (
	    (ch = getopt_long(argc, argv, "c:l:tvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			path_given = true;
			break;
		case 'l':
			opts.listen_override = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'E':
			explain_method = optarg;
			if (optind >= argc || argv[optind][0] == '-') {
				fprintf(stderr,
				    "retryproxy: --explain needs "
				    "METHOD and URL\n");
				return EX_USAGE_;
			}
			explain_url = argv[optind++];
			break;
		case 'M':
			return make_ca(optarg);
		case 'v':
			verbose++;
			break;
		case 'V':
			/* The libraries as loaded, not as built against: a
			 * security update of either changes these lines, not
			 * the first. */
			printf("retryproxy %s\nlibevent %s\n%s\n",
			    PACKAGE_VERSION, event_get_version(),
			    OpenSSL_version(OPENSSL_VERSION));
			return EX_OK_;
		case 'h':
			usage(stdout);
			return EX_OK_;
		default:
			usage(stderr);
			return EX_USAGE_;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "retryproxy: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EX_USAGE_;
	}
	if (explain_method != NULL && !http_method_is_valid(explain_method)) {
		fprintf(stderr, "retryproxy: '%s' is not an HTTP method\n",
		    explain_method);
		return EX_USAGE_;
	}
	if ((c = load(path, path_given, &opts)) == NULL)
		return EX_CONFIG_;
	if (check || explain_method != NULL) {
		struct sbuf out = {0};
		const char *cause;
		rc = EX_OK_;
		if (check)
			config_dump(c, &out);
		else if (explain_request(c, explain_method, explain_url, &out,
			     &cause) != 0) {
			fprintf(
			    stderr, "retryproxy: %s: %s\n", explain_url, cause);
			rc = EX_USAGE_;
		}
		if (out.s != NULL)
			fputs(out.s, stdout);
		sbuf_free(&out);
		config_unref(c);
		return rc;
	}
	rc = server_run(
	    c, path_given || c->file ? c->file : NULL, &opts, verbose);
	config_unref(c);
	return rc;
}
