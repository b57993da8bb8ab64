/* account: the ledger of the fund samples, in scene "funds".
 *
 * Balances are integer cents (never floating point: money must add up
 * exactly) for a fixed set of accounts opened at start from the manifest's
 * configuration, "accounts": {"alice": 100000000000, ...}. Accounts are not
 * created or closed afterwards, so the table itself never changes shape and
 * only the balances need the lock.
 *
 * Services (all callable with JSON, see the manifest):
 *   balance  i64(str)      the balance, or -1 for an unknown account
 *   debit    i32(str,i64)  0 ok, 1 insufficient funds, 2 unknown account,
 *                          3 bad amount (not positive, or would overflow)
 *   credit   i32(str,i64)  same codes (1 never happens)
 *   accounts json()        {"alice": 100, ...} in configuration order
 *
 * The state lives in this instance only: a new version of account would
 * start again from its configuration, so this sample is meant to be swapped
 * only together with its data (it is not, in the demo).
 */
#include <keel/module.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_MAX 64
#define ACCOUNT_NAME_MAX 64

/* Result codes of debit and credit (part of the service contract). */
enum { ACC_OK = 0, ACC_INSUFFICIENT = 1, ACC_UNKNOWN = 2, ACC_BAD_AMOUNT = 3 };

typedef struct account {
    char name[ACCOUNT_NAME_MAX];
    int64_t cents;
} account;

/* Filled once by the start hook, before any service is registered, so the
 * names and the count are read without the lock; balances change under it. */
static account accounts[ACCOUNT_MAX];
static size_t account_count;
static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;

/* "accounts" results: the router copies a json() result as soon as the
 * function returns, so one buffer per calling thread is enough. */
static _Thread_local char listing[ACCOUNT_MAX * (ACCOUNT_NAME_MAX + 24) + 4];

static account *find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < account_count; i++)
        if (strcmp(accounts[i].name, name) == 0)
            return &accounts[i];
    return NULL;
}

static int64_t acc_balance(const char *name)
{
    account *a = find(name);
    if (a == NULL)
        return -1;
    pthread_mutex_lock(&ledger_lock);
    int64_t cents = a->cents;
    pthread_mutex_unlock(&ledger_lock);
    return cents;
}

static int32_t acc_debit(const char *name, int64_t cents)
{
    account *a = find(name);
    if (a == NULL)
        return ACC_UNKNOWN;
    if (cents <= 0)
        return ACC_BAD_AMOUNT;
    int32_t rc = ACC_OK;
    pthread_mutex_lock(&ledger_lock);
    /* Check and take under one lock: two concurrent debits cannot both
     * spend the same cents. */
    if (a->cents < cents)
        rc = ACC_INSUFFICIENT;
    else
        a->cents -= cents;
    pthread_mutex_unlock(&ledger_lock);
    return rc;
}

static int32_t acc_credit(const char *name, int64_t cents)
{
    account *a = find(name);
    if (a == NULL)
        return ACC_UNKNOWN;
    if (cents <= 0)
        return ACC_BAD_AMOUNT;
    int32_t rc = ACC_OK;
    pthread_mutex_lock(&ledger_lock);
    if (a->cents > INT64_MAX - cents)
        rc = ACC_BAD_AMOUNT; /* refusing beats wrapping around */
    else
        a->cents += cents;
    pthread_mutex_unlock(&ledger_lock);
    return rc;
}

static const char *acc_list(void)
{
    /* Names were checked at start to need no JSON escaping. One snapshot
     * under the lock, so the listed balances add up. */
    size_t used = 0;
    listing[used++] = '{';
    pthread_mutex_lock(&ledger_lock);
    for (size_t i = 0; i < account_count; i++) {
        int n = snprintf(listing + used, sizeof listing - used, "%s\"%s\":%" PRId64, i ? "," : "",
                         accounts[i].name, accounts[i].cents);
        if (n < 0 || (size_t)n >= sizeof listing - used - 1)
            break; /* cannot happen: the buffer is sized for ACCOUNT_MAX */
        used += (size_t)n;
    }
    pthread_mutex_unlock(&ledger_lock);
    listing[used++] = '}';
    listing[used] = '\0';
    return listing;
}

/* --- configuration: a flat JSON object of name -> integer cents ----------- */

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

/* Parses `text` into the account table. Returns NULL on success, else a
 * static description of what is wrong. */
static const char *parse_accounts(const char *text)
{
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
        if (account_count == ACCOUNT_MAX)
            return "too many accounts (at most 64)";
        account *a = &accounts[account_count];
        memcpy(a->name, name, len);
        a->name[len] = '\0';
        if (find(a->name) != NULL)
            return "an account is listed twice";
        a->cents = cents;
        account_count++;
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

static keel_status account_start(keel_ctx *ctx, const keel_api *api)
{
    const char *text = api->config_get(ctx, "accounts");
    if (text == NULL) {
        api->log(ctx, KEEL_LOG_ERROR, "configuration has no \"accounts\" object; nothing to serve");
        return KEEL_ERR_INVALID;
    }
    account_count = 0;
    const char *problem = parse_accounts(text);
    if (problem != NULL) {
        api->log(ctx, KEEL_LOG_ERROR, "configuration \"accounts\": %s", problem);
        return KEEL_ERR_INVALID;
    }
    /* Register last: nobody can call in before the table is complete. */
    keel_status st = api->service_register(ctx, "funds", "balance", "i64(str)", (keel_fn)acc_balance);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "debit", "i32(str,i64)", (keel_fn)acc_debit);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "credit", "i32(str,i64)", (keel_fn)acc_credit);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "funds", "accounts", "json()", (keel_fn)acc_list);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "registering the funds services failed (status %d)", (int)st);
        return st;
    }
    int64_t total = 0;
    for (size_t i = 0; i < account_count; i++)
        total += accounts[i].cents;
    api->log(ctx, KEEL_LOG_INFO, "ledger open: %zu accounts, %" PRId64 " cents in all", account_count, total);
    return KEEL_OK;
}

static void account_stop(keel_ctx *ctx, const keel_api *api)
{
    /* Services are unregistered by the base; say what the ledger held, the
     * in-memory state goes with this instance. */
    int64_t total = 0;
    pthread_mutex_lock(&ledger_lock);
    for (size_t i = 0; i < account_count; i++)
        total += accounts[i].cents;
    pthread_mutex_unlock(&ledger_lock);
    api->log(ctx, KEEL_LOG_INFO, "ledger closed with %" PRId64 " cents in all", total);
}

KEEL_MODULE("account", account_start, account_stop)
