/*
 * fields: header fields as libevent keeps them (struct evkeyvalq), read
 * the way RFC 9110 section 5.3 says: a field name given more than once is
 * one comma-separated list.  libevent's evhttp_find_header sees only the
 * first of them.
 */
#ifndef RP_FIELDS_H
#define RP_FIELDS_H

struct evkeyvalq;

/*
 * The whole list of field name (case-insensitive) in h: NULL when absent;
 * the value itself when given once; else the values joined with ", " in
 * a string that *owned then holds (free it; NULL when nothing was made).
 */
const char *fields_list(
    const struct evkeyvalq *h, const char *name, char **owned);

#endif
