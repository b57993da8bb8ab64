/*
 * cli_common.h — what the commands that talk to a base share: argument
 * helpers, one-call admin requests with the CLI's error conventions, and
 * JSON field access for printing results.
 */
#ifndef KEEL_TOOLS_CLI_COMMON_H
#define KEEL_TOOLS_CLI_COMMON_H

#include "admin_client.h"
#include "commands.h"

#include <getopt.h>
#include <stdio.h>

/* After getopt_long returned ':' or '?': prints the usage error for
 * `command` and returns KEEL_EXIT_USAGE. */
int keel_cli_bad_option(const char *command, int c, char **argv);

/* Parses the options of a command that has only --json and --help (each
 * may be NULL when the command has no such option: it is then unknown).
 * *json starts as the global --json. Operands start at optind afterwards.
 * Returns KEEL_EXIT_OK or a usage error. */
int keel_cli_parse_plain(const char *command, const keel_cli *cli, int argc, char **argv,
                         int *json, int *help);

/* Checks the number of operands argv[first..argc): between min and max.
 * `what` names them for the error ("NAME@VERSION"). Returns KEEL_EXIT_OK or
 * the usage error's exit code. */
int keel_cli_operands(const char *command, int argc, char **argv, int first, int min, int max,
                      const char *what);

/* Splits NAME[@VERSION] (borrowed) into malloc'd *name and *version
 * (*version NULL when there is none); the caller frees both. With
 * `need_version` a missing version is a usage error. Returns an exit code. */
int keel_cli_split_id(const char *command, const char *id, int need_version, char **name,
                      char **version);

/* Parses a whole decimal integer in [min, max]; 0 on success, -1 otherwise. */
int keel_cli_parse_long(const char *text, long min, long max, long *out);

/* Parses a positive number of seconds into milliseconds (at most a day);
 * 0 on success, -1 otherwise. */
int keel_cli_parse_seconds(const char *text, int *ms);

/* Parses `text` (borrowed) as a JSON array into *out (caller deletes).
 * Returns KEEL_EXIT_OK or a usage error. */
int keel_cli_parse_json_array(const char *command, const char *text, cJSON **out);

/* The base's socket path, or prints "no base socket: ..." and returns NULL. */
const char *keel_cli_socket(const keel_cli *cli);

/* Connects to the base with `timeout_ms` per request; prints the one-line
 * error and returns KEEL_EXIT_FAILURE (or KEEL_EXIT_USAGE without a
 * socket) when it cannot. */
int keel_cli_connect(const keel_cli *cli, int timeout_ms, keel_admin_conn **conn);

/* Prints err as the one error line; returns KEEL_EXIT_FAILURE. */
int keel_cli_report(const keel_admin_error *err);

/* One request on a new connection with the global timeout: `args` is
 * consumed (deleted) whatever happens. On KEEL_EXIT_OK *result is the
 * caller's (cJSON_Delete); otherwise the error line was printed. */
int keel_cli_admin(const keel_cli *cli, const char *op, cJSON *args,
                   keel_admin_progress_fn progress, void *user, cJSON **result);

/* Prints `json` on stdout followed by a newline: indented when stdout is a
 * terminal, one line otherwise. Returns an exit code. */
int keel_cli_print_json(const cJSON *json);

/* Prints an operation's answer: with `json` the whole result object,
 * otherwise its "result" member (null when absent). Returns an exit code. */
int keel_cli_print_result(const cJSON *result, int json);

/* Field access for printing: the string value of obj[key], else
 * `fallback`. */
const char *keel_cli_str(const cJSON *obj, const char *key, const char *fallback);

/* obj[key] rendered for a table cell into buf: strings as they are, numbers
 * as integers when they are whole, true/false, "-" when absent or null. */
const char *keel_cli_cell(const cJSON *obj, const char *key, char *buf, size_t size);

/* A JSON value rendered for humans into buf: strings without quotes,
 * anything else as compact JSON (truncated to fit). */
const char *keel_cli_value_text(const cJSON *value, char *buf, size_t size);

/* Builds an args object; every helper returns NULL when out of memory
 * after deleting `args`, so calls can be chained and checked once. */
/* The shape shared by commands that take one NAME[@VERSION] operand and
 * send {"name", "version"} as admin operation `op`: parses options (only
 * --json and --help), checks the operand (`need_version`: the @VERSION is
 * required), sends, and prints the result as JSON or with `print` (which
 * gets the result and the operand as typed). `usage` prints the command's
 * help. Returns the exit code. */
int keel_cli_module_op(const keel_cli *cli, int argc, char **argv, const char *op, int need_version,
                       void (*usage)(FILE *out), int (*print)(const cJSON *result, const char *operand));

cJSON *keel_cli_args_new(void);
cJSON *keel_cli_args_str(cJSON *args, const char *key, const char *value);  /* NULL value: skipped */
cJSON *keel_cli_args_bool(cJSON *args, const char *key, int value);
cJSON *keel_cli_args_num(cJSON *args, const char *key, double value);
cJSON *keel_cli_args_item(cJSON *args, const char *key, cJSON *item);      /* item consumed */

#endif
