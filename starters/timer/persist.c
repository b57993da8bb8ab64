/* persist.c — see persist.h. */
#include "persist.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "file_replace.h"
#include "registry.h"

#define STATE_FILE_MAX (64u << 20)

static char *read_file(const char *path, int *error)
{
    *error = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error = errno;
        return NULL;
    }
    struct stat sb;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0) {
        *error = errno;
    } else if ((size_t)sb.st_size > STATE_FILE_MAX) {
        *error = EFBIG;
    } else if (!(buf = malloc((size_t)sb.st_size + 1))) {
        *error = ENOMEM;
    } else {
        size_t got = 0;
        while (got < (size_t)sb.st_size) {
            ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                *error = n < 0 ? errno : EIO;
                break;
            }
            got += (size_t)n;
        }
        buf[got] = 0;
        if (*error) {
            free(buf);
            buf = NULL;
        }
    }
    close(fd);
    return buf;
}

keel_status keel_timer_persist_load(keel_timer_state *st, keel_starter_error *err)
{
    int error;
    char *text = read_file(st->state_path, &error);
    if (!text) {
        if (error == ENOENT)
            return KEEL_OK;
        keel_starter_error_set(err, "timer: state file \"%s\": %s", st->state_path,
                               strerror(error));
        return KEEL_ERR_IO;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(format) || format->valuedouble != 1 ||
        !cJSON_IsArray(jobs)) {
        keel_starter_error_set(err,
                               "timer: state file \"%s\": not a timer state (expected "
                               "{\"format\": 1, \"jobs\": [...]}); move it away to start afresh",
                               st->state_path);
        cJSON_Delete(root);
        return KEEL_ERR_INVALID;
    }
    int i = 0;
    for (const cJSON *j = jobs->child; j; j = j->next, i++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
        const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "spec");
        const cJSON *last = cJSON_GetObjectItemCaseSensitive(j, "last_started");
        if (!cJSON_IsString(name) || !cJSON_IsString(spec) || !cJSON_IsNumber(last) ||
            last->valuedouble < 0 || last->valuedouble > 9e15) {
            keel_starter_error_set(err,
                                   "timer: state file \"%s\": jobs[%d]: expected {\"name\": "
                                   "string, \"spec\": string, \"last_started\": unix ms}",
                                   st->state_path, i);
            keel_timer_memo_clear(st);
            cJSON_Delete(root);
            return KEEL_ERR_INVALID;
        }
        if (!keel_timer_memo_put(st, name->valuestring, spec->valuestring,
                                 (int64_t)last->valuedouble)) {
            keel_starter_error_set(err, "timer: out of memory reading the state file");
            keel_timer_memo_clear(st);
            cJSON_Delete(root);
            return KEEL_ERR_NOMEM;
        }
    }
    cJSON_Delete(root);
    return KEEL_OK;
}

static bool add_record(cJSON *jobs, const char *name, const char *spec, int64_t last)
{
    char iso[40];
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(jobs, o))
        return cJSON_Delete(o), false;
    return cJSON_AddStringToObject(o, "name", name) && cJSON_AddStringToObject(o, "spec", spec) &&
           cJSON_AddNumberToObject(o, "last_started", (double)last) &&
           cJSON_AddStringToObject(o, "last_started_iso",
                                   keel_timer_iso8601(last, iso, sizeof iso));
}

/* The file's text for the current state; under the state lock. */
static char *snapshot(keel_timer_state *st)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *jobs = NULL;
    bool ok = cJSON_AddNumberToObject(root, "format", 1) &&
              (jobs = cJSON_AddArrayToObject(root, "jobs")) != NULL;
    for (keel_timer_job *j = st->jobs; ok && j; j = j->next)
        if (j->last_started >= 0)
            ok = add_record(jobs, j->def.name, j->def.spec.text, j->last_started);
    for (size_t i = 0; ok && i < st->memo_count; i++)
        ok = add_record(jobs, st->memo[i].name, st->memo[i].spec_text, st->memo[i].last_started);
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

void keel_timer_persist_sync(keel_timer_state *st, uint64_t gen)
{
    pthread_mutex_lock(&st->persist_lock);
    if (st->persisted_gen >= gen) {
        pthread_mutex_unlock(&st->persist_lock);
        return;
    }
    pthread_mutex_lock(&st->lock);
    uint64_t snap_gen = st->gen;
    char *text = snapshot(st);
    const keel_starter_host *host = st->host;
    pthread_mutex_unlock(&st->lock);
    const char *what = "serialise";
    int error = text ? keel_file_replace(st->state_path, text, strlen(text), 0644, &what) : ENOMEM;
    if (error != 0 && strcmp(what, "fsync directory") == 0)
        error = 0; /* the new file is in place */
    free(text);
    pthread_mutex_lock(&st->lock);
    bool first_failure = error && !st->persist_error[0];
    if (error) {
        st->persist_failures++;
        snprintf(st->persist_error, sizeof st->persist_error, "%s %s: %s", what,
                 st->state_path, strerror(error));
    } else {
        st->persist_writes++;
        st->persist_error[0] = 0;
    }
    pthread_mutex_unlock(&st->lock);
    if (first_failure)
        host->log(host, KEEL_LOG_WARN, "timer: state file not saved (%s %s: %s)", what,
                  st->state_path, strerror(error));
    else
        st->persisted_gen = snap_gen;
    pthread_mutex_unlock(&st->persist_lock);
}
