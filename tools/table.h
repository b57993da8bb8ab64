/*
 * table.h — aligned text tables for the CLI's human output.
 */
#ifndef KEEL_TOOLS_TABLE_H
#define KEEL_TOOLS_TABLE_H

#include <stddef.h>
#include <stdio.h>

typedef struct keel_table keel_table;

#define KEEL_TABLE_MAX_COLUMNS 16

/* A table with `columns` (1..KEEL_TABLE_MAX_COLUMNS) columns and these
 * headers (borrowed, copied). NULL when out of memory. */
keel_table *keel_table_new(size_t columns, const char *const *headers);

/* Appends a row of `columns` cells (borrowed, copied; NULL prints "-").
 * 0 on success, -1 when out of memory. */
int keel_table_add(keel_table *t, const char *const *cells);

/* The number of rows added. */
size_t keel_table_rows(const keel_table *t);

/* Prints headers and rows, each line starting with `indent`, columns
 * separated by two spaces; the last column is not padded. */
void keel_table_print(const keel_table *t, FILE *out, const char *indent);

/* Frees; NULL is fine. */
void keel_table_free(keel_table *t);

#endif
