/*
 * Aligned text tables.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

struct keel_table {
    size_t columns;
    size_t lines;     /* the header line and the rows */
    size_t cap;       /* lines the cells array has room for */
    char **cells;     /* lines * columns strings, row-major */
};

/* Appends a line of cells (the headers or a row). */
static int table_append(keel_table *t, const char *const *cells)
{
    if (t->lines == t->cap) {
        size_t cap = t->cap == 0 ? 8 : t->cap * 2;
        char **grown = realloc(t->cells, cap * t->columns * sizeof *grown);
        if (grown == NULL)
            return -1;
        t->cells = grown;
        t->cap = cap;
    }
    char **line = t->cells + t->lines * t->columns;
    for (size_t c = 0; c < t->columns; c++) {
        line[c] = strdup(cells[c] != NULL ? cells[c] : "-");
        if (line[c] == NULL) {
            while (c-- > 0)
                free(line[c]);
            return -1;
        }
    }
    t->lines++;
    return 0;
}

keel_table *keel_table_new(size_t columns, const char *const *headers)
{
    if (columns == 0 || columns > KEEL_TABLE_MAX_COLUMNS)
        return NULL;
    keel_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->columns = columns;
    if (table_append(t, headers) != 0) {
        keel_table_free(t);
        return NULL;
    }
    return t;
}

int keel_table_add(keel_table *t, const char *const *cells)
{
    return table_append(t, cells);
}

size_t keel_table_rows(const keel_table *t)
{
    return t->lines - 1;
}

void keel_table_print(const keel_table *t, FILE *out, const char *indent)
{
    size_t width[KEEL_TABLE_MAX_COLUMNS];
    for (size_t c = 0; c < t->columns; c++) {
        width[c] = 0;
        for (size_t l = 0; l < t->lines; l++) {
            size_t n = strlen(t->cells[l * t->columns + c]);
            if (n > width[c])
                width[c] = n;
        }
    }
    for (size_t l = 0; l < t->lines; l++) {
        char *const *line = t->cells + l * t->columns;
        size_t last = t->columns - 1;   /* no padding after the last non-empty cell */
        while (last > 0 && line[last][0] == '\0')
            last--;
        fputs(indent, out);
        for (size_t c = 0; c < last; c++)
            fprintf(out, "%-*s  ", (int)width[c], line[c]);
        fprintf(out, "%s\n", line[last]);
    }
}

void keel_table_free(keel_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->lines * t->columns; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
