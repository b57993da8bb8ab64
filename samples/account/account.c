/* account: the ledger of the fund samples, in scene "funds", kept in the
 * db starter (an SQLite file per module name, shared by every version).
 *
 * Balances are integer cents (never floating point: money must add up
 * exactly) for a set of accounts opened ONCE, on the very first start, from
 * the manifest's configuration, "accounts": {"alice": 100000000000, ...}.
 * Every later start (a restart of the base, a new version, a switch back)
 * finds the ledger as it was: the database is the only copy of the
 * balances, so they are identical across versions and restarts by
 * construction; nothing is cached in the module.
 *
 * Tables (schema version 1, created if missing):
 *   accounts(id, pos, balance CHECK >= 0)    pos: configuration order
 *   journal(seq, account, kind, delta, at_ms, by_version)
 *            kind 'open' (the opening balances), 'debit' (delta < 0) or
 *            'credit'; every balance change writes its journal row in the
 *            same transaction (one db batch), so for each account
 *            balance = sum(delta) always.
 *
 * Services (all callable with JSON, see the manifest):
 *   balance    i64(str)      the balance, -1 for an unknown account, -2 when
 *                            the ledger's storage failed
 *   debit      i32(str,i64)  0 ok, 1 insufficient funds, 2 unknown account,
 *                            3 bad amount (not positive, or would overflow),
 *                            4 the ledger's storage failed (nothing changed)
 *   credit     i32(str,i64)  same codes (1 never happens)
 *   accounts   json()        {"alice": 100, ...} in configuration order
 *   reconcile  json()        {"accounts":N,"total":X,"opening":O,
 *                            "movements":M,"negative":0,"mismatched":[],
 *                            "ok":true,...}: no balance is negative, every
 *                            balance equals its journal, and the total is
 *                            the opening total plus the recorded movements.
 *                            Logged too (meant for a nightly timer).
 *
 * Version 2 (ACCOUNT_V2, needs db >= 1.1 for migrate):
 *   - schema version 2, migrated once on the first start of 2.0.0 (db's
 *     migrate slot: idempotent, all or nothing): an index journal(account,
 *     seq) and a view journal_running with each row's balance after it
 *     (a window sum, so rows written by 1.0.0 are covered too). Version 1
 *     ignores both, so switching back is safe;
 *   - history  json(str,i64)  the last N (1..50) journal rows of an account,
 *                            newest first, with balance_after; null for an
 *                            unknown account.
 */
#include <keel/module.h>
#include <keel/starters/db.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCOUNT_MAX 64
#define ACCOUNT_NAME_MAX 64
#define HISTORY_MAX 50

/* Result codes of debit and credit (part of the service contract). */
enum { ACC_OK = 0, ACC_INSUFFICIENT = 1, ACC_UNKNOWN = 2, ACC_BAD_AMOUNT = 3, ACC_STORAGE = 4 };

#ifdef ACCOUNT_V2
#define SCHEMA_VERSION 2
#else
#define SCHEMA_VERSION 1
#endif

/* Set by the start hook before any service is registered; read-only after. */
static const keel_api *api;
static keel_ctx *self;
static const keel_db_api *db;
static keel_db *ledger;
static const char *version = "?";

/* json() results: the router copies them as soon as the service returns,
 * so one buffer per calling thread is enough. */
static _Thread_local char result[16384];

/* --- small helpers ----------------------------------------------------- */

/* Writes `s` as a JSON string literal into out. 0 when it does not fit. */
static int json_quote(char *out, size_t size, const char *s)
{
    size_t n = 0;
    if (size < 3)
        return 0;
    out[n++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (n + 8 >= size)
            return 0;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return 1;
}

/* A name that can be an account: 1-63 bytes (longer ones are unknown). */
static int plausible(const char *name)
{
    return name != NULL && name[0] != '\0' && strlen(name) < ACCOUNT_NAME_MAX;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) != TIME_UTC) /* C11: no POSIX needed under -std=c17 */
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Logs a failed db call with the starter's message for this thread. */
static void storage_failed(const char *what, keel_status st)
{
    char why[512];
    db->last_error(ledger, why, sizeof why);
    api->log(self, KEEL_LOG_ERROR, "ledger %s failed (status %d): %s", what, (int)st, why);
}

/* 1 the account exists, 0 it does not, -1 storage failure. */
static int exists(const char *quoted)
{
    char params[ACCOUNT_NAME_MAX * 6 + 8];
    snprintf(params, sizeof params, "[%s]", quoted);
    int64_t n = 0;
    keel_status st = db->query_i64(ledger, "SELECT count(*) FROM accounts WHERE id = ?", params, &n);
    if (st != KEEL_OK) {
        storage_failed("lookup", st);
        return -1;
    }
    return n > 0;
}

/* The "changes" of the first result of a batch, as the db starter writes
 * it: [{"changes":N,"last_insert_rowid":M},...]. -1 if it is not that. */
static int64_t first_changes(const char *results)
{
    static const char prefix[] = "[{\"changes\":";
    if (results == NULL || strncmp(results, prefix, sizeof prefix - 1) != 0)
        return -1;
    return strtoll(results + sizeof prefix - 1, NULL, 10);
}

/* Copies a starter string into this thread's result buffer and frees it.
 * NULL or too long: `fallback`. */
static const char *hand_out(char *text, const char *fallback)
{
    const char *r = fallback;
    if (text != NULL && strlen(text) < sizeof result) {
        memcpy(result, text, strlen(text) + 1);
        r = result;
    }
    db->free(text);
    return r;
}

/* --- services ------------------------------------------------------------ */

static int64_t acc_balance(const char *name)
{
    char quoted[ACCOUNT_NAME_MAX * 6 + 4], params[sizeof quoted + 4];
    if (!plausible(name) || !json_quote(quoted, sizeof quoted, name))
        return -1;
    snprintf(params, sizeof params, "[%s]", quoted);
    int64_t cents = -1;
    keel_status st = db->query_i64(ledger, "SELECT balance FROM accounts WHERE id = ?", params, &cents);
    if (st == KEEL_ERR_NOT_FOUND)
        return -1;
    if (st != KEEL_OK) {
        storage_failed("balance", st);
        return -2;
    }
    return cents;
}

/* The balance change and its journal row, in one transaction. The UPDATE's
 * WHERE is the whole check (enough funds, no overflow), made and applied
 * atomically by SQLite; the journal row is written only if it changed a
 * row (changes() sees the statement before it). */
#define JOURNAL_ROW "INSERT INTO journal(account, kind, delta, at_ms, by_version) SELECT ?1, ?2, ?3, ?4, ?5 " \
                    "WHERE changes() = 1"
static const char debit_sql[] = "UPDATE accounts SET balance = balance - ?1 WHERE id = ?2 AND balance >= ?1";
static const char credit_sql[] =
    "UPDATE accounts SET balance = balance + ?1 WHERE id = ?2 AND balance <= 9223372036854775807 - ?1";

static int32_t move_money(const char *name, int64_t cents, int is_debit)
{
    char quoted[ACCOUNT_NAME_MAX * 6 + 4];
    if (!plausible(name) || !json_quote(quoted, sizeof quoted, name))
        return ACC_UNKNOWN;
    if (cents <= 0) {
        int e = exists(quoted);
        return e < 0 ? ACC_STORAGE : e ? ACC_BAD_AMOUNT : ACC_UNKNOWN;
    }
    char doc[1024];
    int n = snprintf(doc, sizeof doc,
                     "[{\"sql\":\"%s\",\"params\":[{\"i64\":\"%" PRId64 "\"},%s]},"
                     "{\"sql\":\"" JOURNAL_ROW "\",\"params\":[%s,\"%s\",{\"i64\":\"%s%" PRId64 "\"},%" PRId64
                     ",\"%s\"]}]",
                     is_debit ? debit_sql : credit_sql, cents, quoted, quoted, is_debit ? "debit" : "credit",
                     is_debit ? "-" : "", cents, now_ms(), version);
    if (n < 0 || (size_t)n >= sizeof doc)
        return ACC_UNKNOWN; /* cannot happen: names are short */
    char *results = NULL;
    keel_status st = db->batch(ledger, doc, &results);
    if (st != KEEL_OK) {
        storage_failed(is_debit ? "debit" : "credit", st);
        return ACC_STORAGE;
    }
    int64_t changed = first_changes(results);
    db->free(results);
    if (changed == 1)
        return ACC_OK;
    if (changed != 0) {
        api->log(self, KEEL_LOG_ERROR, "ledger %s: unexpected batch result", is_debit ? "debit" : "credit");
        return ACC_STORAGE;
    }
    /* Nothing changed: no such account, or the check refused the amount. */
    int e = exists(quoted);
    if (e < 0)
        return ACC_STORAGE;
    if (!e)
        return ACC_UNKNOWN;
    return is_debit ? ACC_INSUFFICIENT : ACC_BAD_AMOUNT;
}

static int32_t acc_debit(const char *name, int64_t cents)
{
    return move_money(name, cents, 1);
}

static int32_t acc_credit(const char *name, int64_t cents)
{
    return move_money(name, cents, 0);
}

static const char *acc_list(void)
{
    /* One statement: one consistent snapshot, so the balances add up. */
    char *text = NULL;
    keel_status st = db->query_text(ledger,
                                    "SELECT json_group_object(id, balance) FROM "
                                    "(SELECT id, balance FROM accounts ORDER BY pos)", NULL, &text);
    if (st != KEEL_OK)
        storage_failed("accounts", st);
    return hand_out(text, "null");
}

/* One statement, so one snapshot: the checks cannot see half a change. */
static const char reconcile_sql[] =
    "WITH a AS (SELECT count(*) AS n, coalesce(sum(balance), 0) AS total, "
    "           coalesce(sum(balance < 0), 0) AS negative FROM accounts), "
    "     j AS (SELECT coalesce(sum(CASE WHEN kind = 'open' THEN delta END), 0) AS opening, "
    "                  coalesce(sum(CASE WHEN kind <> 'open' THEN delta END), 0) AS movements, "
    "                  count(*) AS rows FROM journal), "
    "     per AS (SELECT account, sum(delta) AS s FROM journal GROUP BY account), "
    "     m AS (SELECT json_group_array(x.id) AS ids, count(*) AS n FROM accounts x "
    "           LEFT JOIN per ON per.account = x.id WHERE coalesce(per.s, 0) <> x.balance) "
    "SELECT json_object('accounts', a.n, 'total', a.total, 'opening', j.opening, "
    "  'movements', j.movements, 'journal_rows', j.rows, 'negative', a.negative, "
    "  'mismatched', json(m.ids), "
    "  'ok', json(CASE WHEN a.negative = 0 AND m.n = 0 AND a.total = j.opening + j.movements "
    "                  THEN 'true' ELSE 'false' END), "
    "  'version', ?1, 'schema', ?2) FROM a, j, m";

static const char *acc_reconcile(void)
{
    char params[96], *text = NULL;
    snprintf(params, sizeof params, "[\"%s\",%d]", version, SCHEMA_VERSION);
    keel_status st = db->query_text(ledger, reconcile_sql, params, &text);
    if (st != KEEL_OK) {
        storage_failed("reconcile", st);
        return hand_out(NULL, "{\"ok\":false,\"error\":\"the ledger could not be read\"}");
    }
    int ok = strstr(text, "\"ok\":true") != NULL;
    api->log(self, ok ? KEEL_LOG_INFO : KEEL_LOG_ERROR, "reconcile %s: %s", ok ? "ok" : "FAILED", text);
    return hand_out(text, "{\"ok\":false,\"error\":\"reconcile result too large\"}");
}

#ifdef ACCOUNT_V2
static const char *acc_history(const char *name, int64_t count)
{
    char quoted[ACCOUNT_NAME_MAX * 6 + 4], params[sizeof quoted + 32];
    if (!plausible(name) || !json_quote(quoted, sizeof quoted, name))
        return "null";
    int e = exists(quoted);
    if (e <= 0)
        return "null";
    if (count < 1)
        count = 1;
    if (count > HISTORY_MAX)
        count = HISTORY_MAX;
    snprintf(params, sizeof params, "[%s,%" PRId64 "]", quoted, count);
    char *text = NULL;
    keel_status st = db->query_text(
        ledger,
        "SELECT json_group_array(json_object('seq', seq, 'kind', kind, 'delta', delta, "
        "  'balance_after', balance_after, 'at_ms', at_ms, 'version', by_version)) "
        "FROM (SELECT * FROM journal_running WHERE account = ?1 ORDER BY seq DESC LIMIT ?2)",
        params, &text);
    if (st != KEEL_OK)
        storage_failed("history", st);
    return hand_out(text, "null");
}
#endif

/* --- configuration: a flat JSON object of name -> integer cents ----------- */

typedef struct seed {
    char name[ACCOUNT_NAME_MAX];
    int64_t cents;
} seed;

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Account names become JSON keys and log text as they are: allow only a
 * plain identifier alphabet instead of handling escapes. */
static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* Parses `text` into seeds[0..*count). Returns NULL on success, else a
 * static description of what is wrong. */
static const char *parse_accounts(const char *text, seed *seeds, size_t *count)
{
    *count = 0;
    const char *p = skip_space(text);
    if (*p++ != '{')
        return "\"accounts\" must be an object";
    p = skip_space(p);
    if (*p == '}')
        return "\"accounts\" is empty";
    for (;;) {
        if (*p++ != '"')
            return "an account name must be a string";
        const char *name = p;
        while (name_char_ok(*p))
            p++;
        size_t len = (size_t)(p - name);
        if (*p++ != '"' || len == 0 || len >= ACCOUNT_NAME_MAX)
            return "account names are 1-63 characters of [A-Za-z0-9_.-]";
        p = skip_space(p);
        if (*p++ != ':')
            return "expected ':' after an account name";
        p = skip_space(p);
        /* Integers only. The base renders configuration numbers from
         * doubles; an integral value may come back as "1e+11", so accept an
         * exponent as long as the value is a whole number of cents. */
        char *end = NULL;
        errno = 0;
        long long cents = strtoll(p, &end, 10);
        if (end == p)
            return "a balance must be a number of cents";
        if (*end == '.' || *end == 'e' || *end == 'E') {
            double d = strtod(p, &end);
            /* Range first: converting an out-of-range double is undefined. */
            if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(long long)d)
                return "a balance must be a whole, non-negative number of cents below 2^53";
            cents = (long long)d;
        } else if (errno == ERANGE) {
            return "a balance is out of range";
        }
        if (cents < 0)
            return "a balance cannot be negative";
        if (*count == ACCOUNT_MAX)
            return "too many accounts (at most 64)";
        seed *s = &seeds[*count];
        memcpy(s->name, name, len);
        s->name[len] = '\0';
        for (size_t i = 0; i < *count; i++)
            if (strcmp(seeds[i].name, s->name) == 0)
                return "an account is listed twice";
        s->cents = cents;
        (*count)++;
        p = skip_space(end);
        if (*p == '}')
            break;
        if (*p++ != ',')
            return "expected ',' or '}' after a balance";
        p = skip_space(p);
    }
    p = skip_space(p + 1);
    return *p == '\0' ? NULL : "unexpected text after \"accounts\"";
}

/* --- schema ------------------------------------------------------------------ */

/* Schema version 1 and, on an empty ledger only, the opening balances: one
 * batch, so a ledger is either not opened at all or opened completely. The
 * guard is "no 'open' journal row yet", which stays true for every account
 * row of the batch and turns false with its last statement. */
static keel_status open_ledger(const seed *seeds, size_t count)
{
    static char doc[ACCOUNT_MAX * 256 + 2048]; /* the start hook runs alone */
    size_t used = 0;
    int n = snprintf(doc, sizeof doc, "%s",
                     "[\"CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, pos INTEGER NOT NULL, "
                     "balance INTEGER NOT NULL CHECK (balance >= 0))\","
                     "\"CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "account TEXT NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL CHECK (kind IN "
                     "('open', 'debit', 'credit')), delta INTEGER NOT NULL, at_ms INTEGER NOT NULL, "
                     "by_version TEXT NOT NULL)\"");
    used = (size_t)n;
    for (size_t i = 0; i < count; i++) {
        n = snprintf(doc + used, sizeof doc - used,
                     ",{\"sql\":\"INSERT INTO accounts(id, pos, balance) SELECT ?1, ?2, ?3 WHERE NOT EXISTS "
                     "(SELECT 1 FROM journal WHERE kind = 'open')\",\"params\":[\"%s\",%zu,{\"i64\":\"%" PRId64
                     "\"}]}",
                     seeds[i].name, i, seeds[i].cents);
        if (n < 0 || (size_t)n >= sizeof doc - used)
            return KEEL_ERR_LIMIT;
        used += (size_t)n;
    }
    n = snprintf(doc + used, sizeof doc - used,
                 ",{\"sql\":\"INSERT INTO journal(account, kind, delta, at_ms, by_version) SELECT id, 'open', "
                 "balance, ?1, ?2 FROM accounts WHERE NOT EXISTS (SELECT 1 FROM journal WHERE kind = 'open') "
                 "ORDER BY pos\",\"params\":[%" PRId64 ",\"%s\"]}]",
                 now_ms(), version);
    if (n < 0 || (size_t)n >= sizeof doc - used)
        return KEEL_ERR_LIMIT;
    keel_status st = db->batch(ledger, doc, NULL);
    if (st != KEEL_OK)
        storage_failed("schema", st);
    return st;
}

#ifdef ACCOUNT_V2
/* Schema version 2, once: idempotent through db's migrate (user_version),
 * and harmless to version 1 should the module be switched back. */
static keel_status migrate_ledger(void)
{
    if (!KEEL_DB_HAS(db, migrate)) {
        api->log(self, KEEL_LOG_ERROR, "account %s needs the db starter >= 1.1 (migrate); this base runs "
                 "an older one", version);
        return KEEL_ERR_API;
    }
    int64_t from = 0;
    keel_status st = db->migrate(ledger, SCHEMA_VERSION,
                                 "[\"CREATE INDEX IF NOT EXISTS journal_by_account ON journal(account, seq)\","
                                 "\"CREATE VIEW IF NOT EXISTS journal_running AS SELECT seq, account, kind, delta, "
                                 "sum(delta) OVER (PARTITION BY account ORDER BY seq) AS balance_after, at_ms, "
                                 "by_version FROM journal\"]",
                                 &from);
    if (st != KEEL_OK) {
        storage_failed("migration", st);
        return st;
    }
    if (from < SCHEMA_VERSION)
        api->log(self, KEEL_LOG_INFO, "ledger schema migrated from version %" PRId64 " to %d", from, SCHEMA_VERSION);
    return KEEL_OK;
}
#endif

/* Says what the ledger holds, and warns about configured accounts it does
 * not have (accounts are opened once; a changed configuration does not
 * reopen them). */
static void describe_ledger(const seed *seeds, size_t count, int opened_now)
{
    for (size_t i = 0; i < count; i++) {
        char quoted[ACCOUNT_NAME_MAX + 4];
        snprintf(quoted, sizeof quoted, "\"%.*s\"", ACCOUNT_NAME_MAX - 1, seeds[i].name);
        if (exists(quoted) == 0)
            api->log(self, KEEL_LOG_WARN, "configured account \"%s\" is not in the ledger (accounts are "
                     "opened once, on the first start)", seeds[i].name);
    }
    int64_t accounts = 0, total = 0;
    db->query_i64(ledger, "SELECT count(*) FROM accounts", NULL, &accounts);
    db->query_i64(ledger, "SELECT coalesce(sum(balance), 0) FROM accounts", NULL, &total);
    api->log(self, KEEL_LOG_INFO, "ledger %s: %" PRId64 " accounts, %" PRId64 " cents in all",
             opened_now ? "opened" : "reopened", accounts, total);
}

static keel_status account_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    version = api->module_version(ctx);
    if (!KEEL_API_HAS(api, starter_get)) {
        api->log(ctx, KEEL_LOG_ERROR, "this base has no starters (module-api %u); account needs db", api->version);
        return KEEL_ERR_API;
    }
    const char *text = api->config_get(ctx, "accounts");
    if (text == NULL) {
        api->log(ctx, KEEL_LOG_ERROR, "configuration has no \"accounts\" object; nothing to serve");
        return KEEL_ERR_INVALID;
    }
    static seed seeds[ACCOUNT_MAX]; /* the start hook runs alone */
    size_t count = 0;
    const char *problem = parse_accounts(text, seeds, &count);
    if (problem != NULL) {
        api->log(ctx, KEEL_LOG_ERROR, "configuration \"accounts\": %s", problem);
        return KEEL_ERR_INVALID;
    }
    void *client = NULL;
    keel_status st = api->starter_get(ctx, "db", NULL, (const void **)&db, &client);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "cannot bind the db starter (status %d)", (int)st);
        return st;
    }
    ledger = client;

    /* Whether this start opens the ledger or finds it (for the log). */
    int64_t had_journal = 0;
    st = db->query_i64(ledger, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'journal'",
                       NULL, &had_journal);
    if (st == KEEL_OK)
        st = open_ledger(seeds, count);
#ifdef ACCOUNT_V2
    if (st == KEEL_OK)
        st = migrate_ledger();
#endif
    if (st != KEEL_OK)
        return st;
    describe_ledger(seeds, count, had_journal == 0);

    /* Register last: nobody can call in before the ledger is open. */
    st = api->service_register(ctx, "funds", "balance", "i64(str)", (keel_fn)acc_balance);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "debit", "i32(str,i64)", (keel_fn)acc_debit);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "credit", "i32(str,i64)", (keel_fn)acc_credit);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "accounts", "json()", (keel_fn)acc_list);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "reconcile", "json()", (keel_fn)acc_reconcile);
#ifdef ACCOUNT_V2
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "history", "json(str,i64)", (keel_fn)acc_history);
#endif
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "registering the funds services failed (status %d)", (int)st);
        return st;
    }
    return KEEL_OK;
}

static void account_stop(keel_ctx *ctx, const keel_api *table)
{
    /* Services are unregistered by the base, which unbinds db after this
     * returns; the ledger itself stays in the database. */
    int64_t total = 0;
    if (db->query_i64(ledger, "SELECT coalesce(sum(balance), 0) FROM accounts", NULL, &total) == KEEL_OK)
        table->log(ctx, KEEL_LOG_INFO, "ledger closed with %" PRId64 " cents in all (kept in the database)", total);
}

KEEL_MODULE("account", account_start, account_stop)
