/* Durable small-file replacement: see file_replace.h. */
#include "file_replace.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? errno : EIO;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

static int sync_parent(char *path_copy)
{
    int fd = open(dirname(path_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int error = fd < 0 || fsync(fd) != 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return error;
}

int keel_file_replace(const char *path, const void *data, size_t size, mode_t mode,
                      const char **step)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    char *copy = strdup(path);
    if (tmp == NULL || copy == NULL) {
        free(tmp);
        free(copy);
        *step = "allocate";
        return ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int error = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        error = errno;
        *step = "create";
    } else {
        if ((error = write_all(fd, data, size)) != 0)
            *step = "write";
        else if (fsync(fd) != 0)
            error = errno, *step = "fsync";
        if (close(fd) != 0 && error == 0)
            error = errno, *step = "close";
        if (error == 0 && rename(tmp, path) != 0)
            error = errno, *step = "rename";
        if (error != 0)
            unlink(tmp);
    }
    if (error == 0 && (error = sync_parent(copy)) != 0)
        *step = "fsync directory";
    free(tmp);
    free(copy);
    return error;
}
