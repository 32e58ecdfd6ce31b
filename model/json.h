/* json.h — a small strict JSON (RFC 8259) parser into a tree.
 *
 * Used for safetensors headers and result files. Strict: no comments, no
 * trailing commas, no leading zeros, strings must be valid UTF-8 without raw
 * control characters, lone surrogates in \u escapes are rejected, and an
 * object with a repeated key is an error (the reference readers we mirror
 * would otherwise silently keep one of them). Nesting deeper than
 * JSON_MAX_DEPTH is rejected so hostile input cannot exhaust the stack. */
#ifndef RN_JSON_H
#define RN_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 128

enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
    JSON_TYPE_COUNT
};

/* One node. Arrays and objects hold their elements as a singly linked list
 * (child, then next) in document order; object members carry their key. */
struct json_value {
    enum json_type type;
    int boolean;               /* JSON_BOOL: 0 or 1 */
    double number;             /* JSON_NUMBER: value as strtod reads it */
    int64_t integer;           /* JSON_NUMBER: exact value when is_integer */
    int is_integer;            /* literal had no fraction/exponent and fits int64_t */
    char *str;                 /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t str_len;            /* bytes, excluding the NUL (may hold \u0000) */
    char *key;                 /* member of an object: its decoded key, else NULL */
    size_t key_len;
    struct json_value *child;  /* JSON_ARRAY / JSON_OBJECT: first element */
    struct json_value *next;   /* next sibling, NULL at the end */
    int64_t n_children;        /* JSON_ARRAY / JSON_OBJECT: element count */
};

/* Parses text[0..len) (need not be NUL-terminated) as one JSON value with
 * optional surrounding whitespace. On success *out owns the tree (free with
 * json_free). On failure *out is NULL and the status is STATUS_BAD_INPUT
 * with a message "ORIGIN: invalid JSON at byte K: ..." (origin names the
 * file) or STATUS_NOMEM. */
int json_parse(const char *text, size_t len, const char *origin, struct json_value **out);

/* Frees a tree returned by json_parse; NULL is a no-op. */
void json_free(struct json_value *v);

/* The member of object obj whose key equals key (keys holding \u0000 never
 * match), or NULL if absent or obj is not an object. Linear in the number of
 * members. */
const struct json_value *json_object_get(const struct json_value *obj, const char *key);

/* The first element or member of an array or object (then follow ->next),
 * NULL if empty or not a container. Iterates in document order:
 *     for (m = json_first(obj); m; m = m->next) use(m->key, m); */
const struct json_value *json_first(const struct json_value *v);

/* "null", "bool", "number", "string", "array", "object". */
const char *json_type_name(enum json_type t);

/* Returns a malloc'd, NUL-terminated JSON string literal (with quotes) for
 * the n bytes at s, escaping '"', '\\' and control characters; bytes >= 0x80
 * are copied as they are (the caller supplies UTF-8). NULL on OOM. */
char *json_quote(const char *s, size_t n);

#endif
