/* json.c — recursive-descent JSON parser (RFC 8259, strict) building a tree
 * of malloc'd nodes, plus string quoting for writers.
 *
 * What it does not do: preserve number text (numbers become double, plus an
 * exact int64 when the literal is an integer that fits), accept any JSON5
 * extensions, or stream. Recursion depth is bounded by JSON_MAX_DEPTH;
 * duplicate keys are found by sorting each object's keys (O(n log n)), so a
 * huge hostile header cannot make the check quadratic. */
#include "json.h"

#include "status.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct json_parser {
    const char *s;
    size_t n;
    size_t pos;
    const char *origin;
    int depth;
};

static const char *const json_type_names[] = {
    "null", "bool", "number", "string", "array", "object",
};
_Static_assert(sizeof json_type_names / sizeof json_type_names[0] == JSON_TYPE_COUNT,
               "json_type_names must cover enum json_type");

const char *json_type_name(enum json_type t)
{
    RN_ASSERT((unsigned)t < JSON_TYPE_COUNT);
    return json_type_names[t];
}

static int json_fail(const struct json_parser *p, const char *what)
{
    return status_error(STATUS_BAD_INPUT, "%s: invalid JSON at byte %zu: %s",
                        p->origin, p->pos, what);
}

static void json_skip_ws(struct json_parser *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

void json_free(struct json_value *v)
{
    /* Siblings are walked iteratively; only nesting recurses, and nesting was
     * bounded by JSON_MAX_DEPTH when the tree was built. */
    while (v) {
        struct json_value *next = v->next;
        json_free(v->child);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static int json_hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t json_put_utf8(char *dst, unsigned cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence starting at s[0..n), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Parses a string literal at p->pos (which holds '"') into a new malloc'd
 * buffer. The decoded form is never longer than the raw text, so one
 * allocation of the raw length suffices. */
static int json_parse_string(struct json_parser *p, char **out, size_t *out_len)
{
    RN_ASSERT(p->s[p->pos] == '"');
    size_t start = ++p->pos;
    size_t end = start;
    while (end < p->n && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->n) {
        p->pos = p->n;
        return json_fail(p, "unterminated string");
    }
    char *buf = malloc(end - start + 1);
    if (!buf)
        return status_error(STATUS_NOMEM, "%s: out of memory parsing JSON", p->origin);
    size_t k = 0;
    const unsigned char *s = (const unsigned char *)p->s;
    while (p->pos < end) {
        unsigned c = s[p->pos];
        if (c < 0x20) {
            free(buf);
            return json_fail(p, "raw control character in string (expected an escape)");
        }
        if (c >= 0x80) {
            size_t l = json_utf8_len(s + p->pos, end - p->pos);
            if (!l) {
                free(buf);
                return json_fail(p, "invalid UTF-8 in string");
            }
            memcpy(buf + k, s + p->pos, l);
            k += l;
            p->pos += l;
            continue;
        }
        if (c != '\\') {
            buf[k++] = (char)c;
            p->pos++;
            continue;
        }
        /* Escape: the scan above guarantees p->pos + 1 < end + 1. */
        char e = p->s[p->pos + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char repl[] = "\"\\/\b\f\n\r\t";
            buf[k++] = repl[simple - "\"\\/bfnrt"];
            p->pos += 2;
            continue;
        }
        if (e != 'u') {
            free(buf);
            return json_fail(p, "unknown escape in string (expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
        unsigned cp, lo;
        if (end - p->pos < 6 || json_hex4(p->s + p->pos + 2, &cp)) {
            free(buf);
            return json_fail(p, "bad \\u escape (expected 4 hex digits)");
        }
        p->pos += 6;
        if (cp >= 0xdc00 && cp <= 0xdfff) {
            free(buf);
            return json_fail(p, "lone low surrogate in \\u escape");
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                json_hex4(p->s + p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                free(buf);
                return json_fail(p, "high surrogate not followed by a low surrogate \\u escape");
            }
            p->pos += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        k += json_put_utf8(buf + k, cp);
    }
    RN_ASSERT(k <= end - start);
    buf[k] = '\0';
    p->pos = end + 1;
    *out = buf;
    *out_len = k;
    return STATUS_OK;
}

static int json_parse_number(struct json_parser *p, struct json_value *v)
{
    size_t start = p->pos, i = p->pos;
    int is_int = 1;
    if (i < p->n && p->s[i] == '-')
        i++;
    if (i >= p->n || p->s[i] < '0' || p->s[i] > '9')
        return json_fail(p, "expected a digit");
    if (p->s[i] == '0') {
        i++;
        if (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            return json_fail(p, "leading zero in number");
    } else {
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->n && p->s[i] == '.') {
        is_int = 0;
        i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') {
            p->pos = i;
            return json_fail(p, "expected a digit after '.'");
        }
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        is_int = 0;
        i++;
        if (i < p->n && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        if (i >= p->n || p->s[i] < '0' || p->s[i] > '9') {
            p->pos = i;
            return json_fail(p, "expected a digit in exponent");
        }
        while (i < p->n && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
    }
    /* The text need not be NUL-terminated, so copy the validated literal
     * before handing it to strtod/strtoll. */
    char tmp[64];
    size_t len = i - start;
    char *lit = len < sizeof tmp ? tmp : malloc(len + 1);
    if (!lit)
        return status_error(STATUS_NOMEM, "%s: out of memory parsing JSON", p->origin);
    memcpy(lit, p->s + start, len);
    lit[len] = '\0';
    v->type = JSON_NUMBER;
    errno = 0;
    v->number = strtod(lit, NULL);
    /* Overflow to +-inf is kept as inf rather than rejected: the grammar
     * allows any magnitude and callers range-check what they use. */
    if (is_int) {
        errno = 0;
        long long ll = strtoll(lit, NULL, 10);
        if (errno != ERANGE) {
            v->integer = ll;
            v->is_integer = 1;
        }
    }
    if (lit != tmp)
        free(lit);
    p->pos = i;
    return STATUS_OK;
}

static int json_key_cmp(const void *a, const void *b)
{
    const struct json_value *x = *(const struct json_value *const *)a;
    const struct json_value *y = *(const struct json_value *const *)b;
    size_t m = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, m);
    if (c)
        return c;
    return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static int json_check_unique(struct json_parser *p, const struct json_value *obj)
{
    if (obj->n_children < 2)
        return STATUS_OK;
    const struct json_value **v = malloc((size_t)obj->n_children * sizeof *v);
    if (!v)
        return status_error(STATUS_NOMEM, "%s: out of memory parsing JSON", p->origin);
    size_t n = 0;
    for (const struct json_value *m = obj->child; m; m = m->next)
        v[n++] = m;
    qsort(v, n, sizeof *v, json_key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (json_key_cmp(&v[i - 1], &v[i]) == 0) {
            int rc = status_error(STATUS_BAD_INPUT,
                                  "%s: invalid JSON: duplicate key \"%s\" in object ending at byte %zu (expected unique keys)",
                                  p->origin, v[i]->key, p->pos);
            free(v);
            return rc;
        }
    }
    free(v);
    return STATUS_OK;
}

static int json_parse_value(struct json_parser *p, struct json_value **out);

/* Parses '[' ... ']' or '{' ... '}' into v; for objects, each member's key
 * is parsed first and attached to the member node. */
static int json_parse_container(struct json_parser *p, struct json_value *v, int is_object)
{
    char close = is_object ? '}' : ']';
    struct json_value **tail = &v->child;
    if (++p->depth > JSON_MAX_DEPTH)
        return json_fail(p, "nesting deeper than 128 levels");
    v->type = is_object ? JSON_OBJECT : JSON_ARRAY;
    p->pos++;
    json_skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return STATUS_OK;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        int rc;
        json_skip_ws(p);
        if (is_object) {
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return json_fail(p, "expected a string key");
            if ((rc = json_parse_string(p, &key, &key_len)))
                return rc;
            json_skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') {
                free(key);
                return json_fail(p, "expected ':' after object key");
            }
            p->pos++;
        }
        struct json_value *child = NULL;
        if ((rc = json_parse_value(p, &child))) {
            free(key);
            return rc;
        }
        child->key = key;
        child->key_len = key_len;
        *tail = child;
        tail = &child->next;
        v->n_children++;
        json_skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return json_fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->depth--;
    return is_object ? json_check_unique(p, v) : STATUS_OK;
}

static int json_parse_literal(struct json_parser *p, const char *word)
{
    size_t len = strlen(word);
    if (p->n - p->pos < len || memcmp(p->s + p->pos, word, len) != 0)
        return json_fail(p, "expected a value");
    p->pos += len;
    return STATUS_OK;
}

static int json_parse_value(struct json_parser *p, struct json_value **out)
{
    json_skip_ws(p);
    if (p->pos >= p->n)
        return json_fail(p, "unexpected end of input (expected a value)");
    struct json_value *v = calloc(1, sizeof *v);
    if (!v)
        return status_error(STATUS_NOMEM, "%s: out of memory parsing JSON", p->origin);
    int rc;
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        rc = json_parse_container(p, v, c == '{');
        break;
    case '"':
        v->type = JSON_STRING;
        rc = json_parse_string(p, &v->str, &v->str_len);
        break;
    case 't':
    case 'f':
        v->type = JSON_BOOL;
        v->boolean = c == 't';
        rc = json_parse_literal(p, c == 't' ? "true" : "false");
        break;
    case 'n':
        v->type = JSON_NULL;
        rc = json_parse_literal(p, "null");
        break;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            rc = json_parse_number(p, v);
        else
            rc = json_fail(p, "expected a value");
        break;
    }
    if (rc) {
        json_free(v);
        return rc;
    }
    *out = v;
    return STATUS_OK;
}

int json_parse(const char *text, size_t len, const char *origin, struct json_value **out)
{
    struct json_parser p = {text, len, 0, origin ? origin : "<json>", 0};
    struct json_value *v = NULL;
    *out = NULL;
    int rc = json_parse_value(&p, &v);
    if (rc)
        return rc;
    json_skip_ws(&p);
    if (p.pos != p.n) {
        json_free(v);
        return json_fail(&p, "trailing characters after the value");
    }
    *out = v;
    return STATUS_OK;
}

const struct json_value *json_object_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    size_t len = strlen(key);
    for (const struct json_value *m = obj->child; m; m = m->next)
        if (m->key_len == len && memcmp(m->key, key, len) == 0)
            return m;
    return NULL;
}

const struct json_value *json_first(const struct json_value *v)
{
    if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT))
        return NULL;
    return v->child;
}

char *json_quote(const char *s, size_t n)
{
    /* Worst case every byte becomes \u00XX (6 bytes), plus quotes and NUL. */
    if (n > (SIZE_MAX - 3) / 6)
        return NULL;
    char *out = malloc(n * 6 + 3);
    if (!out)
        return NULL;
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            out[k++] = '\\';
            out[k++] = 'u';
            out[k++] = '0';
            out[k++] = '0';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        } else {
            out[k++] = (char)c;
        }
    }
    out[k++] = '"';
    out[k] = '\0';
    return out;
}
