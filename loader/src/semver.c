/*
 * Semantic versions (semver.org 2.0.0): validation and precedence.
 *
 * Numeric parts are compared as digit strings, never converted, so versions
 * with components beyond 64 bits still compare correctly.
 */
#include <keel/manifest.h>

#include <stdbool.h>
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

/* Checks a dot-separated identifier list ending at '\0' or at `stop`
 * ('+' for pre-release, '\0' for build). Numeric pre-release identifiers must
 * not have leading zeros; build identifiers may. Returns the length or 0. */
static size_t semver_ident_list(const char *s, char stop, bool check_leading_zero)
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
        if (s[i] == '.') {
            i++;
            continue;
        }
        if (s[i] == '\0' || s[i] == stop)
            return i;
        return 0;
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
        size_t n = semver_ident_list(p + 1, '+', true);
        if (n == 0)
            return KEEL_ERR_INVALID;
        p += 1 + n;
    }
    if (*p == '+') {
        size_t n = semver_ident_list(p + 1, '\0', false);
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

/* Length of the identifier at s (up to '.', '+' or '\0'). */
static size_t semver_ident_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0' && s[n] != '.' && s[n] != '+')
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
