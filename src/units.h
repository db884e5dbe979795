/*
 * units: the value syntaxes of the config file -- durations, sizes,
 * booleans, percentages -- parsed and printed.  Pure.
 */
#ifndef RP_UNITS_H
#define RP_UNITS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A duration: a non-negative decimal number with an optional unit "ms",
 * "s", "m" or "h"; a bare number is seconds ("0.1" = 100 ms).  Rounds to
 * the nearest millisecond.  Returns 0, or -1 with *cause set to a static
 * string.
 */
int units_parse_duration(const char *, uint64_t *ms, const char **cause);
/* A size: bytes, or a number with K, M or G (powers of 1024). */
int units_parse_size(const char *, uint64_t *bytes, const char **cause);
/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
int units_parse_bool(const char *, bool *, const char **cause);
/* "20%" or "20" (0..100, decimals allowed); the result is in percent. */
int units_parse_percent(const char *, double *, const char **cause);
/* A decimal integer in [min, max]. */
int units_parse_uint(
    const char *, uint64_t min, uint64_t max, uint64_t *, const char **cause);
/* A positive decimal number (for factors). */
int units_parse_double(const char *, double *, const char **cause);

/*
 * Print a duration in the shortest exact form ("100ms", "2s", "1.5s",
 * "5m", "1h").  buf must hold at least 32 bytes; returns buf.
 */
char *units_format_duration(uint64_t ms, char *buf, size_t len);
/* Print a size ("16M", "64K", "1000"); returns buf. */
char *units_format_size(uint64_t bytes, char *buf, size_t len);

#endif
