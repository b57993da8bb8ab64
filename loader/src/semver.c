/*
 * Semantic versions (semver.org 2.0.0): validation and precedence.
 *
 * Numeric parts are compared as digit strings, never converted, so versions
 * with components beyond 64 bits still compare correctly.
 */
#include <keel/manifest.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool semver_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool semver_is_ident_char(char c)
{
    return semver_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Length of the run of digits at s. */
static size_t semver_digit_run(const char *s)
{
    size_t n = 0;
    while (semver_is_digit(s[n]))
        n++;
    return n;
}

/* Checks one numeric core part ("0" or no leading zero); returns its length
 * or 0 when invalid. */
static size_t semver_core_part(const char *s)
{
    size_t n = semver_digit_run(s);
    if (n == 0 || (n > 1 && s[0] == '0'))
        return 0;
    return n;
}

/* Checks a dot-separated identifier list, stopping at the first character
 * that is neither an identifier character nor a dot; the caller checks what
 * follows (the end of a version, or a space inside a range). Numeric
 * pre-release identifiers must not have leading zeros; build identifiers may.
 * Returns the length or 0. */
static size_t semver_ident_list(const char *s, bool check_leading_zero)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        bool numeric = true;
        while (semver_is_ident_char(s[i])) {
            if (!semver_is_digit(s[i]))
                numeric = false;
            i++;
        }
        size_t len = i - start;
        if (len == 0)
            return 0;
        if (check_leading_zero && numeric && len > 1 && s[start] == '0')
            return 0;
        if (s[i] != '.')
            return i;
        i++;
    }
}

keel_status keel_semver_check(const char *version)
{
    if (version == NULL)
        return KEEL_ERR_INVALID;
    const char *p = version;
    for (int part = 0; part < 3; part++) {
        size_t n = semver_core_part(p);
        if (n == 0)
            return KEEL_ERR_INVALID;
        p += n;
        if (part < 2) {
            if (*p != '.')
                return KEEL_ERR_INVALID;
            p++;
        }
    }
    if (*p == '-') {
        size_t n = semver_ident_list(p + 1, true);
        if (n == 0)
            return KEEL_ERR_INVALID;
        p += 1 + n;
    }
    if (*p == '+') {
        size_t n = semver_ident_list(p + 1, false);
        if (n == 0)
            return KEEL_ERR_INVALID;
        p += 1 + n;
    }
    return *p == '\0' ? KEEL_OK : KEEL_ERR_INVALID;
}

static int semver_sign(int v)
{
    return (v > 0) - (v < 0);
}

/* Compares two digit strings without leading zeros by numeric value. */
static int semver_compare_numeric(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return semver_sign(memcmp(a, b, alen));
}

/* Compares two identifiers by semver rules: numeric ones by value and lower
 * than alphanumeric ones, alphanumeric ones by ASCII order. */
static int semver_compare_ident(const char *a, size_t alen, const char *b, size_t blen)
{
    bool anum = semver_digit_run(a) >= alen;
    bool bnum = semver_digit_run(b) >= blen;
    if (anum && bnum)
        return semver_compare_numeric(a, alen, b, blen);
    if (anum != bnum)
        return anum ? -1 : 1;
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c != 0)
        return semver_sign(c);
    return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

/* Length of the identifier at s: counting identifier characters rather than
 * looking for '.', '+' or '\0' lets a pre-release inside range text (ended by
 * a space or "||") be compared in place. */
static size_t semver_ident_len(const char *s)
{
    size_t n = 0;
    while (semver_is_ident_char(s[n]))
        n++;
    return n;
}

/* Compares two pre-release lists (pointers just after '-', or NULL when the
 * version has none: a release ranks above any of its pre-releases). */
static int semver_compare_prerelease(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b ? 0 : (a == NULL ? 1 : -1);
    for (;;) {
        size_t alen = semver_ident_len(a);
        size_t blen = semver_ident_len(b);
        int c = semver_compare_ident(a, alen, b, blen);
        if (c != 0)
            return c;
        a += alen;
        b += blen;
        bool amore = *a == '.';
        bool bmore = *b == '.';
        if (!amore || !bmore)
            return amore == bmore ? 0 : (amore ? 1 : -1);
        a++;
        b++;
    }
}

int keel_semver_compare(const char *a, const char *b)
{
    /* Invalid input has no precedence; fall back to a stable total order so
     * callers that sort never see an inconsistent comparison. */
    if (keel_semver_check(a) != KEEL_OK || keel_semver_check(b) != KEEL_OK)
        return semver_sign(strcmp(a ? a : "", b ? b : ""));
    for (int part = 0; part < 3; part++) {
        size_t alen = semver_digit_run(a);
        size_t blen = semver_digit_run(b);
        int c = semver_compare_numeric(a, alen, b, blen);
        if (c != 0)
            return c;
        a += alen;
        b += blen;
        if (part < 2) {
            a++;
            b++;
        }
    }
    return semver_compare_prerelease(*a == '-' ? a + 1 : NULL, *b == '-' ? b + 1 : NULL);
}

/* ---- ranges ---------------------------------------------------------------
 *
 * A range is parsed in one pass and never stored: every comparator is
 * lowered on the spot to one or two primitive bounds (<, <=, >, >=, = and a
 * full version), the way node-semver desugars ^, ~, partials and hyphens.
 * When checking, the bounds are dropped; when matching, each is tested
 * against the version at once. One parser for both keeps validation and
 * matching from ever disagreeing about the grammar.
 *
 * Upper bounds such as "<2.0.0-0" need MAJOR+1; numbers are digit strings
 * of any length, so the increment is never computed but folded into the
 * comparison (range_num.bump).
 */

/* Longest excerpt of the range quoted back in an error message. */
#define RANGE_QUOTE_MAX 64

typedef enum range_op {
    RANGE_OP_NONE, RANGE_OP_EQ, RANGE_OP_LT, RANGE_OP_LE, RANGE_OP_GT, RANGE_OP_GE,
    RANGE_OP_CARET, RANGE_OP_TILDE
} range_op;

/* A number of the range: `len` digits at `s`, plus one when `bump`. */
typedef struct range_num {
    const char *s;
    size_t len;
    bool bump;
} range_num;

/* A full version to compare with; `pre` is NULL when it has no pre-release. */
typedef struct range_bound {
    range_num part[3];
    const char *pre;
} range_bound;

/* MAJOR[.MINOR[.PATCH[-PRE]]] as written; `given` counts the leading
 * numbers before the first wildcard or missing part. */
typedef struct range_partial {
    range_num num[3];
    int given;
    const char *pre;
} range_partial;

typedef struct range_parser {
    const char *text;
    size_t pos;
    const char *problem;  /* first problem found, NULL while all is well */
    size_t problem_pos;
    const char *version;  /* NULL when only checking */
    bool set_ok;          /* every bound of the current set holds so far */
    bool pre_allowed;     /* a bound of the set shares the version's core and has a
                           * pre-release: node-semver's gate for pre-release versions */
    bool matched;         /* some set matched */
} range_parser;

/* Marks a problem that is reported with the offending character quoted. */
static const char range_unexpected[] = "unexpected character";

static bool range_fail(range_parser *rp, size_t pos, const char *problem)
{
    if (rp->problem == NULL) {
        rp->problem = problem;
        rp->problem_pos = pos;
    }
    return false;
}

static char range_at(const range_parser *rp)
{
    return rp->text[rp->pos];
}

static bool range_at_or(const range_parser *rp)
{
    return rp->text[rp->pos] == '|' && rp->text[rp->pos + 1] == '|';
}

/* End of a set: the end of the text or "||". */
static bool range_at_set_end(const range_parser *rp)
{
    return range_at(rp) == '\0' || range_at_or(rp);
}

static void range_skip_spaces(range_parser *rp)
{
    while (range_at(rp) == ' ')
        rp->pos++;
}

/* ---- comparing a version with a bound ---- */

/* Compares digit string a with b + 1 (both without leading zeros). */
static int range_compare_bumped(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t nines = 0;
    while (nines < blen && b[blen - 1 - nines] == '9')
        nines++;
    size_t sumlen = nines == blen ? blen + 1 : blen;
    if (alen != sumlen)
        return alen < sumlen ? -1 : 1;
    /* b + 1 is b's head, then the incremented digit (a carry "1" when b is
     * all nines), then zeros. */
    size_t k = nines == blen ? 0 : blen - 1 - nines;
    char digit = nines == blen ? '1' : (char)(b[k] + 1);
    int c = semver_sign(memcmp(a, b, k));
    if (c != 0)
        return c;
    if (a[k] != digit)
        return a[k] < digit ? -1 : 1;
    for (size_t i = k + 1; i < alen; i++)
        if (a[i] != '0')
            return 1;
    return 0;
}

/* Compares the MAJOR.MINOR.PATCH of valid version v with b's; *rest is left
 * just after v's patch number. */
static int range_compare_core(const char *v, const range_bound *b, const char **rest)
{
    for (int i = 0; i < 3; i++) {
        size_t vlen = semver_digit_run(v);
        const range_num *n = &b->part[i];
        int c = n->bump ? range_compare_bumped(v, vlen, n->s, n->len)
                        : semver_compare_numeric(v, vlen, n->s, n->len);
        if (c != 0)
            return c;
        v += vlen;
        if (i < 2)
            v++;
    }
    *rest = v;
    return 0;
}

static int range_compare(const char *v, const range_bound *b)
{
    const char *rest = NULL;
    int c = range_compare_core(v, b, &rest);
    if (c != 0)
        return c;
    return semver_compare_prerelease(*rest == '-' ? rest + 1 : NULL, b->pre);
}

static bool range_holds(range_op op, int c)
{
    switch (op) {
    case RANGE_OP_LT: return c < 0;
    case RANGE_OP_LE: return c <= 0;
    case RANGE_OP_GT: return c > 0;
    case RANGE_OP_GE: return c >= 0;
    default: return c == 0;
    }
}

/* Tests one primitive bound against the version being matched, if any. */
static void range_test(range_parser *rp, range_op op, range_bound b)
{
    if (rp->version == NULL)
        return;
    if (!range_holds(op, range_compare(rp->version, &b)))
        rp->set_ok = false;
    const char *rest = NULL;
    if (b.pre != NULL && range_compare_core(rp->version, &b, &rest) == 0)
        rp->pre_allowed = true;
}

/* ---- lowering comparators to bounds ---- */

static const range_num range_zero = {"0", 1, false};

/* The first `keep` numbers of p (the last one plus one when `bump`), zeros
 * after them, and pre-release `pre`. */
static range_bound range_bound_of(const range_partial *p, int keep, bool bump, const char *pre)
{
    range_bound b = {{range_zero, range_zero, range_zero}, pre};
    for (int i = 0; i < keep; i++)
        b.part[i] = p->num[i];
    if (bump && keep > 0)
        b.part[keep - 1].bump = true;
    return b;
}

/* p with missing parts as zeros: ">=1.2" means ">=1.2.0". */
static range_bound range_lower(const range_partial *p)
{
    return range_bound_of(p, p->given, false, p->given == 3 ? p->pre : NULL);
}

/* "<X-0" where X bumps the first `keep` numbers: the lowest version above
 * everything that starts with them, pre-releases included. */
static range_bound range_upper(const range_partial *p, int keep)
{
    return range_bound_of(p, keep, true, "0");
}

static bool range_num_is_zero(const range_num *n)
{
    return n->len == 1 && n->s[0] == '0';
}

/* How many leading numbers a caret keeps fixed: up to the first non-zero. */
static int range_caret_keep(const range_partial *p)
{
    if (p->given < 2 || !range_num_is_zero(&p->num[0]))
        return 1;
    if (p->given == 3 && range_num_is_zero(&p->num[1]))
        return 3;
    return 2;
}

/* Lowers [op]partial as node-semver does (see the header for the table). */
static void range_apply(range_parser *rp, range_op op, const range_partial *p)
{
    int g = p->given;
    if (g == 0) {
        /* "*", "^*", ">=*" allow anything; ">*" and "<*" nothing. */
        if (op == RANGE_OP_GT || op == RANGE_OP_LT)
            range_test(rp, RANGE_OP_LT, range_bound_of(p, 0, false, "0"));
        return;
    }
    switch (op) {
    case RANGE_OP_CARET:
    case RANGE_OP_TILDE:
        range_test(rp, RANGE_OP_GE, range_lower(p));
        range_test(rp, RANGE_OP_LT,
                   range_upper(p, op == RANGE_OP_CARET ? range_caret_keep(p) : (g == 1 ? 1 : 2)));
        break;
    case RANGE_OP_NONE:
    case RANGE_OP_EQ:
        if (g == 3) {
            range_test(rp, RANGE_OP_EQ, range_lower(p));
        } else {
            range_test(rp, RANGE_OP_GE, range_lower(p));
            range_test(rp, RANGE_OP_LT, range_upper(p, g));
        }
        break;
    case RANGE_OP_GT:
        if (g == 3)
            range_test(rp, RANGE_OP_GT, range_lower(p));
        else  /* ">1.2" is ">=1.3.0" */
            range_test(rp, RANGE_OP_GE, range_bound_of(p, g, true, NULL));
        break;
    case RANGE_OP_GE:
        range_test(rp, RANGE_OP_GE, range_lower(p));
        break;
    case RANGE_OP_LT:  /* "<1.2" is "<1.2.0-0" */
        range_test(rp, RANGE_OP_LT, range_bound_of(p, g, false, g == 3 ? p->pre : "0"));
        break;
    case RANGE_OP_LE:  /* "<=1.2" is "<1.3.0-0" */
        if (g == 3)
            range_test(rp, RANGE_OP_LE, range_lower(p));
        else
            range_test(rp, RANGE_OP_LT, range_upper(p, g));
        break;
    }
}

/* "A - B": >=A (zeros for missing parts) and <=B (up to the end of B's
 * partial); a wildcard side is unbounded. */
static void range_apply_hyphen(range_parser *rp, const range_partial *from,
                               const range_partial *to)
{
    if (from->given > 0)
        range_test(rp, RANGE_OP_GE, range_lower(from));
    if (to->given == 3)
        range_test(rp, RANGE_OP_LE, range_lower(to));
    else if (to->given > 0)
        range_test(rp, RANGE_OP_LT, range_upper(to, to->given));
}

/* ---- grammar ---- */

/* A number without leading zeros, or "x", "X", "*" (then *wild). */
static bool range_parse_number(range_parser *rp, range_num *out, bool *wild)
{
    const char *s = rp->text + rp->pos;
    *wild = false;
    if (*s == 'x' || *s == 'X' || *s == '*') {
        *wild = true;
        rp->pos++;
        return true;
    }
    size_t n = semver_digit_run(s);
    if (n == 0)
        return range_fail(rp, rp->pos, "expected a number, \"x\" or \"*\"");
    if (n > 1 && s[0] == '0')
        return range_fail(rp, rp->pos, "a number has a leading zero");
    *out = (range_num){s, n, false};
    rp->pos += n;
    return true;
}

/* "-PRE" and "+BUILD" after a full version; the build is skipped, since it
 * plays no part in precedence. */
static bool range_parse_suffix(range_parser *rp, range_partial *p)
{
    if (range_at(rp) == '-') {
        size_t n = semver_ident_list(rp->text + rp->pos + 1, true);
        if (n == 0)
            return range_fail(rp, rp->pos + 1, "expected a pre-release such as \"rc.1\"");
        p->pre = rp->text + rp->pos + 1;
        rp->pos += 1 + n;
    }
    if (range_at(rp) == '+') {
        size_t n = semver_ident_list(rp->text + rp->pos + 1, false);
        if (n == 0)
            return range_fail(rp, rp->pos + 1, "expected build metadata such as \"build.5\"");
        rp->pos += 1 + n;
    }
    return true;
}

static bool range_parse_partial(range_parser *rp, range_partial *p)
{
    *p = (range_partial){{range_zero, range_zero, range_zero}, 0, NULL};
    bool wild = false;
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (range_at(rp) != '.')
                break;
            rp->pos++;
        }
        size_t at = rp->pos;
        bool w = false;
        if (!range_parse_number(rp, &p->num[i], &w))
            return false;
        /* "1.x.3" says two different things; node-semver reads it as 1.x,
         * which is unlikely to be what was meant. */
        if (!w && wild)
            return range_fail(rp, at, "a number follows a wildcard");
        wild = wild || w;
        if (!wild)
            p->given = i + 1;
    }
    if (range_at(rp) == '.')
        return range_fail(rp, rp->pos, "a version has at most three numbers");
    if (p->given == 3 && !range_parse_suffix(rp, p))
        return false;
    if (range_at(rp) != ' ' && !range_at_set_end(rp))
        return range_fail(rp, rp->pos, range_unexpected);
    return true;
}

static range_op range_parse_op(range_parser *rp)
{
    static const struct {
        const char *text;
        range_op op;
    } ops[] = {
        {"<=", RANGE_OP_LE}, {">=", RANGE_OP_GE}, {"<", RANGE_OP_LT}, {">", RANGE_OP_GT},
        {"=", RANGE_OP_EQ},  {"^", RANGE_OP_CARET}, {"~", RANGE_OP_TILDE},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(rp->text + rp->pos, ops[i].text, n) == 0) {
            rp->pos += n;
            return ops[i].op;
        }
    }
    return RANGE_OP_NONE;
}

/* [op][spaces]partial, not yet applied: the caller must first see whether
 * it opens a hyphen range. */
static bool range_parse_comparator(range_parser *rp, range_op *op, range_partial *p)
{
    if (range_at(rp) == '-')
        return range_fail(rp, rp->pos, "a hyphen range needs a version before \"-\"");
    *op = range_parse_op(rp);
    if (*op != RANGE_OP_NONE) {
        range_skip_spaces(rp);
        if (range_at_set_end(rp))
            return range_fail(rp, rp->pos, "an operator is not followed by a version");
    }
    return range_parse_partial(rp, p);
}

/* " - B" after A, with the position at '-'. */
static bool range_parse_hyphen(range_parser *rp, range_op from_op, size_t from_pos,
                               const range_partial *from)
{
    if (from_op != RANGE_OP_NONE)
        return range_fail(rp, from_pos, "a hyphen range takes versions without operators");
    size_t dash = rp->pos++;
    if (range_at(rp) != ' ' && range_at(rp) != '\0')
        return range_fail(rp, dash, "a hyphen range needs spaces around \"-\"");
    range_skip_spaces(rp);
    if (range_at_set_end(rp))
        return range_fail(rp, rp->pos, "a hyphen range needs a version after \"-\"");
    range_op to_op = RANGE_OP_NONE;
    range_partial to;
    size_t to_pos = rp->pos;
    if (!range_parse_comparator(rp, &to_op, &to))
        return false;
    if (to_op != RANGE_OP_NONE)
        return range_fail(rp, to_pos, "a hyphen range takes versions without operators");
    range_skip_spaces(rp);
    if (!range_at_set_end(rp))
        return range_fail(rp, rp->pos, "expected \"||\" or the end after a hyphen range");
    range_apply_hyphen(rp, from, &to);
    return true;
}

/* One alternative: comparators separated by spaces, or a hyphen range.
 * Leaves the position at the end of the text or at "||". */
static bool range_parse_set(range_parser *rp)
{
    rp->set_ok = true;
    rp->pre_allowed = false;
    range_skip_spaces(rp);
    if (range_at_set_end(rp))
        return range_fail(rp, rp->pos, "an alternative is empty");
    for (bool first = true; !range_at_set_end(rp); first = false) {
        size_t start = rp->pos;
        range_op op = RANGE_OP_NONE;
        range_partial p;
        if (!range_parse_comparator(rp, &op, &p))
            return false;
        range_skip_spaces(rp);
        if (range_at(rp) == '-') {
            if (!first)
                return range_fail(rp, rp->pos, "a hyphen range has one version on each side");
            return range_parse_hyphen(rp, op, start, &p);
        }
        range_apply(rp, op, &p);
    }
    return true;
}

/* Whether the version being matched satisfies the set just parsed. A
 * pre-release version only counts when a bound of the set opts in to its
 * MAJOR.MINOR.PATCH, so "^1.2.0" never picks up "1.3.0-rc.1". */
static bool range_set_matched(const range_parser *rp)
{
    if (!rp->set_ok)
        return false;
    const char *rest = rp->version;
    for (int i = 0; i < 3; i++)
        rest += semver_digit_run(rest) + (i < 2);
    return *rest != '-' || rp->pre_allowed;
}

static bool range_parse(range_parser *rp)
{
    for (;;) {
        if (!range_parse_set(rp))
            return false;
        if (rp->version != NULL && range_set_matched(rp))
            rp->matched = true;
        if (range_at(rp) == '\0')
            return true;
        rp->pos += 2;  /* "||" */
    }
}

/* " \"c\"" for the message, escaped as keel_error_quote would (which cannot
 * be used on one byte: it marks the cut with "..."). */
static void range_describe_char(char *buf, size_t size, char c)
{
    unsigned char u = (unsigned char)c;
    if (u == '"' || u == '\\')
        snprintf(buf, size, " \"\\%c\"", c);
    else if (u < 0x20 || u >= 0x7f)
        snprintf(buf, size, " \"\\x%02x\"", u);
    else
        snprintf(buf, size, " \"%c\"", c);
}

keel_status keel_semver_range_check(const char *range, keel_error *err)
{
    if (range == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "version range is NULL");
    char quoted[RANGE_QUOTE_MAX * 4 + 8];
    keel_error_quote(quoted, sizeof quoted, range, RANGE_QUOTE_MAX);
    if (range[0] == '\0')
        return keel_error_set(err, KEEL_ERR_INVALID, "version range \"\" is empty");
    range_parser rp = {.text = range};
    if (range_parse(&rp))
        return KEEL_OK;
    char found[16] = "";
    if (rp.problem == range_unexpected)
        range_describe_char(found, sizeof found, range[rp.problem_pos]);
    return keel_error_set(err, KEEL_ERR_INVALID, "version range \"%s\": %s%s at position %zu",
                          quoted, rp.problem, found, rp.problem_pos + 1);
}

int keel_semver_range_match(const char *range, const char *version)
{
    if (range == NULL || keel_semver_check(version) != KEEL_OK)
        return 0;
    range_parser rp = {.text = range, .version = version};
    return range_parse(&rp) && rp.matched ? 1 : 0;
}
