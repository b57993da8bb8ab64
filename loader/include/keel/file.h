/*
 * keel/file.h — reading a small file whole (configurations, state, market
 * indexes). Callers word their own messages from the errno value.
 */
#ifndef KEEL_FILE_H
#define KEEL_FILE_H

#include <stddef.h>

/* Reads the file at `path` (borrowed) whole. On 0, *text is a malloc'd,
 * NUL-terminated copy (the caller frees it) of *size bytes. Otherwise an
 * errno value: from open/read (ENOENT: no such file), EFBIG when the file
 * holds more than `max` bytes, ENOMEM. */
int keel_file_read(const char *path, size_t max, char **text, size_t *size);

#endif
