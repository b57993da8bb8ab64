/*
 * file_replace.h — replacing a small file durably: the new contents go to
 * PATH.tmp, which is fsync'd and renamed over PATH, then the directory is
 * fsync'd, so a crash leaves the old file or the new one, never half of
 * one. Shared by the base's state and the starters that keep files.
 */
#ifndef KEEL_FILE_REPLACE_H
#define KEEL_FILE_REPLACE_H

#include <stddef.h>
#include <sys/types.h>

/* Replaces the file at `path` (borrowed) with the `size` bytes of `data`
 * (borrowed), created with `mode`. Returns 0, or an errno value with
 * *step naming what failed ("allocate", "create", "write", "fsync",
 * "close", "rename" — then the old file is untouched and PATH.tmp is
 * removed — or "fsync directory": the new file is in place but the rename
 * may not be durable yet). */
int keel_file_replace(const char *path, const void *data, size_t size, mode_t mode,
                      const char **step);

#endif
