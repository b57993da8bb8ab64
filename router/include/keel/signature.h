/*
 * keel/signature.h — service signatures and dynamic calls.
 *
 * A signature string describes how a published C function is really called,
 * "RET(ARG,ARG,...)", for example "i32(str,buf)" or "void()". Types:
 *
 *   type   as a C parameter                 as JSON (argument / result)
 *   ----   ------------------------------   ----------------------------------
 *   void   (return type only)               null
 *   bool   bool (_Bool)                     true / false
 *   i32    int32_t                          integer in range
 *   i64    int64_t                          integer in range (exact up to 2^53
 *                                           from JSON numbers; larger values
 *                                           may be given as decimal strings)
 *   u32    uint32_t                         non-negative integer in range
 *   u64    uint64_t                         as i64, non-negative
 *   f64    double                           number
 *   str    const char * (NUL-terminated)    string; as a result the callee's
 *                                           string is copied right away (the
 *                                           callee owns it; NULL gives null)
 *   json   const char * holding JSON text   any JSON value (passed as its
 *                                           compact text); as a result the
 *                                           callee's text is parsed and embedded
 *   bytes  const void *data, size_t size    base64 string (two C parameters)
 *          (two C parameters)
 *   buf    char *out, size_t size           (no JSON argument: the caller
 *          (two C parameters, an output)    supplies a buffer; what the callee
 *                                           writes there, up to the first NUL,
 *                                           is returned as a string)
 *   ptr    void *                           not callable dynamically (typed
 *                                           calls only): a clear error
 *
 * Integers are exact for any plain JSON integer (i64/u64 results beyond
 * 2^53 are exact numbers that JavaScript-style readers will round); bool
 * takes only true/false; a str or bytes argument containing \u0000 is
 * refused; invalid UTF-8 in a str or buf result becomes U+FFFD. Call
 * errors count "argument N" over JSON positions (buf excluded), parse
 * errors over signature positions.
 *
 * At most one buf parameter. Dynamic call results: with no buf, the return
 * value's JSON; with a buf and a void return, the buf's string; with both,
 * {"return": RET, "buf": "..."}.
 */
#ifndef KEEL_SIGNATURE_H
#define KEEL_SIGNATURE_H

#include <stddef.h>
#include <keel/error.h>

typedef struct keel_signature keel_signature;

/* Parses `text` (borrowed). Spaces around names and commas are allowed.
 * On KEEL_OK *out is owned by the caller (keel_signature_destroy). Errors
 * are KEEL_ERR_INVALID with a message that quotes the signature and says
 * which type or position is wrong. */
keel_status keel_signature_parse(const char *text, keel_signature **out, keel_error *err);

/* Frees a signature. NULL-safe. */
void keel_signature_destroy(keel_signature *sig);

/* The canonical text ("i32(str,buf)"), owned by sig. */
const char *keel_signature_text(const keel_signature *sig);

/* Number of JSON arguments a dynamic call takes (buf excluded). */
size_t keel_signature_json_arity(const keel_signature *sig);

/* Non-zero when the signature can be called dynamically (no ptr). */
int keel_signature_dynamic(const keel_signature *sig);

/* Calls `fn` (which must really have this signature) with the arguments
 * in `args_json` (borrowed, `size` bytes, not necessarily NUL-terminated):
 * a JSON array with one element per argument, in order. The buf parameter,
 * if any, is a base-owned buffer of `buf_size` bytes (0: 64 KiB).
 * On KEEL_OK *result_json is a malloc'd, NUL-terminated compact JSON text
 * the caller frees with free(). Malformed JSON, a wrong count or a wrong
 * type give KEEL_ERR_INVALID with a message naming the argument position
 * and the expected type; fn is not called then. Never crashes on bad input.
 * Thread-safe: a signature may be used by many threads at once. */
keel_status keel_signature_call_json(const keel_signature *sig, void (*fn)(void),
                                     const char *args_json, size_t size, size_t buf_size,
                                     char **result_json, keel_error *err);

#endif
