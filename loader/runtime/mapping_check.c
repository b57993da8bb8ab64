#include "mapping_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int keel_path_is_mapped(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return 0;
    size_t len = strlen(path);
    int prefix = len > 0 && path[len - 1] == '/';
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *file = strchr(line, '/');
        if (file == NULL)
            continue;
        file[strcspn(file, "\n")] = '\0';
        char *deleted = strstr(file, " (deleted)");
        if (deleted != NULL)
            *deleted = '\0';
        found = prefix ? strncmp(file, path, len) == 0 : strcmp(file, path) == 0;
    }
    fclose(f);
    return found;
}

void keel_leak_append(char **leak, const char *fmt, ...)
{
    char item[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    size_t old = *leak ? strlen(*leak) : 0;
    char *grown = realloc(*leak, old + strlen(item) + 3);
    if (grown == NULL)
        return;
    sprintf(grown + old, "%s%s", old ? "; " : "", item);
    *leak = grown;
}

size_t keel_path_mapped_bytes(const char *dir)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return 0;
    size_t len = strlen(dir), total = 0;
    char line[4096];
    while (fgets(line, sizeof line, f) != NULL) {
        char *file = strchr(line, '/');
        unsigned long start, end;
        if (file == NULL || strncmp(file, dir, len) != 0 || sscanf(line, "%lx-%lx", &start, &end) != 2)
            continue;
        total += end - start;
    }
    fclose(f);
    return total;
}
