/* config_store.c — the operator layer on disk.
 *
 * File format (JSON, written whole each time):
 *   {"format": 1,
 *    "values":  {"MODULE": {"SCENE": {"KEY": <any JSON>, ...}, ...}, ...},
 *    "deleted": {"MODULE": {"SCENE": ["KEY", ...], ...}, ...}}
 * "values" are the operator's values; "deleted" lists default values the
 * operator deleted (so they stay deleted after a restart).
 * Written to PATH.tmp, fsync'd, renamed over PATH, then the directory is
 * fsync'd: a crash leaves the old file or the new one, never half of one. */
#include "config_internal.h"
#include "file_replace.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the whole file; *text NULL and KEEL_OK when it does not exist. */
static keel_status read_file(const char *path, char **text, size_t *size, keel_starter_error *err)
{
    *text = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return KEEL_OK;
        keel_starter_error_set(err, "config: store file %s: cannot open: %s", path, strerror(errno));
        return KEEL_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        keel_starter_error_set(err, "config: store file %s: not a regular file", path);
        close(fd);
        return KEEL_ERR_IO;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return KEEL_ERR_NOMEM;
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                close(fd);
                return KEEL_ERR_NOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            keel_starter_error_set(err, "config: store file %s: read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return KEEL_ERR_IO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    *text = buf;
    *size = len;
    return KEEL_OK;
}

static keel_status bad(keel_starter_error *err, const char *path, const char *field, const char *what)
{
    keel_starter_error_set(err, "config: store file %s: field \"%s\": expected %s", path, field, what);
    return KEEL_ERR_INVALID;
}

/* Checks module and scene of one "values"/"deleted" level. */
static keel_status check_names(const char *path, const char *section, const cJSON *mod,
                               const cJSON *scene, keel_starter_error *err)
{
    char field[256];
    if (!config_valid_module(mod->string)) {
        snprintf(field, sizeof field, "%s.%.64s", section, mod->string);
        return bad(err, path, field, CONFIG_EXPECT_MODULE " as a member name");
    }
    if (!cJSON_IsObject(mod)) {
        snprintf(field, sizeof field, "%s.%s", section, mod->string);
        return bad(err, path, field, "an object of scene: {...}");
    }
    if (scene != NULL && !config_valid_scene(scene->string)) {
        snprintf(field, sizeof field, "%s.%s.%.64s", section, mod->string, scene->string);
        return bad(err, path, field, CONFIG_EXPECT_SCENE " as a member name");
    }
    return KEEL_OK;
}

static keel_status load_values(const char *path, const cJSON *values, config_table *t,
                               size_t max_value, size_t *oversized, keel_starter_error *err)
{
    char field[512];
    const cJSON *mod, *scene, *item;
    if (!cJSON_IsObject(values))
        return bad(err, path, "values", "an object of module: {scene: {key: value}}");
    cJSON_ArrayForEach(mod, values) {
        keel_status st = check_names(path, "values", mod, NULL, err);
        if (st != KEEL_OK)
            return st;
        cJSON_ArrayForEach(scene, mod) {
            if ((st = check_names(path, "values", mod, scene, err)) != KEEL_OK)
                return st;
            if (!cJSON_IsObject(scene)) {
                snprintf(field, sizeof field, "values.%s.%s", mod->string, scene->string);
                return bad(err, path, field, "an object of key: value");
            }
            cJSON_ArrayForEach(item, scene) {
                if (!config_valid_key(item->string)) {
                    snprintf(field, sizeof field, "values.%s.%s.%.128s", mod->string, scene->string,
                             item->string);
                    return bad(err, path, field, CONFIG_EXPECT_KEY " as a member name");
                }
                config_entry *e = config_table_upsert(t, mod->string, scene->string, item->string);
                char *text = e ? config_json_compact(item) : NULL;
                if (text == NULL)
                    return KEEL_ERR_NOMEM;
                if (strlen(text) > max_value)
                    (*oversized)++;
                free(e->op_value);
                e->op_value = text;
            }
        }
    }
    return KEEL_OK;
}

static keel_status load_deleted(const char *path, const cJSON *deleted, config_table *t,
                                keel_starter_error *err)
{
    char field[512];
    const cJSON *mod, *scene, *item;
    if (!cJSON_IsObject(deleted))
        return bad(err, path, "deleted", "an object of module: {scene: [key, ...]}");
    cJSON_ArrayForEach(mod, deleted) {
        keel_status st = check_names(path, "deleted", mod, NULL, err);
        if (st != KEEL_OK)
            return st;
        cJSON_ArrayForEach(scene, mod) {
            if ((st = check_names(path, "deleted", mod, scene, err)) != KEEL_OK)
                return st;
            if (!cJSON_IsArray(scene)) {
                snprintf(field, sizeof field, "deleted.%s.%s", mod->string, scene->string);
                return bad(err, path, field, "an array of keys");
            }
            int i = 0;
            cJSON_ArrayForEach(item, scene) {
                if (!cJSON_IsString(item) || !config_valid_key(item->valuestring)) {
                    snprintf(field, sizeof field, "deleted.%s.%s[%d]", mod->string, scene->string, i);
                    return bad(err, path, field, CONFIG_EXPECT_KEY);
                }
                config_entry *e = config_table_upsert(t, mod->string, scene->string, item->valuestring);
                if (e == NULL)
                    return KEEL_ERR_NOMEM;
                e->op_deleted = e->op_value == NULL;
                i++;
            }
        }
    }
    return KEEL_OK;
}

keel_status config_store_load(const char *path, config_table *t, size_t max_value,
                              size_t *oversized, keel_starter_error *err)
{
    char *text;
    size_t size;
    *oversized = 0;
    keel_status st = read_file(path, &text, &size, err);
    if (st != KEEL_OK || text == NULL)
        return st;
    const char *end = NULL;
    /* The length counts the terminating NUL: cJSON then checks that nothing
     * but whitespace follows the value. A NUL inside the file is corrupt. */
    const char *nul = memchr(text, '\0', size);
    cJSON *root = nul == NULL ? cJSON_ParseWithLengthOpts(text, size + 1, &end, 1) : NULL;
    if (nul != NULL)
        end = nul;
    if (root == NULL) {
        size_t at = end != NULL && end >= text ? (size_t)(end - text) : 0;
        keel_starter_error_set(err, "config: store file %s is not valid JSON (at byte %zu of %zu); "
                               "fix or remove it", path, at, size);
        free(text);
        return KEEL_ERR_INVALID;
    }
    free(text);
    const cJSON *item;
    if (!cJSON_IsObject(root)) {
        st = bad(err, path, "(top level)", "an object {\"format\": 1, \"values\": {...}, \"deleted\": {...}}");
        goto out;
    }
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "format") != 0 && strcmp(item->string, "values") != 0 &&
            strcmp(item->string, "deleted") != 0) {
            keel_starter_error_set(err, "config: store file %s: field \"%.64s\": unknown (known: format, "
                                   "values, deleted)", path, item->string);
            st = KEEL_ERR_INVALID;
            goto out;
        }
    }
    item = cJSON_GetObjectItemCaseSensitive(root, "format");
    if (!cJSON_IsNumber(item) || item->valuedouble != CONFIG_STORE_FORMAT) {
        st = bad(err, path, "format", "1 (a newer starter may have written this file)");
        goto out;
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(root, "values")) != NULL &&
        (st = load_values(path, item, t, max_value, oversized, err)) != KEEL_OK)
        goto out;
    if ((item = cJSON_GetObjectItemCaseSensitive(root, "deleted")) != NULL)
        st = load_deleted(path, item, t, err);
out:
    cJSON_Delete(root);
    return st;
}

/* --- saving -------------------------------------------------------------- */

/* obj[name], created as an object or array when missing. */
static cJSON *child(cJSON *obj, const char *name, bool array)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (c == NULL) {
        c = array ? cJSON_CreateArray() : cJSON_CreateObject();
        if (c != NULL && !cJSON_AddItemToObject(obj, name, c)) {
            cJSON_Delete(c);
            c = NULL;
        }
    }
    return c;
}

static cJSON *store_document(const config_table *t, const config_pending *pending)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *values = cJSON_CreateObject(), *deleted = cJSON_CreateObject();
    if (root == NULL || values == NULL || deleted == NULL || !cJSON_AddNumberToObject(root, "format", CONFIG_STORE_FORMAT)) {
        cJSON_Delete(root);
        cJSON_Delete(values);
        cJSON_Delete(deleted);
        return NULL;
    }
    cJSON_AddItemToObject(root, "values", values);
    cJSON_AddItemToObject(root, "deleted", deleted);
    for (size_t i = 0; i < t->count; i++) {
        const config_entry *e = t->items[i];
        const char *op_value = e->op_value;
        bool op_deleted = e->op_deleted;
        if (pending != NULL && pending->entry == e) {
            op_value = pending->op_value;
            op_deleted = pending->op_deleted;
        }
        if (op_value != NULL) {
            cJSON *scene = child(child(values, e->module, false), e->scene, false);
            cJSON *v = cJSON_Parse(op_value);
            if (scene == NULL || v == NULL || !cJSON_AddItemToObject(scene, e->key, v)) {
                cJSON_Delete(v);
                cJSON_Delete(root);
                return NULL;
            }
        } else if (op_deleted) {
            cJSON *keys = child(child(deleted, e->module, false), e->scene, true);
            cJSON *k = cJSON_CreateString(e->key);
            if (keys == NULL || k == NULL || !cJSON_AddItemToArray(keys, k)) {
                cJSON_Delete(k);
                cJSON_Delete(root);
                return NULL;
            }
        }
    }
    return root;
}

keel_status config_store_save(const char *path, const config_table *t, const config_pending *pending,
                              keel_starter_error *err)
{
    cJSON *doc = store_document(t, pending);
    char *text = doc ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL) {
        keel_starter_error_set(err, "config: out of memory writing %s", path);
        return KEEL_ERR_NOMEM;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print leaves no newline; the NUL goes */
    const char *step = "write";
    int error = keel_file_replace(path, text, len + 1, 0600, &step);
    /* A directory that could not be synced still holds the new file. */
    keel_status st = error == 0 || strcmp(step, "fsync directory") == 0 ? KEEL_OK : KEEL_ERR_IO;
    if (st != KEEL_OK)
        keel_starter_error_set(err, "config: cannot save %s (%s: %s); nothing changed", path, step,
                               strerror(error));
    free(text);
    return st;
}
