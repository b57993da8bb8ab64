/*
 * Service signatures ("i32(str,buf)") and dynamic calls through libffi.
 *
 * Parsing builds the libffi call interface once; the signature is immutable
 * afterwards, so any number of threads may call through it at once (every
 * call keeps its argument storage on its own stack or heap).
 *
 * A dynamic call validates the whole argument array before the callee runs:
 * cJSON parses it, a second strict pass over the raw text (json_scan) rejects
 * what cJSON tolerates but JSON forbids and records where each top-level
 * element lies, and every element is converted. Only when all of that has
 * succeeded is the callee called.
 */
#include <keel/signature.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <ffi.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signature-level parameters (a bytes or buf counts once). */
#define SIG_MAX_PARAMS 32
/* C parameters: bytes and buf take two each. */
#define SIG_MAX_C_ARGS (2 * SIG_MAX_PARAMS)
/* Default buf size when the caller passes 0. */
#define SIG_DEFAULT_BUF_SIZE ((size_t)64 * 1024)
/* Longest excerpt of user text quoted back in a message. */
#define SIG_QUOTE_MAX 160
#define SIG_VALUE_QUOTE_MAX 40
/* Integers beyond this are not exact as doubles (Number.MAX_SAFE_INTEGER). */
#define SIG_MAX_SAFE_INTEGER 9007199254740991.0

typedef enum sig_type {
    T_VOID,
    T_BOOL,
    T_I32,
    T_I64,
    T_U32,
    T_U64,
    T_F64,
    T_STR,
    T_JSON,
    T_BYTES,
    T_BUF,
    T_PTR,
    T_COUNT
} sig_type;

static const char *const type_names[T_COUNT] = {
    "void", "bool", "i32", "i64", "u32", "u64", "f64", "str", "json", "bytes", "buf", "ptr",
};

#define PARAM_TYPES_EXPECTED "bool, i32, i64, u32, u64, f64, str, json, bytes, buf or ptr"
#define RETURN_TYPES_EXPECTED "void, bool, i32, i64, u32, u64, f64, str, json or ptr"

struct keel_signature {
    char *text;        /* canonical text */
    char *arity_text;  /* "a JSON array of 2 arguments (i32, str)" for messages */
    sig_type ret;
    size_t nparams;
    sig_type params[SIG_MAX_PARAMS];
    size_t json_arity;
    bool has_buf;
    bool dynamic;
    unsigned n_c_args;
    /* Must outlive the cif, which points into it. */
    ffi_type *c_arg_types[SIG_MAX_C_ARGS];
    ffi_cif cif;
};

/* ---- small text helpers --------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Quotes `n` bytes of not necessarily NUL-terminated user text (a number,
 * a type name) for a message; longer text is cut with "...". */
static void quote_span(char *out, size_t out_size, const char *s, size_t n)
{
    /* One byte more than shown, so that keel_error_quote marks the cut. */
    char tmp[SIG_VALUE_QUOTE_MAX + 2];
    size_t keep = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
    memcpy(tmp, s, keep);
    tmp[keep] = '\0';
    keel_error_quote(out, out_size, tmp, SIG_VALUE_QUOTE_MAX);
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_sequence_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* ---- growable output text ------------------------------------------------------- */

typedef struct text_out {
    char *data;
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed; later appends do nothing */
} text_out;

static bool out_reserve(text_out *o, size_t more)
{
    if (o->failed)
        return false;
    if (more > SIZE_MAX - o->len - 1) {
        o->failed = true;
        return false;
    }
    size_t need = o->len + more + 1;
    if (need <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(o->data, cap);
    if (p == NULL) {
        o->failed = true;
        return false;
    }
    o->data = p;
    o->cap = cap;
    return true;
}

static void out_append(text_out *o, const char *s, size_t n)
{
    if (!out_reserve(o, n))
        return;
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_append_str(text_out *o, const char *s)
{
    out_append(o, s, strlen(s));
}

/* Appends `s` as a JSON string. Bytes that are not valid UTF-8 become
 * U+FFFD so that the result is always valid JSON, whatever C wrote. */
static void out_json_string(text_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    out_append(o, "\"", 1);
    size_t run = 0; /* start of the bytes copied as they are */
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        char esc[8];
        size_t esc_len = 0;
        size_t step = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc_len = 2;
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" :
                                c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named != NULL) {
                memcpy(esc, named, 2);
                esc_len = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                esc_len = 6;
            }
        } else if (c >= 0x80) {
            step = utf8_sequence_length(u + i, n - i);
            if (step == 0) {
                memcpy(esc, "\\ufffd", 6);
                esc_len = 6;
                step = 1;
            }
        }
        if (esc_len > 0) {
            out_append(o, s + run, i - run);
            out_append(o, esc, esc_len);
            run = i + step;
        }
        i += step;
    }
    out_append(o, s + run, n - run);
    out_append(o, "\"", 1);
}

/* Shortest text that reads back as exactly `d` (finite), always with "."
 * as the decimal point whatever LC_NUMERIC says. */
static void format_double(char *buf, size_t size, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* %g writes digits, a sign, 'e' and the locale's decimal point: turn
     * whatever else appears (the point, possibly multibyte) into ".". */
    char *w = buf;
    bool in_point = false;
    for (const char *r = buf; *r != '\0'; r++) {
        bool keep = is_digit((unsigned char)*r) || *r == '-' || *r == '+' || *r == 'e';
        if (keep) {
            *w++ = *r;
            in_point = false;
        } else if (!in_point) {
            *w++ = '.';
            in_point = true;
        }
    }
    *w = '\0';
}

/* ---- parsing -------------------------------------------------------------------- */

typedef struct sig_parser {
    const char *text;
    size_t pos;
    char quoted[SIG_QUOTE_MAX * 4 + 8];
    keel_error *err;
} sig_parser;

__attribute__((format(printf, 2, 3)))
static keel_status parse_fail(const sig_parser *p, const char *fmt, ...)
{
    char detail[KEEL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return keel_error_set(p->err, KEEL_ERR_INVALID, "signature \"%s\": %s", p->quoted, detail);
}

static void skip_blanks(sig_parser *p)
{
    while (is_blank(p->text[p->pos]))
        p->pos++;
}

/* Reads a type name ([A-Za-z0-9_]*) at the current position. */
static size_t read_name(sig_parser *p, const char **name)
{
    *name = p->text + p->pos;
    size_t n = 0;
    for (;;) {
        char c = p->text[p->pos + n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((unsigned char)c) || c == '_'))
            break;
        n++;
    }
    p->pos += n;
    return n;
}

static int lookup_type(const char *name, size_t n)
{
    for (int t = 0; t < T_COUNT; t++)
        if (strlen(type_names[t]) == n && memcmp(type_names[t], name, n) == 0)
            return t;
    return -1;
}

/* Describes the character at the current position for a message. */
static void describe_here(const sig_parser *p, char *out, size_t size)
{
    char c = p->text[p->pos];
    if (c == '\0') {
        snprintf(out, size, "the end");
        return;
    }
    char one[2] = {c, '\0'};
    char q[16];
    keel_error_quote(q, sizeof q, one, 1);
    snprintf(out, size, "\"%s\" at offset %zu", q, p->pos);
}

static keel_status parse_return_type(sig_parser *p, sig_type *ret)
{
    skip_blanks(p);
    const char *name;
    size_t n = read_name(p, &name);
    if (n == 0) {
        char here[64];
        describe_here(p, here, sizeof here);
        return parse_fail(p, "return type: missing, found %s (expected " RETURN_TYPES_EXPECTED ")", here);
    }
    int t = lookup_type(name, n);
    char q[SIG_VALUE_QUOTE_MAX * 4 + 8];
    quote_span(q, sizeof q, name, n);
    if (t < 0)
        return parse_fail(p, "return type: unknown type \"%s\" (expected " RETURN_TYPES_EXPECTED ")", q);
    if (t == T_BYTES || t == T_BUF)
        return parse_fail(p, "return type: %s is not allowed as a return type (expected " RETURN_TYPES_EXPECTED ")",
                          type_names[t]);
    *ret = (sig_type)t;
    return KEEL_OK;
}

/* Parses one parameter type; `index` is 0-based. */
static keel_status parse_param(sig_parser *p, keel_signature *sig, size_t index)
{
    skip_blanks(p);
    const char *name;
    size_t n = read_name(p, &name);
    if (n == 0) {
        char here[64];
        describe_here(p, here, sizeof here);
        return parse_fail(p, "argument %zu: missing type, found %s", index + 1, here);
    }
    if (index >= SIG_MAX_PARAMS)
        return parse_fail(p, "argument %zu: too many arguments (at most %d)", index + 1, SIG_MAX_PARAMS);
    int t = lookup_type(name, n);
    if (t < 0) {
        char q[SIG_VALUE_QUOTE_MAX * 4 + 8];
        quote_span(q, sizeof q, name, n);
        return parse_fail(p, "argument %zu: unknown type \"%s\" (expected " PARAM_TYPES_EXPECTED ")", index + 1, q);
    }
    if (t == T_VOID)
        return parse_fail(p, "argument %zu: void is only allowed as the return type (write \"()\" for no arguments)",
                          index + 1);
    if (t == T_BUF && sig->has_buf)
        return parse_fail(p, "argument %zu: a second buf (at most one buf parameter)", index + 1);
    sig->params[index] = (sig_type)t;
    if (t == T_BUF)
        sig->has_buf = true;
    return KEEL_OK;
}

/* Parses "(" [type {"," type}] ")" and what may follow it. */
static keel_status parse_params(sig_parser *p, keel_signature *sig)
{
    skip_blanks(p);
    if (p->text[p->pos] != '(') {
        char here[64];
        describe_here(p, here, sizeof here);
        return parse_fail(p, "missing \"(\" after the return type, found %s", here);
    }
    p->pos++;
    skip_blanks(p);
    if (p->text[p->pos] == ')') {
        p->pos++;
    } else {
        for (size_t i = 0;; i++) {
            keel_status s = parse_param(p, sig, i);
            if (s != KEEL_OK)
                return s;
            sig->nparams = i + 1;
            skip_blanks(p);
            char c = p->text[p->pos];
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == ')') {
                p->pos++;
                break;
            }
            if (c == '\0')
                return parse_fail(p, "missing \")\" at the end");
            char here[64];
            describe_here(p, here, sizeof here);
            return parse_fail(p, "argument %zu: expected \",\" or \")\" after the type, found %s", i + 1, here);
        }
    }
    skip_blanks(p);
    if (p->text[p->pos] != '\0') {
        char here[64];
        describe_here(p, here, sizeof here);
        return parse_fail(p, "unexpected %s after \")\"", here);
    }
    return KEEL_OK;
}

static ffi_type *ffi_size_type(void)
{
    return sizeof(size_t) == sizeof(uint64_t) ? &ffi_type_uint64 : &ffi_type_uint32;
}

static ffi_type *ffi_scalar_type(sig_type t)
{
    switch (t) {
    case T_VOID: return &ffi_type_void;
    /* _Bool is one byte on every ABI libffi and glibc target. */
    case T_BOOL: return &ffi_type_uint8;
    case T_I32: return &ffi_type_sint32;
    case T_I64: return &ffi_type_sint64;
    case T_U32: return &ffi_type_uint32;
    case T_U64: return &ffi_type_uint64;
    case T_F64: return &ffi_type_double;
    default: return &ffi_type_pointer;
    }
}

/* Fills the C-level parameter list and prepares the cif (once, so calls
 * only read it). */
static keel_status prepare_cif(keel_signature *sig, keel_error *err)
{
    unsigned nc = 0;
    for (size_t i = 0; i < sig->nparams; i++) {
        sig_type t = sig->params[i];
        if (t == T_BYTES || t == T_BUF) {
            sig->c_arg_types[nc++] = &ffi_type_pointer;
            sig->c_arg_types[nc++] = ffi_size_type();
        } else {
            sig->c_arg_types[nc++] = ffi_scalar_type(t);
        }
    }
    sig->n_c_args = nc;
    ffi_status fs = ffi_prep_cif(&sig->cif, FFI_DEFAULT_ABI, nc, ffi_scalar_type(sig->ret), sig->c_arg_types);
    if (fs != FFI_OK)
        return keel_error_set(err, KEEL_ERR_INTERNAL, "signature \"%s\": libffi refused the call interface (status %d)",
                              sig->text, (int)fs);
    return KEEL_OK;
}

/* Builds the canonical text and the argument description used by calls. */
static keel_status build_texts(keel_signature *sig, keel_error *err)
{
    text_out t = {0};
    out_append_str(&t, type_names[sig->ret]);
    out_append(&t, "(", 1);
    for (size_t i = 0; i < sig->nparams; i++) {
        if (i > 0)
            out_append(&t, ",", 1);
        out_append_str(&t, type_names[sig->params[i]]);
    }
    out_append(&t, ")", 1);

    text_out a = {0};
    if (sig->json_arity == 0) {
        out_append_str(&a, "an empty JSON array (no arguments)");
    } else {
        char head[64];
        snprintf(head, sizeof head, "a JSON array of %zu argument%s (", sig->json_arity,
                 sig->json_arity == 1 ? "" : "s");
        out_append_str(&a, head);
        const char *sep = "";
        for (size_t i = 0; i < sig->nparams; i++) {
            if (sig->params[i] == T_BUF)
                continue;
            out_append_str(&a, sep);
            out_append_str(&a, type_names[sig->params[i]]);
            sep = ", ";
        }
        out_append(&a, ")", 1);
    }
    if (t.failed || a.failed) {
        free(t.data);
        free(a.data);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory while parsing a signature");
    }
    sig->text = t.data;
    sig->arity_text = a.data;
    return KEEL_OK;
}

keel_status keel_signature_parse(const char *text, keel_signature **out, keel_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (text == NULL || out == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "signature: %s is NULL", text == NULL ? "the text" : "out");

    sig_parser p = {.text = text, .pos = 0, .err = err};
    keel_error_quote(p.quoted, sizeof p.quoted, text, SIG_QUOTE_MAX);
    if (text[0] == '\0')
        return parse_fail(&p, "empty (expected for example \"i32(str,buf)\" or \"void()\")");

    keel_signature *sig = calloc(1, sizeof *sig);
    if (sig == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory while parsing a signature");
    keel_status s = parse_return_type(&p, &sig->ret);
    if (s == KEEL_OK)
        s = parse_params(&p, sig);
    if (s != KEEL_OK) {
        free(sig);
        return s;
    }

    sig->dynamic = sig->ret != T_PTR;
    for (size_t i = 0; i < sig->nparams; i++) {
        if (sig->params[i] == T_PTR)
            sig->dynamic = false;
        if (sig->params[i] != T_BUF)
            sig->json_arity++;
    }
    s = build_texts(sig, err);
    if (s == KEEL_OK)
        s = prepare_cif(sig, err);
    if (s != KEEL_OK) {
        keel_signature_destroy(sig);
        return s;
    }
    *out = sig;
    return KEEL_OK;
}

void keel_signature_destroy(keel_signature *sig)
{
    if (sig == NULL)
        return;
    free(sig->text);
    free(sig->arity_text);
    free(sig);
}

const char *keel_signature_text(const keel_signature *sig)
{
    return sig != NULL ? sig->text : "";
}

size_t keel_signature_json_arity(const keel_signature *sig)
{
    return sig != NULL ? sig->json_arity : 0;
}

int keel_signature_dynamic(const keel_signature *sig)
{
    return sig != NULL && sig->dynamic;
}

/* ---- strict scan of JSON text ----------------------------------------------------- */

/* Where a top-level array element lies in the raw text. */
typedef struct json_span {
    size_t start;
    size_t end;
    bool has_nul_escape; /* contains \u0000, which no C string can carry */
} json_span;

/* Length of the JSON number at s, or 0 if it breaks the JSON grammar
 * (cJSON hands such text to strtod, which also takes "01", "1." or "-.5"). */
static size_t json_number_length(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    if (i < n && u[i] == '-')
        i++;
    if (i >= n)
        return 0;
    if (u[i] == '0') {
        i++;
    } else if (u[i] >= '1' && u[i] <= '9') {
        while (i < n && is_digit(u[i]))
            i++;
    } else {
        return 0;
    }
    if (i < n && u[i] == '.') {
        size_t first = ++i;
        while (i < n && is_digit(u[i]))
            i++;
        if (i == first)
            return 0;
    }
    if (i < n && (u[i] == 'e' || u[i] == 'E')) {
        i++;
        if (i < n && (u[i] == '+' || u[i] == '-'))
            i++;
        size_t first = i;
        while (i < n && is_digit(u[i]))
            i++;
        if (i == first)
            return 0;
    }
    if (i < n && (is_digit(u[i]) || u[i] == '.' || u[i] == 'e' || u[i] == 'E' || u[i] == '+' || u[i] == '-'))
        return 0;
    return i;
}

/* Checks what cJSON accepted against the JSON grammar it is lax about
 * (control bytes as whitespace or inside strings, invalid UTF-8, number
 * forms, a byte order mark) and, when the text is an array, records up to
 * `max_spans` element spans. Returns SIZE_MAX, or the offset of the first
 * offending byte. */
static size_t json_scan(const char *s, size_t n, json_span *spans, size_t max_spans)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t depth = 0;
    bool top_array = false;
    bool seen_top = false;
    bool in_string = false;
    size_t index = 0;       /* current top-level element */
    bool started = false;   /* the current element has begun */
    size_t last_end = 0;    /* end of the last byte of a value seen */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        bool element_level = top_array && depth == 1 && index < max_spans;
        if (in_string) {
            if (c == '"') {
                in_string = false;
                last_end = i + 1;
            } else if (c == '\\') {
                /* cJSON has validated the escape; only \u0000 matters. */
                if (i + 5 < n && u[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0 && top_array &&
                    index < max_spans)
                    spans[index].has_nul_escape = true;
                i++;
            } else if (c < 0x20) {
                return i;
            } else if (c >= 0x80) {
                size_t len = utf8_sequence_length(u + i, n - i);
                if (len == 0)
                    return i;
                i += len - 1;
            }
            continue;
        }
        if (is_json_ws(c))
            continue;
        if (depth == 0 && seen_top)
            return i; /* a second value: cJSON stops before it anyway */
        if (top_array && depth == 1 && (c == ',' || c == ']')) {
            if (element_level && started)
                spans[index].end = last_end;
            if (c == ',') {
                index++;
                started = false;
            } else {
                depth = 0;
                seen_top = true;
            }
            continue;
        }
        if (element_level && !started) {
            spans[index].start = i;
            spans[index].has_nul_escape = false;
            started = true;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '-' || is_digit(c)) {
            size_t len = json_number_length(s + i, n - i);
            if (len == 0)
                return i;
            i += len - 1;
        } else if (c == '[' || c == '{') {
            if (depth == 0)
                top_array = c == '[';
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return i;
            depth--;
        } else if (c >= 'a' && c <= 'z') {
            /* true, false or null as one token: cJSON checked the spelling */
            while (i + 1 < n && u[i + 1] >= 'a' && u[i + 1] <= 'z')
                i++;
        } else if (c == ',' || c == ':') {
            /* cJSON checked where separators may stand */
        } else {
            return i;
        }
        last_end = i + 1;
        if (depth == 0)
            seen_top = true;
    }
    return in_string ? n : SIZE_MAX;
}

/* Copies a validated JSON value without the whitespace between tokens. */
static char *json_compact(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            out[o++] = c;
            if (c == '\\' && i + 1 < n)
                out[o++] = s[++i];
            else if (c == '"')
                in_string = false;
        } else if (!is_json_ws((unsigned char)c)) {
            out[o++] = c;
            in_string = c == '"';
        }
    }
    out[o] = '\0';
    return out;
}

/* Parses `n` bytes of JSON text strictly: the whole text must be one value.
 * On failure returns NULL and *bad_offset says where. (cJSON does not tell
 * running out of memory apart from bad syntax, so neither can this.) */
static cJSON *json_parse_strict(const char *s, size_t n, json_span *spans, size_t max_spans, size_t *bad_offset)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (root == NULL) {
        *bad_offset = end != NULL && end >= s && (size_t)(end - s) <= n ? (size_t)(end - s) : 0;
        return NULL;
    }
    size_t used = (size_t)(end - s);
    for (size_t i = used; i < n; i++) {
        if (!is_json_ws((unsigned char)s[i])) {
            cJSON_Delete(root);
            *bad_offset = i;
            return NULL;
        }
    }
    size_t bad = json_scan(s, used, spans, max_spans);
    if (bad != SIZE_MAX) {
        cJSON_Delete(root);
        *bad_offset = bad;
        return NULL;
    }
    return root;
}

/* ---- argument conversion ------------------------------------------------------------ */

typedef union arg_slot {
    uint8_t b;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    double f64;
    const void *ptr;
    size_t size;
} arg_slot;

/* Everything one call owns. Lives on the caller's stack. */
typedef struct call_state {
    const keel_signature *sig;
    const char *args;
    cJSON *root;
    json_span spans[SIG_MAX_PARAMS];
    arg_slot slots[SIG_MAX_C_ARGS];
    void *values[SIG_MAX_C_ARGS];
    void *owned[SIG_MAX_PARAMS + 1];
    size_t n_owned;
    char *buf;
    size_t buf_size;
    keel_error *err;
} call_state;

static void call_state_release(call_state *cs)
{
    for (size_t i = 0; i < cs->n_owned; i++)
        free(cs->owned[i]);
    cs->n_owned = 0;
    free(cs->buf);
    cs->buf = NULL;
    cJSON_Delete(cs->root);
    cs->root = NULL;
}

static keel_status call_fail_nomem(call_state *cs)
{
    return keel_error_set(cs->err, KEEL_ERR_NOMEM, "out of memory while preparing the call");
}

static const char *json_kind(const cJSON *item)
{
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "boolean";
    if (cJSON_IsNumber(item))
        return "number";
    if (cJSON_IsString(item))
        return "string";
    if (cJSON_IsArray(item))
        return "array";
    return "object";
}

static keel_status wrong_kind(call_state *cs, size_t pos, sig_type t, const cJSON *item)
{
    const char *hint = t == T_BYTES ? " (a base64 string)" : (t == T_I64 || t == T_U64) ?
                       " (an integer or a decimal string)" : "";
    return keel_error_set(cs->err, KEEL_ERR_INVALID, "argument %zu: expected %s%s, got %s", pos + 1, type_names[t],
                          hint, json_kind(item));
}

static keel_status out_of_range(call_state *cs, size_t pos, sig_type t, const char *text, size_t n, bool as_string)
{
    char q[SIG_VALUE_QUOTE_MAX * 4 + 8];
    quote_span(q, sizeof q, text, n);
    return keel_error_set(cs->err, KEEL_ERR_INVALID, "argument %zu: %s%s%s is out of range for %s", pos + 1,
                          as_string ? "\"" : "", q, as_string ? "\"" : "", type_names[t]);
}

static bool is_signed_type(sig_type t)
{
    return t == T_I32 || t == T_I64;
}

/* Converts plain decimal digits (with an optional "-") exactly. Returns
 * false when the value does not fit the type. */
static bool decimal_to_integer(const char *digits, size_t n, sig_type t, arg_slot *slot)
{
    /* 40 bytes hold any in-range value, leading zeros of a string aside. */
    char tmp[48];
    size_t skip = digits[0] == '-' ? 1 : 0;
    size_t zeros = 0;
    while (skip + zeros + 1 < n && digits[skip + zeros] == '0')
        zeros++;
    size_t keep = n - skip - zeros;
    if (keep + 2 > sizeof tmp)
        return false;
    size_t o = 0;
    if (skip)
        tmp[o++] = '-';
    memcpy(tmp + o, digits + skip + zeros, keep);
    tmp[o + keep] = '\0';

    errno = 0;
    char *end = NULL;
    if (is_signed_type(t)) {
        long long v = strtoll(tmp, &end, 10);
        if (errno == ERANGE || *end != '\0')
            return false;
        if (t == T_I32) {
            if (v < INT32_MIN || v > INT32_MAX)
                return false;
            slot->i32 = (int32_t)v;
        } else {
            slot->i64 = (int64_t)v;
        }
        return true;
    }
    if (tmp[0] == '-') {
        /* strtoull would wrap "-1" around; only minus zero fits. */
        if (strspn(tmp + 1, "0") != strlen(tmp + 1))
            return false;
        tmp[0] = '0';
    }
    unsigned long long v = strtoull(tmp, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return false;
    if (t == T_U32) {
        if (v > UINT32_MAX)
            return false;
        slot->u32 = (uint32_t)v;
    } else {
        slot->u64 = (uint64_t)v;
    }
    return true;
}

/* A JSON number written with a fraction or an exponent ("1e3", "2.0"). */
static keel_status double_to_integer(call_state *cs, size_t pos, sig_type t, double d, const char *text,
                                     size_t n, arg_slot *slot)
{
    char q[SIG_VALUE_QUOTE_MAX * 4 + 8];
    quote_span(q, sizeof q, text, n);
    if (isfinite(d) && d != trunc(d))
        return keel_error_set(cs->err, KEEL_ERR_INVALID, "argument %zu: %s is not an integer (expected %s)", pos + 1,
                              q, type_names[t]);
    bool fits;
    switch (t) {
    case T_I32: fits = d >= -2147483648.0 && d <= 2147483647.0; break;
    case T_U32: fits = d >= 0.0 && d <= 4294967295.0; break;
    case T_I64: fits = d >= -9223372036854775808.0 && d < 9223372036854775808.0; break;
    default: fits = d >= 0.0 && d < 18446744073709551616.0; break;
    }
    if (!isfinite(d) || !fits)
        return out_of_range(cs, pos, t, text, n, false);
    if (fabs(d) > SIG_MAX_SAFE_INTEGER)
        return keel_error_set(cs->err, KEEL_ERR_INVALID,
                              "argument %zu: %s is beyond 2^53 and not exact in this form (write the digits, or a "
                              "decimal string)", pos + 1, q);
    switch (t) {
    case T_I32: slot->i32 = (int32_t)d; break;
    case T_U32: slot->u32 = (uint32_t)d; break;
    case T_I64: slot->i64 = (int64_t)d; break;
    default: slot->u64 = (uint64_t)d; break;
    }
    return KEEL_OK;
}

static keel_status convert_integer(call_state *cs, size_t pos, sig_type t, const cJSON *item,
                                   const json_span *span, arg_slot *slot)
{
    const char *text = cs->args + span->start;
    size_t n = span->end - span->start;
    if (cJSON_IsNumber(item)) {
        /* The raw digits, not cJSON's double, so that 64-bit values stay exact. */
        bool plain = memchr(text, '.', n) == NULL && memchr(text, 'e', n) == NULL && memchr(text, 'E', n) == NULL;
        if (!plain)
            return double_to_integer(cs, pos, t, item->valuedouble, text, n, slot);
        if (!decimal_to_integer(text, n, t, slot))
            return out_of_range(cs, pos, t, text, n, false);
        return KEEL_OK;
    }
    if (cJSON_IsString(item) && (t == T_I64 || t == T_U64)) {
        const char *s = item->valuestring;
        size_t len = strlen(s);
        size_t sign = s[0] == '-' ? 1 : 0;
        if (span->has_nul_escape || len == sign || strspn(s + sign, "0123456789") != len - sign) {
            char q[SIG_VALUE_QUOTE_MAX * 4 + 8];
            keel_error_quote(q, sizeof q, s, SIG_VALUE_QUOTE_MAX);
            return keel_error_set(cs->err, KEEL_ERR_INVALID, "argument %zu: \"%s\" is not a decimal integer (expected %s)",
                                  pos + 1, q, type_names[t]);
        }
        if (!decimal_to_integer(s, len, t, slot))
            return out_of_range(cs, pos, t, s, len, true);
        return KEEL_OK;
    }
    return wrong_kind(cs, pos, t, item);
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard, padded base64 into a malloc'd buffer (never NULL on
 * success, even when empty, so the callee always gets a valid pointer). */
static keel_status decode_base64(call_state *cs, size_t pos, const char *s, size_t n, unsigned char **data,
                                 size_t *size)
{
    if (n % 4 != 0)
        return keel_error_set(cs->err, KEEL_ERR_INVALID,
                              "argument %zu: invalid base64 (length %zu is not a multiple of 4)", pos + 1, n);
    size_t pad = 0;
    if (n > 0 && s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < n; i++) {
        if (i >= n - pad || base64_value((unsigned char)s[i]) >= 0)
            continue;
        char one[2] = {s[i], '\0'};
        char q[16];
        keel_error_quote(q, sizeof q, one, 1);
        return keel_error_set(cs->err, KEEL_ERR_INVALID,
                              "argument %zu: invalid base64 (character \"%s\" at offset %zu)", pos + 1, q, i);
    }
    size_t out_size = n / 4 * 3 - pad;
    unsigned char *out = malloc(out_size > 0 ? out_size : 1);
    if (out == NULL)
        return call_fail_nomem(cs);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++)
            v = v << 6 | (uint32_t)(s[i + k] == '=' ? 0 : base64_value((unsigned char)s[i + k]));
        unsigned char bytes[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
        for (size_t k = 0; k < 3 && o < out_size; k++)
            out[o++] = bytes[k];
    }
    *data = out;
    *size = out_size;
    return KEEL_OK;
}

/* Converts JSON argument `pos` of type t into C slots starting at slot. */
static keel_status convert_argument(call_state *cs, size_t pos, sig_type t, const cJSON *item, unsigned slot)
{
    const json_span *span = &cs->spans[pos];
    arg_slot *s = &cs->slots[slot];
    switch (t) {
    case T_BOOL:
        if (!cJSON_IsBool(item))
            return wrong_kind(cs, pos, t, item);
        s->b = cJSON_IsTrue(item) ? 1 : 0;
        return KEEL_OK;
    case T_I32:
    case T_I64:
    case T_U32:
    case T_U64:
        return convert_integer(cs, pos, t, item, span, s);
    case T_F64:
        if (!cJSON_IsNumber(item))
            return wrong_kind(cs, pos, t, item);
        if (!isfinite(item->valuedouble))
            return out_of_range(cs, pos, t, cs->args + span->start, span->end - span->start, false);
        s->f64 = item->valuedouble;
        return KEEL_OK;
    case T_STR:
        if (!cJSON_IsString(item))
            return wrong_kind(cs, pos, t, item);
        if (span->has_nul_escape)
            return keel_error_set(cs->err, KEEL_ERR_INVALID,
                                  "argument %zu: the string contains \\u0000, which a C string cannot carry", pos + 1);
        /* Points into the tree, which lives until the call has returned. */
        s->ptr = item->valuestring;
        return KEEL_OK;
    case T_JSON: {
        char *text = json_compact(cs->args + span->start, span->end - span->start);
        if (text == NULL)
            return call_fail_nomem(cs);
        cs->owned[cs->n_owned++] = text;
        s->ptr = text;
        return KEEL_OK;
    }
    case T_BYTES: {
        if (!cJSON_IsString(item))
            return wrong_kind(cs, pos, t, item);
        /* cJSON's copy would end at a \u0000, which is no base64 anyway. */
        if (span->has_nul_escape)
            return keel_error_set(cs->err, KEEL_ERR_INVALID, "argument %zu: invalid base64 (contains \\u0000)",
                                  pos + 1);
        unsigned char *data = NULL;
        size_t size = 0;
        const char *text = item->valuestring;
        keel_status st = decode_base64(cs, pos, text, strlen(text), &data, &size);
        if (st != KEEL_OK)
            return st;
        cs->owned[cs->n_owned++] = data;
        s[0].ptr = data;
        s[1].size = size;
        return KEEL_OK;
    }
    default:
        return keel_error_set(cs->err, KEEL_ERR_INTERNAL, "argument %zu: type %s cannot be converted", pos + 1,
                              type_names[t]);
    }
}

/* Parses the argument array and fills every C slot; fn is not involved. */
static keel_status prepare_arguments(call_state *cs, size_t size, size_t buf_size)
{
    const keel_signature *sig = cs->sig;
    size_t bad = 0;
    cs->root = json_parse_strict(cs->args, size, cs->spans, SIG_MAX_PARAMS, &bad);
    if (cs->root == NULL)
        return keel_error_set(cs->err, KEEL_ERR_INVALID, "malformed JSON arguments at offset %zu", bad);
    if (!cJSON_IsArray(cs->root))
        return keel_error_set(cs->err, KEEL_ERR_INVALID, "expected %s, got %s", sig->arity_text, json_kind(cs->root));
    size_t count = (size_t)cJSON_GetArraySize(cs->root);
    if (count != sig->json_arity)
        return keel_error_set(cs->err, KEEL_ERR_INVALID, "expected %s, got %zu", sig->arity_text, count);

    const cJSON *item = cs->root->child;
    size_t pos = 0;
    unsigned slot = 0;
    for (size_t i = 0; i < sig->nparams; i++) {
        sig_type t = sig->params[i];
        if (t == T_BUF) {
            slot += 2; /* filled once everything else is known to be valid */
            continue;
        }
        keel_status st = convert_argument(cs, pos, t, item, slot);
        if (st != KEEL_OK)
            return st;
        item = item->next;
        pos++;
        slot += t == T_BYTES ? 2 : 1;
    }

    if (sig->has_buf) {
        cs->buf_size = buf_size != 0 ? buf_size : SIG_DEFAULT_BUF_SIZE;
        /* One byte more than the callee is told, so the text always ends. */
        cs->buf = cs->buf_size < SIZE_MAX ? malloc(cs->buf_size + 1) : NULL;
        if (cs->buf == NULL)
            return keel_error_set(cs->err, KEEL_ERR_NOMEM, "out of memory for a buf of %zu bytes", cs->buf_size);
        cs->buf[0] = '\0';
        cs->buf[cs->buf_size] = '\0';
        slot = 0;
        for (size_t i = 0; i < sig->nparams; i++) {
            if (sig->params[i] == T_BUF) {
                cs->slots[slot].ptr = cs->buf;
                cs->slots[slot + 1].size = cs->buf_size;
                break;
            }
            slot += sig->params[i] == T_BYTES ? 2 : 1;
        }
    }
    for (unsigned i = 0; i < sig->n_c_args; i++)
        cs->values[i] = &cs->slots[i];
    return KEEL_OK;
}

/* ---- results -------------------------------------------------------------------------- */

/* Storage for a return value: libffi widens integers narrower than a
 * register into a full ffi_arg, which is read back as such. */
typedef union ret_slot {
    ffi_arg u;
    ffi_sarg s;
    int64_t i64;
    uint64_t u64;
    double f64;
    void *ptr;
} ret_slot;

/* Appends the returned value's JSON. */
static keel_status append_return(call_state *cs, text_out *o, const ret_slot *r)
{
    char num[64];
    switch (cs->sig->ret) {
    case T_VOID:
        out_append_str(o, "null");
        break;
    case T_BOOL:
        out_append_str(o, (uint8_t)r->u != 0 ? "true" : "false");
        break;
    case T_I32:
        snprintf(num, sizeof num, "%" PRId32, (int32_t)r->s);
        out_append_str(o, num);
        break;
    case T_U32:
        snprintf(num, sizeof num, "%" PRIu32, (uint32_t)r->u);
        out_append_str(o, num);
        break;
    /* 64-bit values as exact decimal numbers, even beyond 2^53. */
    case T_I64:
        snprintf(num, sizeof num, "%" PRId64, r->i64);
        out_append_str(o, num);
        break;
    case T_U64:
        snprintf(num, sizeof num, "%" PRIu64, r->u64);
        out_append_str(o, num);
        break;
    case T_F64:
        if (isfinite(r->f64)) {
            format_double(num, sizeof num, r->f64);
            out_append_str(o, num);
        } else {
            out_append_str(o, "null");
        }
        break;
    case T_STR:
        if (r->ptr == NULL)
            out_append_str(o, "null");
        else
            out_json_string(o, r->ptr, strlen(r->ptr));
        break;
    case T_JSON: {
        if (r->ptr == NULL) {
            out_append_str(o, "null");
            break;
        }
        const char *text = r->ptr;
        size_t n = strlen(text);
        size_t bad = 0;
        cJSON *parsed = json_parse_strict(text, n, NULL, 0, &bad);
        if (parsed == NULL)
            return keel_error_set(cs->err, KEEL_ERR_INVALID,
                                  "the service returned malformed JSON (at offset %zu); the call was made", bad);
        cJSON_Delete(parsed);
        /* The callee's own text, compacted, so big numbers stay exact. */
        char *compact = json_compact(text, n);
        if (compact == NULL)
            return keel_error_set(cs->err, KEEL_ERR_NOMEM,
                                  "out of memory while copying the service's JSON result (the call was made)");
        out_append_str(o, compact);
        free(compact);
        break;
    }
    default:
        return keel_error_set(cs->err, KEEL_ERR_INTERNAL, "return type %s has no JSON form",
                              type_names[cs->sig->ret]);
    }
    return KEEL_OK;
}

static keel_status build_result(call_state *cs, const ret_slot *r, char **result_json)
{
    const keel_signature *sig = cs->sig;
    text_out o = {0};
    keel_status st = KEEL_OK;
    if (!sig->has_buf) {
        st = append_return(cs, &o, r);
    } else if (sig->ret == T_VOID) {
        out_json_string(&o, cs->buf, strlen(cs->buf));
    } else {
        out_append_str(&o, "{\"return\":");
        st = append_return(cs, &o, r);
        out_append_str(&o, ",\"buf\":");
        out_json_string(&o, cs->buf, strlen(cs->buf));
        out_append_str(&o, "}");
    }
    if (st == KEEL_OK && o.failed)
        st = keel_error_set(cs->err, KEEL_ERR_NOMEM, "out of memory while building the result (the call was made)");
    if (st != KEEL_OK) {
        free(o.data);
        return st;
    }
    *result_json = o.data;
    return KEEL_OK;
}

keel_status keel_signature_call_json(const keel_signature *sig, void (*fn)(void), const char *args_json,
                                     size_t size, size_t buf_size, char **result_json, keel_error *err)
{
    if (result_json != NULL)
        *result_json = NULL;
    if (sig == NULL || fn == NULL || result_json == NULL)
        return keel_error_set(err, KEEL_ERR_INVALID, "dynamic call: %s is NULL",
                              sig == NULL ? "the signature" : fn == NULL ? "the function" : "result_json");
    if (!sig->dynamic)
        return keel_error_set(err, KEEL_ERR_INVALID,
                              "signature \"%s\" cannot be called dynamically (ptr needs a typed call)", sig->text);
    if (args_json == NULL || size == 0)
        return keel_error_set(err, KEEL_ERR_INVALID, "missing arguments: expected %s", sig->arity_text);

    /* Only the bookkeeping is cleared: the 2 KiB of slots and spans are
     * written before they are read, and zeroing them was half the cost of a
     * small call. */
    call_state cs;
    cs.sig = sig;
    cs.args = args_json;
    cs.root = NULL;
    cs.n_owned = 0;
    cs.buf = NULL;
    cs.buf_size = 0;
    cs.err = err;
    keel_status st = prepare_arguments(&cs, size, buf_size);
    if (st == KEEL_OK) {
        ret_slot r;
        memset(&r, 0, sizeof r);
        /* ffi_call only reads the cif, which is why sharing it is safe. */
        ffi_call((ffi_cif *)&sig->cif, fn, &r, cs.values);
        st = build_result(&cs, &r, result_json);
    }
    call_state_release(&cs);
    return st;
}
