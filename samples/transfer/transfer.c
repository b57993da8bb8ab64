/* transfer: moves money between ledger accounts, with one implementation
 * per scene under the same service name (the point of scenes: retail and
 * corporate customers follow different rules, one module owns both).
 *
 *   retail/transfer     json(str from, str to, i64 cents)
 *                       no fee; at most 500000 cents per transfer
 *   corporate/transfer  json(str from, str to, i64 cents)
 *                       at least 100000 cents; a fixed fee of 500 cents,
 *                       debited from the sender on top of the amount and
 *                       credited to the fee account
 *
 * Built twice from this file. Version 2 (TRANSFER_V2) changes, visibly:
 *   - every successful result carries a "receipt", "R-<scene>-<sequence>" (the
 *     sequence counts the successful transfers of that scene in this
 *     instance, from 1);
 *   - retail transfers under 100 cents pay a fee of 1 cent (small payments
 *     cost more to process than they bring in).
 *
 * The ledger is another module (account, scene "funds"). Its debit and
 * credit services are resolved once at start and called through typed
 * calls, which follow the account module across its version switches;
 * the manifest's "calls" entry is what allows this module into "funds".
 *
 * A transfer is a debit of the sender, then a credit of the receiver, then
 * a credit of the fee account. When a later step fails the earlier ones are
 * undone (compensation) and the result says whether that worked: money is
 * never created or lost silently.
 *
 * On success the result is also published as "transfer.done" in the scene
 * of the transfer (the notify module listens).
 *
 * Result (a JSON text): {"ok":true,"scene":"retail","from":"alice","to":
 * "bob","amount":1,"fee":0,"version":"1.0.0"} or {"ok":false,"error":
 * "insufficient funds",...,"version":"1.0.0"}.
 */
#include <keel/module.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Ledger result codes (account's service contract). */
enum { LEDGER_OK = 0, LEDGER_INSUFFICIENT = 1, LEDGER_UNKNOWN = 2, LEDGER_BAD_AMOUNT = 3 };

typedef int32_t (*ledger_fn)(const char *account, int64_t cents);

/* The rules of one scene. */
typedef struct scene_rules {
    const char *scene;
    int64_t min_cents;        /* 0: no minimum */
    int64_t max_cents;        /* 0: no limit */
    int64_t fee_cents;        /* fixed fee */
    int64_t small_below;      /* amounts below this pay small_fee instead (0: none) */
    int64_t small_fee;
    atomic_uint_fast64_t done;  /* successful transfers (receipt numbers in v2) */
} scene_rules;

#ifdef TRANSFER_V2
#define TRANSFER_RECEIPTS 1
#define RETAIL_SMALL_BELOW 100 /* v2: retail transfers under 1.00 pay 1 cent */
#define RETAIL_SMALL_FEE 1
#else
#define TRANSFER_RECEIPTS 0
#define RETAIL_SMALL_BELOW 0
#define RETAIL_SMALL_FEE 0
#endif

static scene_rules retail = {"retail", 0, 500000, 0, RETAIL_SMALL_BELOW, RETAIL_SMALL_FEE, 0};
static scene_rules corporate = {"corporate", 100000, 0, 500, 0, 0, 0};

static const keel_api *api;
static keel_ctx *self;
static const char *version = "?";
static char fee_account[64] = "fees";
static keel_service_ref *debit_ref, *credit_ref;
static atomic_uint_fast64_t publish_failures;

/* The result text. The router copies a json() result as soon as the
 * service returns, so one buffer per calling thread is all it needs. */
static _Thread_local char result[1024];

/* Writes `s` as a JSON string into out (size >= 8). Long or odd input is
 * cut short but always stays valid JSON. */
static void json_string(char *out, size_t size, const char *s)
{
    size_t n = 0;
    out[n++] = '"';
    for (; s != NULL && *s != '\0' && n + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
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
}

/* One typed call into the ledger. KEEL_OK with the ledger's code in *code,
 * or the status of a call that could not be made (nobody serves funds). */
static keel_status ledger(keel_service_ref *ref, const char *account, int64_t cents, int32_t *code)
{
    keel_call call;
    keel_status st = api->call_enter(ref, NULL, &call);
    if (st != KEEL_OK)
        return st;
    *code = ((ledger_fn)call.fn)(account, cents);
    api->call_leave(&call);
    return KEEL_OK;
}

static const char *ledger_error(keel_status st, int32_t code)
{
    if (st != KEEL_OK)
        return "ledger unavailable";
    switch (code) {
    case LEDGER_INSUFFICIENT: return "insufficient funds";
    case LEDGER_UNKNOWN: return "unknown account";
    case LEDGER_BAD_AMOUNT: return "bad amount";
    default: return "ledger error";
    }
}

/* Gives `cents` back to `account` after a later step failed. Non-zero when
 * the money is back. */
static int refund(const scene_rules *r, const char *account, int64_t cents)
{
    int32_t code = -1;
    keel_status st = ledger(credit_ref, account, cents, &code);
    if (st == KEEL_OK && code == LEDGER_OK)
        return 1;
    /* The ledger no longer adds up: an operator must know at once. */
    api->log(self, KEEL_LOG_ERROR, "%s: refund of %" PRId64 " cents to \"%s\" failed (status %d, code %d)",
             r->scene, cents, account, (int)st, (int)code);
    return 0;
}

/* Formats a failure. `compensated` < 0: no compensation was needed. */
static const char *failed(const scene_rules *r, const char *from, const char *to, int64_t cents,
                          const char *error, int compensated)
{
    char f[160], t[160];
    json_string(f, sizeof f, from);
    json_string(t, sizeof t, to);
    snprintf(result, sizeof result,
             "{\"ok\":false,\"error\":\"%s\",\"scene\":\"%s\",\"from\":%s,\"to\":%s,\"amount\":%" PRId64
             "%s,\"version\":\"%s\"}",
             error, r->scene, f, t, cents,
             compensated < 0 ? "" : compensated ? ",\"compensated\":true" : ",\"compensated\":false", version);
    return result;
}

static const char *run_transfer(scene_rules *r, const char *from, const char *to, int64_t cents)
{
    if (from == NULL || to == NULL || cents <= 0)
        return failed(r, from, to, cents, "bad amount", -1);
    if (strcmp(from, to) == 0)
        return failed(r, from, to, cents, "same account", -1);
    if (r->min_cents > 0 && cents < r->min_cents)
        return failed(r, from, to, cents, "below minimum", -1);
    if (r->max_cents > 0 && cents > r->max_cents)
        return failed(r, from, to, cents, "over limit", -1);
    int64_t fee = r->small_below > 0 && cents < r->small_below ? r->small_fee : r->fee_cents;
    if (cents > INT64_MAX - fee)
        return failed(r, from, to, cents, "bad amount", -1);

    /* 1. Take amount and fee from the sender in one debit: either both or
     *    neither, so a sender cannot end up paying a fee for nothing. */
    int32_t code = -1;
    keel_status st = ledger(debit_ref, from, cents + fee, &code);
    if (st != KEEL_OK || code != LEDGER_OK)
        return failed(r, from, to, cents, ledger_error(st, code), -1);

    /* 2. Pay the receiver; if that fails, the sender gets everything back. */
    st = ledger(credit_ref, to, cents, &code);
    if (st != KEEL_OK || code != LEDGER_OK) {
        int back = refund(r, from, cents + fee);
        return failed(r, from, to, cents, ledger_error(st, code), back);
    }

    /* 3. Book the fee. If the fee account refuses it, the transfer stands
     *    and the sender gets the fee back: never charge what is not booked. */
    if (fee > 0) {
        st = ledger(credit_ref, fee_account, fee, &code);
        if (st != KEEL_OK || code != LEDGER_OK) {
            api->log(self, KEEL_LOG_WARN, "%s: fee account \"%s\" refused %" PRId64 " cents (%s); fee waived",
                     r->scene, fee_account, fee, ledger_error(st, code));
            fee = refund(r, from, fee) ? 0 : fee;
        }
    }

    char f[160], t[160], receipt[64] = "";
    json_string(f, sizeof f, from);
    json_string(t, sizeof t, to);
    uint_fast64_t seq = atomic_fetch_add(&r->done, 1) + 1;
    if (TRANSFER_RECEIPTS) {
        snprintf(receipt, sizeof receipt, ",\"receipt\":\"R-%s-%" PRIuFAST64 "\"", r->scene, seq);
    }
    int n = snprintf(result, sizeof result,
                     "{\"ok\":true,\"scene\":\"%s\",\"from\":%s,\"to\":%s,\"amount\":%" PRId64 ",\"fee\":%" PRId64
                     "%s,\"version\":\"%s\"}",
                     r->scene, f, t, cents, fee, receipt, version);
    if (n < 0 || (size_t)n >= sizeof result - 24)
        return result; /* cannot happen: names are cut to fit above */

    /* 4. Tell whoever listens. The money has moved whatever happens here;
     *    a lost notification is counted, logged and shown in the result. */
    st = api->publish(self, r->scene, "transfer.done", result, (size_t)n, 0);
    if (st != KEEL_OK) {
        uint_fast64_t lost = atomic_fetch_add(&publish_failures, 1) + 1;
        if (lost == 1 || lost % 1000 == 0)
            api->log(self, KEEL_LOG_WARN, "transfer.done not delivered (status %d); %" PRIuFAST64 " so far",
                     (int)st, lost);
        memcpy(result + n - 1, ",\"notified\":false}", sizeof ",\"notified\":false}");
    }
    return result;
}

static const char *transfer_retail(const char *from, const char *to, int64_t cents)
{
    return run_transfer(&retail, from, to, cents);
}

static const char *transfer_corporate(const char *from, const char *to, int64_t cents)
{
    return run_transfer(&corporate, from, to, cents);
}

static keel_status transfer_start(keel_ctx *ctx, const keel_api *table)
{
    api = table;
    self = ctx;
    version = api->module_version(ctx);
    const char *fees = api->config_get(ctx, "fee_account");
    if (fees != NULL && snprintf(fee_account, sizeof fee_account, "%s", fees) >= (int)sizeof fee_account) {
        api->log(ctx, KEEL_LOG_ERROR, "configuration \"fee_account\" is longer than %zu characters",
                 sizeof fee_account - 1);
        return KEEL_ERR_INVALID;
    }
    /* Resolved once, used for every transfer: a reference follows the
     * account module's switches, and needs no lookup per call. */
    keel_status st = api->service_resolve(ctx, "funds", "debit", &debit_ref);
    if (st == KEEL_OK)
        st = api->service_resolve(ctx, "funds", "credit", &credit_ref);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "cannot resolve the funds services (status %d); is \"calls\" declared?",
                 (int)st);
        return st;
    }
    st = api->service_register(ctx, "retail", "transfer", "json(str,str,i64)", (keel_fn)transfer_retail);
    if (st == KEEL_OK)
        st = api->service_register(ctx, "corporate", "transfer", "json(str,str,i64)", (keel_fn)transfer_corporate);
    if (st != KEEL_OK) {
        api->log(ctx, KEEL_LOG_ERROR, "registering transfer failed (status %d)", (int)st);
        return st;
    }
    api->log(ctx, KEEL_LOG_INFO, "transfer %s ready: retail limit %" PRId64 ", corporate minimum %" PRId64
             " fee %" PRId64 "%s, fees to \"%s\"", version, retail.max_cents, corporate.min_cents,
             corporate.fee_cents, TRANSFER_RECEIPTS ? ", receipts, small retail fee" : "", fee_account);
    return KEEL_OK;
}

static void transfer_stop(keel_ctx *ctx, const keel_api *table)
{
    /* No call is inside any more (the base drained this version first):
     * give back the references taken at start. */
    if (debit_ref != NULL)
        table->service_release(ctx, debit_ref);
    if (credit_ref != NULL)
        table->service_release(ctx, credit_ref);
    debit_ref = credit_ref = NULL;
    table->log(ctx, KEEL_LOG_INFO, "transfer %s stopping: %" PRIuFAST64 " retail and %" PRIuFAST64
               " corporate transfers done, %" PRIuFAST64 " notifications lost", version,
               atomic_load(&retail.done), atomic_load(&corporate.done), atomic_load(&publish_failures));
}

KEEL_MODULE("transfer", transfer_start, transfer_stop)
