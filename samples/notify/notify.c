/* notify: listens to "transfer.done" in the retail and corporate scenes and
 * keeps what a notification service would need to answer "did it go out?":
 * how many transfers it heard of per scene, and the last one. How it
 * notifies is configured per scene through the "config" starter, and the
 * operator changes it at run time (`keel config set`, the starter's admin
 * op "set" {"module":"notify","scene":"retail","key":"channel","value":"sms"}):
 * no redeploy.
 *
 * It lives in its own scene, "notify", and subscribes into the scenes of
 * the transfer module: messages cross scenes only where a subscriber asks
 * for them.
 *
 * Settings (config starter, module "notify", per scene or "*"):
 *   channel   string [a-z0-9_-]{1,31}   how notices go out ("email")
 *   muted     boolean                    true: heard and counted, not sent (false)
 *   template  string, < 256 bytes        the notice; {scene} {from} {to}
 *                                        {amount} {fee} {channel} are filled in
 *                                        ("{from} sent {amount} cents to {to} ({scene})")
 * A value of the wrong kind is refused with a warning and the previous one
 * stays; a deleted value falls back to the built-in default above.
 *
 * Services (scene "notify"):
 *   count     i64(str scene)  messages heard in "retail" or "corporate", "*"
 *                             for both; -1 for a scene it does not listen to
 *   last      json()          the payload of the last message (a transfer
 *                             result), or null before the first one
 *   settings  json(str scene) the effective settings of "retail" or
 *                             "corporate" and what they did: {"scene",
 *                             "channel", "muted", "template", "sent",
 *                             "suppressed", "changes", "last_notice"}; null
 *                             for another scene
 *
 * A log line every 1000 messages shows it is alive without flooding the
 * base's log under load; every applied change of a setting is logged.
 */
#include <keel/module.h>
#include <keel/starters/config.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define LAST_MAX 4096
#define CHANNEL_MAX 32
#define TEMPLATE_MAX 256
#define NOTICE_MAX 512
#define FIELD_MAX 128

#define DEFAULT_CHANNEL "email"
#define DEFAULT_TEMPLATE "{from} sent {amount} cents to {to} ({scene})"

/* What a scene's notices look like; guarded by the scene's lock. */
typedef struct settings {
    char channel[CHANNEL_MAX];
    bool muted;
    char template[TEMPLATE_MAX];
} settings;

typedef struct listened {
    const char *scene;
    atomic_int_fast64_t heard;       /* every message (what count reports) */
    atomic_int_fast64_t sent;        /* notices rendered and "sent" */
    atomic_int_fast64_t suppressed;  /* heard while muted */
    pthread_mutex_t lock;            /* cur, changes, last_notice */
    settings cur;
    uint64_t changes;                /* settings applied since start */
    char last_notice[NOTICE_MAX];
    uint64_t watch_id;               /* 0: none */
} listened;

static listened scenes[] = {
    {.scene = "retail", .lock = PTHREAD_MUTEX_INITIALIZER},
    {.scene = "corporate", .lock = PTHREAD_MUTEX_INITIALIZER},
};
#define SCENE_COUNT (sizeof scenes / sizeof scenes[0])

static const keel_api *api;  /* the table the start hook received */
static keel_ctx *self;
static const keel_config_api *cfg_api;
static keel_config *cfg;
static atomic_int_fast64_t total, skipped;

/* The last payload, copied in under the lock (deliveries of one module may
 * run on several base workers over time). */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_payload[LAST_MAX] = "null";

/* Service results: copied by the router as soon as the service returns, so
 * one buffer per calling thread. */
static _Thread_local char last_copy[LAST_MAX];
static _Thread_local char settings_copy[4096];

/* --- settings ------------------------------------------------------------- */

static void settings_default(settings *s)
{
    snprintf(s->channel, sizeof s->channel, "%s", DEFAULT_CHANNEL);
    s->muted = false;
    snprintf(s->template, sizeof s->template, "%s", DEFAULT_TEMPLATE);
}

static bool valid_channel(const char *c)
{
    if (c[0] == '\0')
        return false;
    for (const char *p = c; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Reads `key` of `l`'s scene from the config starter into l->cur, under
 * l->lock (held by the caller). Returns true when the value changed. */
static bool setting_load(listened *l, const char *key)
{
    settings next = l->cur;
    keel_status st = KEEL_ERR_NOT_FOUND;
    if (strcmp(key, "channel") == 0) {
        st = cfg_api->get_string(cfg, l->scene, key, next.channel, sizeof next.channel);
        if (st == KEEL_OK && !valid_channel(next.channel))
            st = KEEL_ERR_INVALID;
        if (st == KEEL_ERR_NOT_FOUND)
            snprintf(next.channel, sizeof next.channel, "%s", DEFAULT_CHANNEL);
    } else if (strcmp(key, "muted") == 0) {
        int muted = 0;
        st = cfg_api->get_bool(cfg, l->scene, key, &muted);
        next.muted = st == KEEL_OK ? muted != 0 : st == KEEL_ERR_NOT_FOUND ? false : next.muted;
    } else if (strcmp(key, "template") == 0) {
        st = cfg_api->get_string(cfg, l->scene, key, next.template, sizeof next.template);
        if (st == KEEL_ERR_NOT_FOUND)
            snprintf(next.template, sizeof next.template, "%s", DEFAULT_TEMPLATE);
    } else {
        return false; /* not a setting of notify */
    }
    if (st != KEEL_OK && st != KEEL_ERR_NOT_FOUND) {
        char *raw = NULL;
        cfg_api->get(cfg, l->scene, key, &raw);
        api->log(self, KEEL_LOG_WARN, "%s: %s %.200s refused (%s); keeping the previous value", l->scene, key,
                 raw ? raw : "?",
                 strcmp(key, "channel") == 0 ? "expected a string of 1 to 31 characters from [a-z0-9_-]"
                 : strcmp(key, "muted") == 0 ? "expected true or false"
                                             : "expected a string shorter than 256 bytes");
        cfg_api->free(raw);
        return false;
    }
    if (strcmp(next.channel, l->cur.channel) == 0 && next.muted == l->cur.muted &&
        strcmp(next.template, l->cur.template) == 0)
        return false;
    l->cur = next;
    l->changes++;
    return true;
}

static void setting_log(const listened *l, const char *key, bool was_default)
{
    if (strcmp(key, "channel") == 0)
        api->log(self, KEEL_LOG_INFO, "%s: channel is now \"%s\"%s", l->scene, l->cur.channel,
                 was_default ? " (default)" : "");
    else if (strcmp(key, "muted") == 0)
        api->log(self, KEEL_LOG_INFO, "%s: notices are now %s", l->scene, l->cur.muted ? "muted" : "sent");
    else
        api->log(self, KEEL_LOG_INFO, "%s: template is now \"%s\"%s", l->scene, l->cur.template,
                 was_default ? " (default)" : "");
}

/* The config starter's callback: `value_json` is the effective new value
 * for `scene` (NULL: deleted). Re-reading through the typed getters gives
 * the same value, checked for its kind. Runs on the operator's thread. */
static void on_setting(void *user, const char *scene, const char *key, const char *value_json)
{
    listened *l = user; /* l->scene == scene: one watch per scene */
    (void)scene;
    pthread_mutex_lock(&l->lock);
    bool changed = setting_load(l, key);
    if (changed)
        setting_log(l, key, value_json == NULL);
    pthread_mutex_unlock(&l->lock);
}

/* --- notices ---------------------------------------------------------------- */

/* The value of top-level member `name` of a flat JSON object (the transfer
 * result) as text: strings unescaped (\" and \\; other escapes kept),
 * numbers and literals as written. "" when absent. */
static void payload_field(const char *data, size_t size, const char *name, char *out, size_t out_size)
{
    char pattern[FIELD_MAX];
    int n = snprintf(pattern, sizeof pattern, "\"%s\":", name);
    out[0] = '\0';
    const char *end = data + size, *p = NULL;
    for (const char *s = data; n > 0 && s + n <= end; s++) {
        if (memcmp(s, pattern, (size_t)n) == 0 && (s == data || s[-1] == '{' || s[-1] == ',')) {
            p = s + n;
            break;
        }
    }
    if (p == NULL)
        return;
    size_t o = 0;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"' && o + 1 < out_size; p++) {
            if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
                p++;
            out[o++] = *p;
        }
    } else {
        for (; p < end && *p != ',' && *p != '}' && o + 1 < out_size; p++)
            out[o++] = *p;
    }
    out[o] = '\0';
}

/* Fills `tmpl` with the transfer's fields into `out`. */
static void render(const char *tmpl, const char *scene, const char *channel, const char *data, size_t size,
                   char *out, size_t out_size)
{
    static const char *const names[] = {"scene", "from", "to", "amount", "fee", "channel"};
    size_t o = 0;
    for (const char *t = tmpl; *t != '\0' && o + 1 < out_size;) {
        const char *close = *t == '{' ? strchr(t, '}') : NULL;
        const char *value = NULL;
        char field[FIELD_MAX];
        if (close != NULL) {
            size_t len = (size_t)(close - t - 1);
            for (size_t i = 0; i < sizeof names / sizeof names[0] && value == NULL; i++) {
                if (strlen(names[i]) != len || strncmp(t + 1, names[i], len) != 0)
                    continue;
                if (i == 0)
                    value = scene;
                else if (i == 5)
                    value = channel;
                else
                    payload_field(data, size, names[i], field, sizeof field), value = field;
            }
        }
        if (value != NULL) {
            for (; *value != '\0' && o + 1 < out_size; value++)
                out[o++] = *value;
            t = close + 1;
        } else {
            out[o++] = *t++;
        }
    }
    out[o] = '\0';
}

/* Only a JSON object of sane size is kept for "last": anyone may publish
 * on these topics, and a json() result must parse. A full parse is the
 * router's job; this keeps out what is obviously not a transfer result. */
static int looks_like_object(const char *data, size_t size)
{
    if (size < 2 || size >= LAST_MAX || data[0] != '{' || data[size - 1] != '}')
        return 0;
    return memchr(data, '\0', size) == NULL;
}

static void on_transfer_done(keel_ctx *ctx, const keel_message *msg, void *user)
{
    listened *where = user;
    atomic_fetch_add(&where->heard, 1);
    int_fast64_t n = atomic_fetch_add(&total, 1) + 1;
    int object = looks_like_object(msg->data, msg->size);
    if (object) {
        pthread_mutex_lock(&last_lock);
        memcpy(last_payload, msg->data, msg->size);
        last_payload[msg->size] = '\0';
        pthread_mutex_unlock(&last_lock);
    } else {
        atomic_fetch_add(&skipped, 1);
    }

    /* The notice, as the scene's settings say now. */
    pthread_mutex_lock(&where->lock);
    settings now = where->cur;
    pthread_mutex_unlock(&where->lock);
    char notice[NOTICE_MAX];
    if (now.muted) {
        atomic_fetch_add(&where->suppressed, 1);
    } else {
        char body[NOTICE_MAX - CHANNEL_MAX - 4];
        render(now.template, where->scene, now.channel, object ? msg->data : "", object ? msg->size : 0, body,
               sizeof body);
        snprintf(notice, sizeof notice, "[%s] %s", now.channel, body);
        pthread_mutex_lock(&where->lock);
        memcpy(where->last_notice, notice, sizeof notice);
        pthread_mutex_unlock(&where->lock);
        atomic_fetch_add(&where->sent, 1);
    }
    if (n % 1000 == 0) {
        api->log(ctx, KEEL_LOG_INFO, "%" PRIdFAST64 " transfers heard (retail %" PRIdFAST64 ", corporate %" PRIdFAST64
                 ", %" PRIdFAST64 " payloads not kept); %s: %s", n, atomic_load(&scenes[0].heard),
                 atomic_load(&scenes[1].heard), atomic_load(&skipped), where->scene,
                 now.muted ? "muted" : notice);
    }
}

/* --- services ----------------------------------------------------------------- */

static listened *scene_of(const char *scene)
{
    for (size_t i = 0; scene != NULL && i < SCENE_COUNT; i++)
        if (strcmp(scenes[i].scene, scene) == 0)
            return &scenes[i];
    return NULL;
}

static int64_t notify_count(const char *scene)
{
    if (scene == NULL)
        return -1;
    if (strcmp(scene, "*") == 0)
        return atomic_load(&total);
    listened *l = scene_of(scene);
    return l ? atomic_load(&l->heard) : -1;
}

static const char *notify_last(void)
{
    pthread_mutex_lock(&last_lock);
    memcpy(last_copy, last_payload, sizeof last_copy);
    pthread_mutex_unlock(&last_lock);
    return last_copy;
}

/* `s` as a JSON string (quotes included) into out. */
static void json_string(char *out, size_t size, const char *s)
{
    size_t o = 0;
    if (size < 3)
        return;
    out[o++] = '"';
    for (; *s != '\0' && o + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

static const char *notify_settings(const char *scene)
{
    listened *l = scene_of(scene);
    if (l == NULL)
        return "null";
    pthread_mutex_lock(&l->lock);
    settings now = l->cur;
    uint64_t changes = l->changes;
    char notice[NOTICE_MAX];
    memcpy(notice, l->last_notice, sizeof notice);
    pthread_mutex_unlock(&l->lock);
    char channel[CHANNEL_MAX * 6 + 3], tmpl[TEMPLATE_MAX * 6 + 3], last[NOTICE_MAX * 2 + 3];
    json_string(channel, sizeof channel, now.channel);
    json_string(tmpl, sizeof tmpl, now.template);
    json_string(last, sizeof last, notice);
    snprintf(settings_copy, sizeof settings_copy,
             "{\"scene\":\"%s\",\"channel\":%s,\"muted\":%s,\"template\":%s,\"sent\":%" PRIdFAST64
             ",\"suppressed\":%" PRIdFAST64 ",\"changes\":%" PRIu64 ",\"last_notice\":%s}",
             l->scene, channel, now.muted ? "true" : "false", tmpl, atomic_load(&l->sent),
             atomic_load(&l->suppressed), changes, notice[0] ? last : "null");
    return settings_copy;
}

/* --- lifecycle ------------------------------------------------------------------ */

static void unwatch_all(void)
{
    for (size_t i = 0; i < SCENE_COUNT; i++) {
        if (scenes[i].watch_id != 0)
            cfg_api->unwatch(cfg, scenes[i].watch_id);
        scenes[i].watch_id = 0;
    }
}

/* Binds the config starter, watches each scene's keys, then reads them
 * (watch first: a change in between is not missed). */
static keel_status settings_start(keel_ctx *ctx)
{
    if (!KEEL_API_HAS(api, starter_get)) {
        api->log(ctx, KEEL_LOG_ERROR, "this base serves module-api %u; notify needs 3 (starters)",
                 (unsigned)api->version);
        return KEEL_ERR_API;
    }
    keel_status st = api->starter_get(ctx, "config", NULL, (const void **)&cfg_api, (void **)&cfg);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "cannot bind the config starter (status %d): is \"config\" enabled in the "
                 "base's \"starters\"?", (int)st);
        return st;
    }
    for (size_t i = 0; i < SCENE_COUNT && st == KEEL_OK; i++) {
        listened *l = &scenes[i];
        st = cfg_api->watch(cfg, l->scene, "*", on_setting, l, &l->watch_id);
        if (st != KEEL_OK)
            break;
        pthread_mutex_lock(&l->lock);
        settings_default(&l->cur);
        l->changes = 0;
        l->last_notice[0] = '\0';
        setting_load(l, "channel");
        setting_load(l, "muted");
        setting_load(l, "template");
        l->changes = 0; /* the initial values are not changes */
        api->log(ctx, KEEL_LOG_INFO, "%s: notices via %s%s, template \"%s\"", l->scene, l->cur.channel,
                 l->cur.muted ? " (muted)" : "", l->cur.template);
        pthread_mutex_unlock(&l->lock);
    }
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "watching the settings failed (status %d)", (int)st);
        unwatch_all();
    }
    return st;
}

static keel_status notify_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    keel_status st = settings_start(ctx);
    if (st != KEEL_OK)
        return st;
    for (size_t i = 0; i < SCENE_COUNT && st == KEEL_OK; i++)
        st = api->subscribe(ctx, scenes[i].scene, "transfer.done", on_transfer_done, &scenes[i]);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "notify", "count", "i64(str)", (keel_fn)notify_count);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "notify", "last", "json()", (keel_fn)notify_last);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "notify", "settings", "json(str)", (keel_fn)notify_settings);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "subscribing or registering failed (status %d)", (int)st);
        unwatch_all();
        return st;
    }
    api->log(ctx, KEEL_LOG_INFO, "listening to transfer.done in retail and corporate");
    return KEEL_OK;
}

static void notify_stop(keel_ctx *ctx, const keel_api *table)
{
    /* No callback into this code after this (the base unbinds too). */
    unwatch_all();
    table->log(ctx, KEEL_LOG_INFO, "stopping after %" PRIdFAST64 " transfers (retail %" PRIdFAST64
             ", corporate %" PRIdFAST64 "; sent %" PRIdFAST64 ", muted %" PRIdFAST64 ")", atomic_load(&total),
             atomic_load(&scenes[0].heard), atomic_load(&scenes[1].heard),
             atomic_load(&scenes[0].sent) + atomic_load(&scenes[1].sent),
             atomic_load(&scenes[0].suppressed) + atomic_load(&scenes[1].suppressed));
}

KEEL_MODULE("notify", notify_start, notify_stop)
