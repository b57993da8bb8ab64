/*
 * Unit tests of keel/signature.h: parsing and canonical text, dynamic calls
 * through real C functions of every supported type, refusal of bad input
 * (with proof that the callee was not called), and concurrent calls on one
 * shared signature.
 */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/signature.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FN(f) ((keel_fn)(f))

/* ---- the called functions ----------------------------------------------------------- */

/* Each callee counts its calls, so a refused call can prove it never ran.
 * Atomic because the concurrency test shares them between threads. */
static atomic_uint calls_add, calls_mul, calls_echo_i32, calls_echo_u32, calls_echo_i64, calls_echo_u64,
    calls_scale, calls_negate, calls_greet, calls_json_echo, calls_count_bytes, calls_fill, calls_greet_buf,
    calls_mixed, calls_noop, calls_bad_json, calls_misc;

static int32_t add(int32_t a, int32_t b)
{
    atomic_fetch_add(&calls_add, 1);
    return a + b;
}

static int64_t mul(int64_t a, int64_t b)
{
    atomic_fetch_add(&calls_mul, 1);
    return a * b;
}

static int32_t echo_i32(int32_t v)
{
    atomic_fetch_add(&calls_echo_i32, 1);
    return v;
}

static uint32_t echo_u32(uint32_t v)
{
    atomic_fetch_add(&calls_echo_u32, 1);
    return v;
}

static int64_t echo_i64(int64_t v)
{
    atomic_fetch_add(&calls_echo_i64, 1);
    return v;
}

static uint64_t echo_u64(uint64_t v)
{
    atomic_fetch_add(&calls_echo_u64, 1);
    return v;
}

static double scale(double v, double factor)
{
    atomic_fetch_add(&calls_scale, 1);
    return v * factor;
}

static bool negate(bool v)
{
    atomic_fetch_add(&calls_negate, 1);
    return !v;
}

/* What greet saw last, to check the string really arrived. */
static char greet_seen[128];

static const char *greet(const char *name)
{
    atomic_fetch_add(&calls_greet, 1);
    snprintf(greet_seen, sizeof greet_seen, "%s", name);
    return "hello";
}

static const char *json_echo(const char *json)
{
    atomic_fetch_add(&calls_json_echo, 1);
    return json;
}

static size_t count_bytes(const void *data, size_t size)
{
    atomic_fetch_add(&calls_count_bytes, 1);
    const unsigned char *p = data;
    size_t sum = 0;
    for (size_t i = 0; i < size; i++)
        sum += p[i];
    return sum;
}

static void fill(const char *in, char *out, size_t size)
{
    atomic_fetch_add(&calls_fill, 1);
    snprintf(out, size, "%s", in);
}

static int32_t greet_buf(const char *name, char *out, size_t size)
{
    atomic_fetch_add(&calls_greet_buf, 1);
    return (int32_t)snprintf(out, size, "hello, %s", name);
}

/* Ten JSON arguments, eleven C parameters: several go on the stack. */
static const char *mixed(int32_t a, bool b, int64_t c, uint32_t d, uint64_t e, double f, const char *g,
                         const char *h, const void *bytes, size_t nbytes, int32_t j)
{
    static _Thread_local char out[512];
    atomic_fetch_add(&calls_mixed, 1);
    char hex[64] = "";
    for (size_t k = 0; k < nbytes && 2 * k + 2 < sizeof hex; k++)
        snprintf(hex + 2 * k, 3, "%02x", ((const unsigned char *)bytes)[k]);
    snprintf(out, sizeof out, "%" PRId32 "|%d|%" PRId64 "|%" PRIu32 "|%" PRIu64 "|%g|%s|%s|%s|%" PRId32, a,
             (int)b, c, d, e, f, g, h, hex, j);
    return out;
}

static void noop(void)
{
    atomic_fetch_add(&calls_noop, 1);
}

static const char *bad_json(void)
{
    atomic_fetch_add(&calls_bad_json, 1);
    return "{\"a\": 1,}";
}

static const char *null_str(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return NULL;
}

static const char *special_str(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return "a\"b\\c\n\t\x01\x7f\xc3\xa9\xff/";
}

static const char *spaced_json(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return " {\n \"a\" : [1, 2] , \"s\": \"x y\\n\",\t\"n\": 12345678901234567890 } \n";
}

static double ret_nan(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return NAN;
}

static double ret_inf(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return -INFINITY;
}

static double ret_third(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return 1.0 / 3.0;
}

static int32_t ret_minus_five(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return -5;
}

static uint32_t ret_u32_max(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return UINT32_MAX;
}

static int64_t ret_i64_min(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return INT64_MIN;
}

static uint64_t ret_u64_max(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return UINT64_MAX;
}

static bool ret_true(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return true;
}

static bool ret_false(void)
{
    atomic_fetch_add(&calls_misc, 1);
    return false;
}

/* Fills the whole buf without a terminating NUL. */
static void fill_no_nul(char *out, size_t size)
{
    atomic_fetch_add(&calls_misc, 1);
    memset(out, 'x', size);
}

/* Reports the buf size it was given. */
static uint64_t buf_size_of(char *out, size_t size)
{
    atomic_fetch_add(&calls_misc, 1);
    out[0] = '\0';
    return size;
}

/* A buf that is not the last parameter, with a bytes before it. */
static bool tag_bytes(const void *data, size_t size, char *out, size_t out_size, const char *tag)
{
    atomic_fetch_add(&calls_misc, 1);
    snprintf(out, out_size, "%s:%zu", tag, size);
    return size > 0 && data != NULL;
}

/* ---- helpers -------------------------------------------------------------------------- */

static keel_signature *parse_ok(const char *text)
{
    keel_signature *sig = NULL;
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_signature_parse(text, &sig, &err);
    ck_assert_msg(s == KEEL_OK, "parsing \"%s\" failed (%d): %s", text, s, err.message);
    ck_assert_ptr_nonnull(sig);
    return sig;
}

/* Calls with `size` bytes of args and expects KEEL_OK and exactly `expected`. */
static void expect_call_sized(const char *sigtext, keel_fn fn, const char *args, size_t size, size_t buf_size,
                              const char *expected)
{
    keel_signature *sig = parse_ok(sigtext);
    keel_error err;
    keel_error_clear(&err);
    char *result = (char *)&result; /* must be replaced */
    keel_status s = keel_signature_call_json(sig, fn, args, size, buf_size, &result, &err);
    ck_assert_msg(s == KEEL_OK, "%s with %s failed (%d): %s", sigtext, args, s, err.message);
    ck_assert_ptr_nonnull(result);
    ck_assert_msg(strcmp(result, expected) == 0, "%s with %s: got %s, expected %s", sigtext, args, result,
                  expected);
    free(result);
    keel_signature_destroy(sig);
}

static void expect_call(const char *sigtext, keel_fn fn, const char *args, const char *expected)
{
    expect_call_sized(sigtext, fn, args, args ? strlen(args) : 0, 0, expected);
}

/* Expects KEEL_ERR_INVALID, a one-line message holding every fragment,
 * *result_json NULL and the callee's counter unchanged. */
static void expect_refused_impl(const char *sigtext, keel_fn fn, atomic_uint *counter, const char *args,
                                size_t size, ...)
{
    keel_signature *sig = parse_ok(sigtext);
    keel_error err;
    keel_error_clear(&err);
    unsigned before = atomic_load(counter);
    char *result = (char *)&result;
    keel_status s = keel_signature_call_json(sig, fn, args, size, 0, &result, &err);
    ck_assert_msg(s == KEEL_ERR_INVALID, "%s with %s: expected KEEL_ERR_INVALID, got %d (%s)", sigtext,
                  args ? args : "NULL", s, err.message);
    ck_assert_int_eq(err.status, KEEL_ERR_INVALID);
    ck_assert_ptr_null(result);
    ck_assert_msg(atomic_load(counter) == before, "%s with %s: the function was called", sigtext,
                  args ? args : "NULL");
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    va_list ap;
    va_start(ap, size);
    for (const char *frag = va_arg(ap, const char *); frag != NULL; frag = va_arg(ap, const char *))
        ck_assert_msg(strstr(err.message, frag) != NULL, "%s with %s: \"%s\" not in message: %s", sigtext,
                      args ? args : "NULL", frag, err.message);
    va_end(ap);
    keel_signature_destroy(sig);
}

#define expect_refused(sigtext, fn, counter, args, ...) \
    expect_refused_impl(sigtext, FN(fn), counter, args, strlen(args), __VA_ARGS__, (const char *)NULL)
#define expect_refused_sized(sigtext, fn, counter, args, size, ...) \
    expect_refused_impl(sigtext, FN(fn), counter, args, size, __VA_ARGS__, (const char *)NULL)

/* Expects a parse error whose message is exactly `message`, or, when
 * `exact` is false, contains it. */
static void parse_fails_impl(const char *text, const char *message, bool exact)
{
    keel_signature *sig = (keel_signature *)&sig; /* must be reset to NULL */
    keel_error err;
    keel_error_clear(&err);
    keel_status s = keel_signature_parse(text, &sig, &err);
    ck_assert_msg(s == KEEL_ERR_INVALID, "\"%s\": expected KEEL_ERR_INVALID, got %d", text ? text : "NULL", s);
    ck_assert_ptr_null(sig);
    ck_assert_int_eq(err.status, KEEL_ERR_INVALID);
    ck_assert_msg(strchr(err.message, '\n') == NULL, "message is not one line: %s", err.message);
    if (exact)
        ck_assert_str_eq(err.message, message);
    else
        ck_assert_msg(strstr(err.message, message) != NULL, "\"%s\" not in message: %s", message, err.message);
}

/* ---- parsing ---------------------------------------------------------------------------- */

START_TEST(test_parse_canonical_text)
{
    static const char *const cases[][2] = {
        {"i32( str , buf )", "i32(str,buf)"},
        {"i32(str,buf)", "i32(str,buf)"},
        {" void ( ) ", "void()"},
        {"void()", "void()"},
        {"\tu64(bytes)\t", "u64(bytes)"},
        {"str(bool,i32,i64,u32,u64,f64,str,json,bytes,buf)", "str(bool,i32,i64,u32,u64,f64,str,json,bytes,buf)"},
        {"ptr ( ptr , i32 )", "ptr(ptr,i32)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        keel_signature *sig = parse_ok(cases[i][0]);
        ck_assert_str_eq(keel_signature_text(sig), cases[i][1]);
        keel_signature_destroy(sig);
    }
}
END_TEST

START_TEST(test_parse_arity_and_dynamic)
{
    static const struct {
        const char *text;
        size_t arity;
        int dynamic;
    } cases[] = {
        {"void()", 0, 1},         {"i32(str,buf)", 1, 1},    {"void(buf)", 0, 1},
        {"str(bytes,buf,json)", 2, 1}, {"i32(i32,i32)", 2, 1}, {"ptr()", 0, 0},
        {"void(ptr)", 1, 0},      {"i32(str,ptr,buf)", 2, 0}, {"bool(bool)", 1, 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        keel_signature *sig = parse_ok(cases[i].text);
        ck_assert_uint_eq(keel_signature_json_arity(sig), cases[i].arity);
        ck_assert_int_eq(keel_signature_dynamic(sig) != 0, cases[i].dynamic);
        keel_signature_destroy(sig);
    }
    keel_signature_destroy(NULL);
}
END_TEST

START_TEST(test_parse_limit_32)
{
    char text[512] = "void(";
    for (int i = 0; i < 32; i++)
        strcat(text, i ? ",bytes" : "bytes");
    strcat(text, ")");
    keel_signature *sig = parse_ok(text);
    ck_assert_uint_eq(keel_signature_json_arity(sig), 32);
    ck_assert_str_eq(keel_signature_text(sig), text);
    keel_signature_destroy(sig);

    text[strlen(text) - 1] = '\0';
    strcat(text, ",i32)");
    parse_fails_impl(text, "argument 33: too many arguments (at most 32)", false);
}
END_TEST

START_TEST(test_parse_errors)
{
    static const char *const exact[][2] = {
        {"i32(str,foo)", "signature \"i32(str,foo)\": argument 2: unknown type \"foo\" (expected bool, i32, i64, "
                         "u32, u64, f64, str, json, bytes, buf or ptr)"},
        {"foo(i32)", "signature \"foo(i32)\": return type: unknown type \"foo\" (expected void, bool, i32, i64, u32, "
                     "u64, f64, str, json or ptr)"},
        {"buf(i32)", "signature \"buf(i32)\": return type: buf is not allowed as a return type (expected void, bool, "
                     "i32, i64, u32, u64, f64, str, json or ptr)"},
        {"i32", "signature \"i32\": missing \"(\" after the return type, found the end"},
        {"i32 str", "signature \"i32 str\": missing \"(\" after the return type, found \"s\" at offset 4"},
        {"i32(str", "signature \"i32(str\": missing \")\" at the end"},
        {"i32(str)x", "signature \"i32(str)x\": unexpected \"x\" at offset 8 after \")\""},
        {"i32()()", "signature \"i32()()\": unexpected \"(\" at offset 5 after \")\""},
        {"i32(void)", "signature \"i32(void)\": argument 1: void is only allowed as the return type (write \"()\" "
                      "for no arguments)"},
        {"void(buf,str,buf)", "signature \"void(buf,str,buf)\": argument 3: a second buf (at most one buf "
                              "parameter)"},
        {"i32(str str)", "signature \"i32(str str)\": argument 1: expected \",\" or \")\" after the type, found "
                         "\"s\" at offset 8"},
        {"i32(,str)", "signature \"i32(,str)\": argument 1: missing type, found \",\" at offset 4"},
        {"i32(str,)", "signature \"i32(str,)\": argument 2: missing type, found \")\" at offset 8"},
        {"i32(", "signature \"i32(\": argument 1: missing type, found the end"},
        {"(i32)", "signature \"(i32)\": return type: missing, found \"(\" at offset 0 (expected void, bool, i32, "
                  "i64, u32, u64, f64, str, json or ptr)"},
        {"", "signature \"\": empty (expected for example \"i32(str,buf)\" or \"void()\")"},
        {"I32()", "signature \"I32()\": return type: unknown type \"I32\" (expected void, bool, i32, i64, u32, u64, "
                  "f64, str, json or ptr)"},
        {"i32(i32;i32)", "signature \"i32(i32;i32)\": argument 1: expected \",\" or \")\" after the type, found "
                         "\";\" at offset 7"},
        {"i32(\xc3\xa9)", "signature \"i32(\\xc3\\xa9)\": argument 1: missing type, found \"\\xc3\" at offset 4"},
        {"i32(str)\n", "signature \"i32(str)\\x0a\": unexpected \"\\x0a\" at offset 8 after \")\""},
    };
    for (size_t i = 0; i < ARRAY_LEN(exact); i++)
        parse_fails_impl(exact[i][0], exact[i][1], true);
    parse_fails_impl("bytes()", "return type: bytes is not allowed as a return type", false);
    parse_fails_impl("void(i32,void)", "argument 2: void is only allowed", false);
    parse_fails_impl("void(buf,buf)", "argument 2: a second buf", false);
    parse_fails_impl(" i32 ( str , nope ) ", "argument 2: unknown type \"nope\"", false);

    keel_error err;
    keel_error_clear(&err);
    keel_signature *sig = (keel_signature *)&sig;
    ck_assert_int_eq(keel_signature_parse(NULL, &sig, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(sig);
    ck_assert_int_eq(keel_signature_parse("void()", NULL, &err), KEEL_ERR_INVALID);
    /* A NULL error is allowed. */
    ck_assert_int_eq(keel_signature_parse("nope()", &sig, NULL), KEEL_ERR_INVALID);
}
END_TEST

START_TEST(test_parse_long_text_quoted)
{
    char text[2048];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    keel_signature *sig = (keel_signature *)&sig;
    keel_error err;
    ck_assert_int_eq(keel_signature_parse(text, &sig, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(sig);
    ck_assert_msg(strstr(err.message, "...\": return type: unknown type \"xxxx") != NULL, "%s", err.message);
    ck_assert_uint_lt(strlen(err.message), KEEL_ERROR_MESSAGE_MAX);
}
END_TEST

/* ---- successful calls ------------------------------------------------------------------------ */

START_TEST(test_call_integers)
{
    expect_call("i32(i32,i32)", FN(add), "[2,3]", "5");
    expect_call("i32(i32,i32)", FN(add), " [ -7 , 2 ] ", "-5");
    expect_call("i32(i32,i32)", FN(add), "[2147483647,0]", "2147483647");
    expect_call("i32(i32,i32)", FN(add), "[-2147483648,0]", "-2147483648");
    expect_call("i32(i32,i32)", FN(add), "[1e3,2.0]", "1002");
    expect_call("i32(i32,i32)", FN(add), "[-0,-0.0]", "0");
    expect_call("i64(i64,i64)", FN(mul), "[3000000000,3]", "9000000000");
    expect_call("i64(i64,i64)", FN(mul), "[\"-4611686018427387904\",2]", "-9223372036854775808");
    expect_call("i64(i64)", FN(echo_i64), "[9223372036854775807]", "9223372036854775807");
    expect_call("i64(i64)", FN(echo_i64), "[-9223372036854775808]", "-9223372036854775808");
    expect_call("i64(i64)", FN(echo_i64), "[\"9007199254740993\"]", "9007199254740993");
    expect_call("i64(i64)", FN(echo_i64), "[\"-0012\"]", "-12");
    expect_call("i32(i32)", FN(echo_i32), "[-1]", "-1");
    expect_call("u32(u32)", FN(echo_u32), "[4294967295]", "4294967295");
    expect_call("u32(u32)", FN(echo_u32), "[0]", "0");
    expect_call("u64(u64)", FN(echo_u64), "[18446744073709551615]", "18446744073709551615");
    expect_call("u64(u64)", FN(echo_u64), "[\"18446744073709551615\"]", "18446744073709551615");
    expect_call("u64(u64)", FN(echo_u64), "[-0]", "0");
    expect_call("u64(u64)", FN(echo_u64), "[1e15]", "1000000000000000");
}
END_TEST

START_TEST(test_call_returns_promoted)
{
    expect_call("i32()", FN(ret_minus_five), "[]", "-5");
    expect_call("u32()", FN(ret_u32_max), "[]", "4294967295");
    expect_call("i64()", FN(ret_i64_min), "[]", "-9223372036854775808");
    expect_call("u64()", FN(ret_u64_max), "[]", "18446744073709551615");
    expect_call("bool()", FN(ret_true), "[]", "true");
    expect_call("bool()", FN(ret_false), "[]", "false");
    expect_call("f64()", FN(ret_third), "[]", "0.3333333333333333");
    expect_call("f64()", FN(ret_nan), "[]", "null");
    expect_call("f64()", FN(ret_inf), "[]", "null");
}
END_TEST

START_TEST(test_call_float_and_bool)
{
    expect_call("f64(f64,f64)", FN(scale), "[1.5,2]", "3");
    expect_call("f64(f64,f64)", FN(scale), "[0.1,1]", "0.1");
    expect_call("f64(f64,f64)", FN(scale), "[-2.5e-3,1e3]", "-2.5");
    expect_call("f64(f64,f64)", FN(scale), "[1e300,1e300]", "null");
    expect_call("f64(f64,f64)", FN(scale), "[1e20,1]", "1e+20");
    expect_call("bool(bool)", FN(negate), "[true]", "false");
    expect_call("bool(bool)", FN(negate), "[false]", "true");
}
END_TEST

START_TEST(test_call_strings)
{
    expect_call("str(str)", FN(greet), "[\"world\"]", "\"hello\"");
    ck_assert_str_eq(greet_seen, "world");
    expect_call("str(str)", FN(greet), "[\"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"]", "\"hello\"");
    ck_assert_str_eq(greet_seen, "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
    expect_call("str(str)", FN(greet), "[\"\"]", "\"hello\"");
    ck_assert_str_eq(greet_seen, "");
    expect_call("str()", FN(null_str), "[]", "null");
    /* Escaped for JSON; invalid UTF-8 becomes U+FFFD. */
    expect_call("str()", FN(special_str), "[]", "\"a\\\"b\\\\c\\n\\t\\u0001\x7f\xc3\xa9\\ufffd/\"");
}
END_TEST

START_TEST(test_call_json)
{
    expect_call("json(json)", FN(json_echo), "[{\"a\":1}]", "{\"a\":1}");
    /* Passed compact, strings untouched, big numbers exact. */
    expect_call("json(json)", FN(json_echo), "[ { \"a\" : \"x y\" , \"b\" : [ 1 , 2 ] , \"n\" : 123456789012345678901 } ]",
                "{\"a\":\"x y\",\"b\":[1,2],\"n\":123456789012345678901}");
    expect_call("json(json)", FN(json_echo), "[null]", "null");
    expect_call("json(json)", FN(json_echo), "[\"s\\\"\\u0000\"]", "\"s\\\"\\u0000\"");
    expect_call("json(json)", FN(json_echo), "[[]]", "[]");
    expect_call("json(json)", FN(json_echo), "[1.5e3]", "1.5e3");
    expect_call("json()", FN(spaced_json), "[]", "{\"a\":[1,2],\"s\":\"x y\\n\",\"n\":12345678901234567890}");
    expect_call("json()", FN(null_str), "[]", "null");
}
END_TEST

START_TEST(test_call_bytes)
{
    expect_call("u64(bytes)", FN(count_bytes), "[\"AQID\"]", "6");         /* 1,2,3 */
    expect_call("u64(bytes)", FN(count_bytes), "[\"//8=\"]", "510");        /* ff,ff */
    expect_call("u64(bytes)", FN(count_bytes), "[\"/w==\"]", "255");
    expect_call("u64(bytes)", FN(count_bytes), "[\"\"]", "0");
    expect_call("u64(bytes)", FN(count_bytes), "[\"aGVsbG8gd29ybGQ=\"]", "1116"); /* "hello world" */
    expect_call("bool(bytes,buf,str)", FN(tag_bytes), "[\"AAAA\",\"t\"]", "{\"return\":true,\"buf\":\"t:3\"}");
    expect_call("bool(bytes,buf,str)", FN(tag_bytes), "[\"\",\"e\"]", "{\"return\":false,\"buf\":\"e:0\"}");
}
END_TEST

START_TEST(test_call_buf)
{
    expect_call("void(str,buf)", FN(fill), "[\"hello\"]", "\"hello\"");
    expect_call("i32(str,buf)", FN(greet_buf), "[\"world\"]", "{\"return\":12,\"buf\":\"hello, world\"}");
    expect_call("i32(str,buf)", FN(greet_buf), "[\"\\\"q\\\"\"]", "{\"return\":10,\"buf\":\"hello, \\\"q\\\"\"}");
    /* A small buf: the callee truncates, the text stays terminated. */
    expect_call_sized("void(str,buf)", FN(fill), "[\"hello\"]", 9, 4, "\"hel\"");
    expect_call_sized("i32(str,buf)", FN(greet_buf), "[\"world\"]", 9, 6, "{\"return\":12,\"buf\":\"hello\"}");
    expect_call_sized("void(str,buf)", FN(fill), "[\"hello\"]", 9, 1, "\"\"");
    /* A callee that fills the buf without a NUL: still a bounded string. */
    expect_call_sized("void(buf)", FN(fill_no_nul), "[]", 2, 4, "\"xxxx\"");
    /* 0 means 64 KiB. */
    expect_call_sized("u64(buf)", FN(buf_size_of), "[]", 2, 0, "{\"return\":65536,\"buf\":\"\"}");
    expect_call_sized("u64(buf)", FN(buf_size_of), "[]", 2, 100, "{\"return\":100,\"buf\":\"\"}");
}
END_TEST

START_TEST(test_call_mixed_and_void)
{
    static const char sig[] = "str(i32,bool,i64,u32,u64,f64,str,json,bytes,i32)";
    expect_call(sig, FN(mixed),
                "[-1,true,\"-9000000000000000000\",4000000000,18000000000000000000,2.5,\"s\",{\"k\":[1]},\"3q2+7w==\",42]",
                "\"-1|1|-9000000000000000000|4000000000|18000000000000000000|2.5|s|{\\\"k\\\":[1]}|deadbeef|42\"");
    expect_call(sig, FN(mixed), "[0,false,0,0,0,0,\"\",null,\"\",0]", "\"0|0|0|0|0|0||null||0\"");
    expect_call("void()", FN(noop), "[]", "null");
    expect_call("void()", FN(noop), " [ ] \n", "null");
    ck_assert_uint_ge(atomic_load(&calls_noop), 2);
}
END_TEST

/* args need not be NUL-terminated: only `size` bytes are read. */
START_TEST(test_call_args_not_terminated)
{
    char args[] = {'[', '4', '0', ',', '2', ']', '9', '9'};
    expect_call_sized("i32(i32,i32)", FN(add), args, 6, 0, "42");
    char num[] = {'[', '1', '2', ']', '3'};
    expect_call_sized("i64(i64)", FN(echo_i64), num, 4, 0, "12");
}
END_TEST

/* ---- refused calls ------------------------------------------------------------------------------- */

START_TEST(test_refuse_malformed_json)
{
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,", "malformed JSON arguments at offset ");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1 2]", "malformed JSON arguments at offset 3");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,2] x", "malformed JSON arguments at offset 6");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,2][", "malformed JSON arguments at offset 5");
    expect_refused("i32(i32,i32)", add, &calls_add, "[01,2]", "malformed JSON arguments at offset 1");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1.,2]", "malformed JSON arguments at offset 1");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,-.5]", "malformed JSON arguments at offset 3");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,2,]", "malformed JSON arguments");
    expect_refused("i32(i32,i32)", add, &calls_add, "\xef\xbb\xbf[1,2]", "malformed JSON arguments at offset 0");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,\x01 2]", "malformed JSON arguments at offset 3");
    expect_refused_sized("i32(i32,i32)", add, &calls_add, "[1,\0 2]", 7, "malformed JSON arguments at offset 3");
    expect_refused_sized("i32(i32,i32)", add, &calls_add, "[1,2]\0", 6, "malformed JSON arguments at offset 5");
    expect_refused("str(str)", greet, &calls_greet, "[\"a\x01\"]", "malformed JSON arguments at offset 3");
    expect_refused("str(str)", greet, &calls_greet, "[\"a\xff\"]", "malformed JSON arguments at offset 3");
    expect_refused("str(str)", greet, &calls_greet, "[\"a\xc0\xaf\"]", "malformed JSON arguments at offset 3");
    expect_refused("str(str)", greet, &calls_greet, "[\"\\ud800\"]", "malformed JSON arguments");
    expect_refused("str(str)", greet, &calls_greet, "[\"\\x\"]", "malformed JSON arguments");
    expect_refused("str(str)", greet, &calls_greet, "[\"abc", "malformed JSON arguments");
    expect_refused("json(json)", json_echo, &calls_json_echo, "[{\"a\" 1}]", "malformed JSON arguments at offset 6");
    expect_refused("json(json)", json_echo, &calls_json_echo, "[tru]", "malformed JSON arguments");
    expect_refused("json(json)", json_echo, &calls_json_echo, "[nul]", "malformed JSON arguments");
    /* Deep nesting is refused by cJSON's limit, not by the stack. */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 3);
    ck_assert_ptr_nonnull(deep);
    deep[0] = '[';
    memset(deep + 1, '[', depth);
    memset(deep + 1 + depth, ']', depth);
    deep[2 * depth + 1] = ']';
    deep[2 * depth + 2] = '\0';
    expect_refused("json(json)", json_echo, &calls_json_echo, deep, "malformed JSON arguments");
    free(deep);
}
END_TEST

START_TEST(test_refuse_shape)
{
    expect_refused("i32(i32,i32)", add, &calls_add, "{}",
                   "expected a JSON array of 2 arguments (i32, i32), got object");
    expect_refused("i32(i32,i32)", add, &calls_add, "5", "expected a JSON array of 2 arguments (i32, i32), got number");
    expect_refused("i32(i32,i32)", add, &calls_add, "\"[1,2]\"", "got string");
    expect_refused("i32(i32,i32)", add, &calls_add, "null", "got null");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1]", "expected a JSON array of 2 arguments (i32, i32), got 1");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,2,3]",
                   "expected a JSON array of 2 arguments (i32, i32), got 3");
    expect_refused("i32(i32,i32)", add, &calls_add, "[]", "got 0");
    expect_refused("i32(str,buf)", greet_buf, &calls_greet_buf, "[\"a\",\"b\"]",
                   "expected a JSON array of 1 argument (str), got 2");
    expect_refused("i32(str,buf)", greet_buf, &calls_greet_buf, "[]", "expected a JSON array of 1 argument (str), got 0");
    expect_refused("void()", noop, &calls_noop, "[1]", "expected an empty JSON array (no arguments), got 1");
    expect_refused("void()", noop, &calls_noop, "{}", "expected an empty JSON array (no arguments), got object");
}
END_TEST

START_TEST(test_refuse_missing_args)
{
    expect_refused_impl("i32(i32,i32)", FN(add), &calls_add, NULL, 0,
                        "missing arguments: expected a JSON array of 2 arguments (i32, i32)", (const char *)NULL);
    expect_refused_impl("i32(i32,i32)", FN(add), &calls_add, NULL, 5, "missing arguments", (const char *)NULL);
    expect_refused_impl("i32(i32,i32)", FN(add), &calls_add, "[1,2]", 0, "missing arguments", (const char *)NULL);
    expect_refused_impl("void()", FN(noop), &calls_noop, NULL, 0,
                        "missing arguments: expected an empty JSON array (no arguments)", (const char *)NULL);
    expect_refused_impl("i32(i32,i32)", FN(add), &calls_add, "  ", 2, "malformed JSON arguments", (const char *)NULL);
}
END_TEST

START_TEST(test_refuse_wrong_type_each_position)
{
    static const char sig[] = "str(i32,bool,i64,u32,u64,f64,str,json,bytes,i32)";
    static const char *const good[] = {"1", "true", "2", "3", "4", "5.5", "\"s\"", "{}", "\"AA==\"", "6"};
    /* A value of the wrong JSON kind for each position (json takes anything). */
    static const char *const bad[] = {"\"1\"", "1", "true", "\"3\"", "[]", "\"5\"", "7", NULL, "{}", "null"};
    static const char *const expected[] = {
        "argument 1: expected i32, got string",
        "argument 2: expected bool, got number",
        "argument 3: expected i64 (an integer or a decimal string), got boolean",
        "argument 4: expected u32, got string",
        "argument 5: expected u64 (an integer or a decimal string), got array",
        "argument 6: expected f64, got string",
        "argument 7: expected str, got number",
        NULL,
        "argument 9: expected bytes (a base64 string), got object",
        "argument 10: expected i32, got null",
    };
    for (size_t pos = 0; pos < ARRAY_LEN(good); pos++) {
        if (bad[pos] == NULL)
            continue;
        char args[256] = "[";
        for (size_t k = 0; k < ARRAY_LEN(good); k++) {
            if (k > 0)
                strcat(args, ",");
            strcat(args, k == pos ? bad[pos] : good[k]);
        }
        strcat(args, "]");
        expect_refused(sig, mixed, &calls_mixed, args, expected[pos]);
    }
    /* The last argument bad, all others good: nothing was called. */
    expect_refused(sig, mixed, &calls_mixed, "[1,true,2,3,4,5.5,\"s\",{},\"AA==\",1.5]",
                   "argument 10: 1.5 is not an integer (expected i32)");
    expect_refused("str(str)", greet, &calls_greet, "[null]", "argument 1: expected str, got null");
    expect_refused("bool(bool)", negate, &calls_negate, "[0]", "argument 1: expected bool, got number");
    expect_refused("bool(bool)", negate, &calls_negate, "[\"true\"]", "argument 1: expected bool, got string");
    expect_refused("i32(str,buf)", greet_buf, &calls_greet_buf, "[1]", "argument 1: expected str, got number");
    /* buf does not count as a JSON argument position. */
    expect_refused("bool(bytes,buf,str)", tag_bytes, &calls_misc, "[\"AAAA\",2]", "argument 2: expected str, got number");
}
END_TEST

START_TEST(test_refuse_out_of_range)
{
    expect_refused("i32(i32)", echo_i32, &calls_echo_i32, "[2147483648]", "argument 1: 2147483648 is out of range for i32");
    expect_refused("i32(i32)", echo_i32, &calls_echo_i32, "[-2147483649]", "argument 1: -2147483649 is out of range for i32");
    expect_refused("i32(i32,i32)", add, &calls_add, "[1,3000000000]", "argument 2: 3000000000 is out of range for i32");
    expect_refused("i32(i32)", echo_i32, &calls_echo_i32, "[1e10]", "argument 1: 1e10 is out of range for i32");
    expect_refused("u32(u32)", echo_u32, &calls_echo_u32, "[-1]", "argument 1: -1 is out of range for u32");
    expect_refused("u32(u32)", echo_u32, &calls_echo_u32, "[4294967296]", "argument 1: 4294967296 is out of range for u32");
    expect_refused("u32(u32)", echo_u32, &calls_echo_u32, "[-1e0]", "argument 1: -1e0 is out of range for u32");
    expect_refused("u64(u64)", echo_u64, &calls_echo_u64, "[-1]", "argument 1: -1 is out of range for u64");
    expect_refused("u64(u64)", echo_u64, &calls_echo_u64, "[\"-1\"]", "argument 1: \"-1\" is out of range for u64");
    expect_refused("u64(u64)", echo_u64, &calls_echo_u64, "[18446744073709551616]",
                   "argument 1: 18446744073709551616 is out of range for u64");
    expect_refused("u64(u64)", echo_u64, &calls_echo_u64, "[\"18446744073709551616\"]",
                   "argument 1: \"18446744073709551616\" is out of range for u64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[\"9223372036854775808\"]",
                   "argument 1: \"9223372036854775808\" is out of range for i64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[\"-9223372036854775809\"]",
                   "argument 1: \"-9223372036854775809\" is out of range for i64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[9223372036854775808]",
                   "argument 1: 9223372036854775808 is out of range for i64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[\"99999999999999999999999999999999999999999999999999999\"]",
                   "is out of range for i64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[1e300]", "argument 1: 1e300 is out of range for i64");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[1.5e17]", "argument 1: 1.5e17 is beyond 2^53");
    expect_refused("f64(f64,f64)", scale, &calls_scale, "[1e999,1]", "argument 1: 1e999 is out of range for f64");
}
END_TEST

START_TEST(test_refuse_not_integral)
{
    expect_refused("i32(i32)", echo_i32, &calls_echo_i32, "[1.5]", "argument 1: 1.5 is not an integer (expected i32)");
    expect_refused("i64(i64)", echo_i64, &calls_echo_i64, "[-0.25]", "argument 1: -0.25 is not an integer (expected i64)");
    expect_refused("u32(u32)", echo_u32, &calls_echo_u32, "[1e-1]", "argument 1: 1e-1 is not an integer (expected u32)");
    expect_refused("u64(u64)", echo_u64, &calls_echo_u64, "[0.5]", "not an integer (expected u64)");
    static const char *const not_decimal[] = {"\"\"", "\"-\"", "\"+5\"", "\" 5\"", "\"5 \"", "\"0x10\"", "\"1.0\"",
                                              "\"1e3\"", "\"12\\u00003\""};
    for (size_t i = 0; i < ARRAY_LEN(not_decimal); i++) {
        char args[64];
        snprintf(args, sizeof args, "[%s]", not_decimal[i]);
        expect_refused("i64(i64)", echo_i64, &calls_echo_i64, args, "is not a decimal integer (expected i64)");
        expect_refused("u64(u64)", echo_u64, &calls_echo_u64, args, "is not a decimal integer (expected u64)");
    }
    expect_refused("i32(i32)", echo_i32, &calls_echo_i32, "[\"5\"]", "argument 1: expected i32, got string");
}
END_TEST

START_TEST(test_refuse_bad_base64)
{
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"QQ=\"]",
                   "argument 1: invalid base64 (length 3 is not a multiple of 4)");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"Q*==\"]",
                   "argument 1: invalid base64 (character \"*\" at offset 1)");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"Q=Q=\"]",
                   "argument 1: invalid base64 (character \"=\" at offset 1)");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"A===\"]",
                   "argument 1: invalid base64 (character \"=\" at offset 1)");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"QUJD\\nQUJD\"]",
                   "argument 1: invalid base64");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"QUJD-_==\"]",
                   "argument 1: invalid base64 (character \"-\" at offset 4)");
    expect_refused("u64(bytes)", count_bytes, &calls_count_bytes, "[\"\\u0000AAA\"]",
                   "argument 1: invalid base64 (contains \\u0000)");
}
END_TEST

START_TEST(test_refuse_nul_in_str)
{
    expect_refused("str(str)", greet, &calls_greet, "[\"ab\\u0000cd\"]",
                   "argument 1: the string contains \\u0000, which a C string cannot carry");
    /* A json argument carries the escape as text, so it is fine there. */
    expect_call("json(json)", FN(json_echo), "[[\"\\u0000\"]]", "[\"\\u0000\"]");
}
END_TEST

START_TEST(test_refuse_ptr_signature)
{
    expect_refused("ptr(i32)", add, &calls_add, "[1]", "cannot be called dynamically", "\"ptr(i32)\"");
    expect_refused("i32(ptr,i32)", add, &calls_add, "[1,2]", "cannot be called dynamically");
}
END_TEST

START_TEST(test_refuse_null_parameters)
{
    keel_signature *sig = parse_ok("i32(i32,i32)");
    keel_error err;
    char *result = (char *)&result;
    unsigned before = atomic_load(&calls_add);
    ck_assert_int_eq(keel_signature_call_json(NULL, FN(add), "[1,2]", 5, 0, &result, &err), KEEL_ERR_INVALID);
    ck_assert_ptr_null(result);
    ck_assert_int_eq(keel_signature_call_json(sig, NULL, "[1,2]", 5, 0, &result, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_signature_call_json(sig, FN(add), "[1,2]", 5, 0, NULL, &err), KEEL_ERR_INVALID);
    ck_assert_int_eq(keel_signature_call_json(sig, FN(add), "[1]", 3, 0, &result, NULL), KEEL_ERR_INVALID);
    ck_assert_uint_eq(atomic_load(&calls_add), before);
    /* And a NULL error on success. */
    ck_assert_int_eq(keel_signature_call_json(sig, FN(add), "[1,2]", 5, 0, &result, NULL), KEEL_OK);
    ck_assert_str_eq(result, "3");
    free(result);
    keel_signature_destroy(sig);
    ck_assert_str_eq(keel_signature_text(NULL), "");
    ck_assert_uint_eq(keel_signature_json_arity(NULL), 0);
    ck_assert_int_eq(keel_signature_dynamic(NULL), 0);
}
END_TEST

/* The call happens, then its result is refused: say so. */
START_TEST(test_malformed_json_result)
{
    keel_signature *sig = parse_ok("json()");
    keel_error err;
    keel_error_clear(&err);
    char *result = (char *)&result;
    unsigned before = atomic_load(&calls_bad_json);
    keel_status s = keel_signature_call_json(sig, FN(bad_json), "[]", 2, 0, &result, &err);
    ck_assert_int_eq(s, KEEL_ERR_INVALID);
    ck_assert_ptr_null(result);
    ck_assert_uint_eq(atomic_load(&calls_bad_json), before + 1);
    ck_assert_msg(strstr(err.message, "the service returned malformed JSON") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "the call was made") != NULL, "%s", err.message);
    keel_signature_destroy(sig);
}
END_TEST

/* ---- threads ----------------------------------------------------------------------------------- */

#define THREADS 4
#define CALLS_PER_THREAD 10000

typedef struct thread_job {
    const keel_signature *add_sig;
    const keel_signature *buf_sig;
    int id;
    int failures;
    char first_failure[256];
} thread_job;

static void note_failure(thread_job *job, const char *fmt, ...)
{
    if (job->failures++ > 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->first_failure, sizeof job->first_failure, fmt, ap);
    va_end(ap);
}

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        int32_t a = job->id * 1000000 + i;
        int32_t b = -i / 2;
        char args[64], expected[64];
        int n = snprintf(args, sizeof args, "[%" PRId32 ",%" PRId32 "]", a, b);
        snprintf(expected, sizeof expected, "%" PRId32, a + b);
        keel_error err;
        char *result = NULL;
        if (keel_signature_call_json(job->add_sig, FN(add), args, (size_t)n, 0, &result, &err) != KEEL_OK)
            note_failure(job, "add %s: %s", args, err.message);
        else if (strcmp(result, expected) != 0)
            note_failure(job, "add %s: got %s, expected %s", args, result, expected);
        free(result);

        /* Every tenth round also a buf call and a refused call. */
        if (i % 10 == 0) {
            n = snprintf(args, sizeof args, "[\"t%d-%d\"]", job->id, i);
            snprintf(expected, sizeof expected, "{\"return\":%d,\"buf\":\"hello, t%d-%d\"}", n - 4 + 7, job->id, i);
            result = NULL;
            if (keel_signature_call_json(job->buf_sig, FN(greet_buf), args, (size_t)n, 64, &result, &err) != KEEL_OK)
                note_failure(job, "greet_buf %s: %s", args, err.message);
            else if (strcmp(result, expected) != 0)
                note_failure(job, "greet_buf %s: got %s, expected %s", args, result, expected);
            free(result);
            result = NULL;
            if (keel_signature_call_json(job->add_sig, FN(add), "[1,\"x\"]", 7, 0, &result, &err) != KEEL_ERR_INVALID)
                note_failure(job, "a bad call was accepted");
        }
    }
    return NULL;
}

START_TEST(test_concurrent_calls)
{
    keel_signature *add_sig = parse_ok("i32(i32,i32)");
    keel_signature *buf_sig = parse_ok("i32(str,buf)");
    unsigned add_before = atomic_load(&calls_add);
    unsigned buf_before = atomic_load(&calls_greet_buf);
    pthread_t threads[THREADS];
    thread_job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (thread_job){.add_sig = add_sig, .buf_sig = buf_sig, .id = t};
        ck_assert_int_eq(pthread_create(&threads[t], NULL, thread_main, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_join(threads[t], NULL), 0);
    for (int t = 0; t < THREADS; t++)
        ck_assert_msg(jobs[t].failures == 0, "thread %d: %d failures, first: %s", t, jobs[t].failures,
                      jobs[t].first_failure);
    ck_assert_uint_eq(atomic_load(&calls_add) - add_before, THREADS * CALLS_PER_THREAD);
    ck_assert_uint_eq(atomic_load(&calls_greet_buf) - buf_before, THREADS * CALLS_PER_THREAD / 10);
    keel_signature_destroy(add_sig);
    keel_signature_destroy(buf_sig);
}
END_TEST

/* ---- runner ----------------------------------------------------------------------------------------- */

static Suite *signature_suite(void)
{
    Suite *s = suite_create("signature");

    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_canonical_text);
    tcase_add_test(parse, test_parse_arity_and_dynamic);
    tcase_add_test(parse, test_parse_limit_32);
    tcase_add_test(parse, test_parse_errors);
    tcase_add_test(parse, test_parse_long_text_quoted);
    suite_add_tcase(s, parse);

    TCase *call = tcase_create("call");
    tcase_add_test(call, test_call_integers);
    tcase_add_test(call, test_call_returns_promoted);
    tcase_add_test(call, test_call_float_and_bool);
    tcase_add_test(call, test_call_strings);
    tcase_add_test(call, test_call_json);
    tcase_add_test(call, test_call_bytes);
    tcase_add_test(call, test_call_buf);
    tcase_add_test(call, test_call_mixed_and_void);
    tcase_add_test(call, test_call_args_not_terminated);
    suite_add_tcase(s, call);

    TCase *refuse = tcase_create("refuse");
    tcase_add_test(refuse, test_refuse_malformed_json);
    tcase_add_test(refuse, test_refuse_shape);
    tcase_add_test(refuse, test_refuse_missing_args);
    tcase_add_test(refuse, test_refuse_wrong_type_each_position);
    tcase_add_test(refuse, test_refuse_out_of_range);
    tcase_add_test(refuse, test_refuse_not_integral);
    tcase_add_test(refuse, test_refuse_bad_base64);
    tcase_add_test(refuse, test_refuse_nul_in_str);
    tcase_add_test(refuse, test_refuse_ptr_signature);
    tcase_add_test(refuse, test_refuse_null_parameters);
    tcase_add_test(refuse, test_malformed_json_result);
    suite_add_tcase(s, refuse);

    TCase *threads = tcase_create("threads");
    tcase_set_timeout(threads, 240);
    tcase_add_test(threads, test_concurrent_calls);
    suite_add_tcase(s, threads);
    return s;
}

int main(void)
{
    SRunner *runner = srunner_create(signature_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
