/* Unload verification helpers: is a file still mapped, and leak text. */
#ifndef KEEL_MAPPING_CHECK_H
#define KEEL_MAPPING_CHECK_H

#include <stddef.h>

/* Non-zero if /proc/self/maps has a mapping of `path` (borrowed), or of
 * any file below it when `path` ends with '/'. */
int keel_path_is_mapped(const char *path);

/* Total size of the mappings of files below directory `dir` (borrowed,
 * ending with '/'). */
size_t keel_path_mapped_bytes(const char *dir);

/* Appends a printf-formatted line to the malloc'd string *leak (which may
 * be NULL), separating entries with "; ". */
void keel_leak_append(char **leak, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
