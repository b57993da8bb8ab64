/* Reading a small file whole: see keel/file.h. */
#include <keel/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int keel_file_read(const char *path, size_t max, char **text, size_t *size)
{
    *text = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t cap = 4096, got = 0;
    char *buf = malloc(cap);
    int error = buf == NULL ? ENOMEM : 0;
    while (error == 0 && got <= max) {
        if (got + 1 == cap) { /* room for one more byte than max, and the NUL */
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                error = ENOMEM;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            error = errno;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (error == 0 && got > max)
        error = EFBIG;
    if (error != 0) {
        free(buf);
        return error;
    }
    buf[got] = '\0';
    *text = buf;
    *size = got;
    return 0;
}
