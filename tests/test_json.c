/* test_json.c — the strict JSON parser: values, escapes, numbers, lookup and
 * iteration order, and every rejection path (with byte positions). */
#include "check.h"
#include "json.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

static struct json_value *parse_ok(const char *s)
{
    struct json_value *v = NULL;
    int rc = json_parse(s, strlen(s), "t.json", &v);
    CHECK(rc == STATUS_OK);
    if (rc)
        fprintf(stderr, "  unexpected error: %s\n", status_message());
    return v;
}

static void parse_bad(const char *s, const char *word)
{
    struct json_value *v = (struct json_value *)1;
    status_clear();
    int rc = json_parse(s, strlen(s), "t.json", &v);
    CHECK(rc == STATUS_BAD_INPUT);
    CHECK(v == NULL);
    CHECK(strstr(status_message(), "t.json") != NULL);
    CHECK(strstr(status_message(), word) != NULL);
    if (rc != STATUS_BAD_INPUT || !strstr(status_message(), word))
        fprintf(stderr, "  input %.40s: got rc %d, message '%s', wanted '%s'\n", s, rc, status_message(), word);
}

static void test_values(void)
{
    struct json_value *v = parse_ok(" {\"b\": [1, -2.5e3, 0, 9223372036854775807, 9223372036854775808],"
                                    " \"a\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\", \"t\": true, \"f\": false,"
                                    " \"n\": null, \"o\": {}, \"e\": [], \"z\": \"a\\u0000b\"} \n");
    if (!v)
        return;
    CHECK(v->type == JSON_OBJECT && v->n_children == 8);
    /* Iteration is in document order. */
    const char *order[] = {"b", "a", "t", "f", "n", "o", "e", "z"};
    int i = 0;
    for (const struct json_value *m = json_first(v); m; m = m->next, i++)
        CHECK(i < 8 && strcmp(m->key, order[i]) == 0);
    CHECK(i == 8);

    const struct json_value *b = json_object_get(v, "b");
    CHECK(b && b->type == JSON_ARRAY && b->n_children == 5);
    const struct json_value *x = json_first(b);
    CHECK(x->is_integer && x->integer == 1);
    x = x->next;
    CHECK(!x->is_integer && x->number == -2500.0);
    x = x->next;
    CHECK(x->is_integer && x->integer == 0);
    x = x->next;
    CHECK(x->is_integer && x->integer == INT64_MAX);
    x = x->next;
    CHECK(!x->is_integer); /* beyond int64: only the double survives */
    CHECK_REL(x->number, 9223372036854775808.0, 1e-15);

    const struct json_value *a = json_object_get(v, "a");
    CHECK(a && a->type == JSON_STRING);
    CHECK(a && strcmp(a->str, "x\xc3\xa9\xf0\x9f\x98\x80\n\"\\/") == 0);
    CHECK(json_object_get(v, "t")->boolean == 1);
    CHECK(json_object_get(v, "f")->type == JSON_BOOL && json_object_get(v, "f")->boolean == 0);
    CHECK(json_object_get(v, "n")->type == JSON_NULL);
    CHECK(json_object_get(v, "o")->type == JSON_OBJECT && json_first(json_object_get(v, "o")) == NULL);
    CHECK(json_object_get(v, "e")->type == JSON_ARRAY && json_object_get(v, "e")->n_children == 0);
    const struct json_value *z = json_object_get(v, "z");
    CHECK(z->str_len == 3 && memcmp(z->str, "a\0b", 3) == 0);
    CHECK(json_object_get(v, "missing") == NULL);
    CHECK(json_object_get(b, "b") == NULL); /* not an object */
    CHECK(strcmp(json_type_name(JSON_OBJECT), "object") == 0);
    json_free(v);
    json_free(NULL);

    /* Not NUL-terminated: the parser must respect len. */
    char buf[4] = {'1', '2', '3', '4'};
    struct json_value *n = NULL;
    CHECK(json_parse(buf, 2, "t.json", &n) == STATUS_OK && n && n->integer == 12);
    json_free(n);
}

static void test_depth(void)
{
    char deep[2 * (JSON_MAX_DEPTH + 10) + 1];
    for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
        int k = 0;
        for (int i = 0; i < depth; i++)
            deep[k++] = '[';
        for (int i = 0; i < depth; i++)
            deep[k++] = ']';
        deep[k] = '\0';
        if (depth == JSON_MAX_DEPTH)
            json_free(parse_ok(deep));
        else
            parse_bad(deep, "nesting");
    }
    /* Far deeper input must fail cleanly too, not overflow the stack. */
    size_t n = 1000000;
    char *huge = malloc(n + 1);
    memset(huge, '[', n);
    huge[n] = '\0';
    parse_bad(huge, "nesting");
    free(huge);
}

static void test_errors(void)
{
    parse_bad("", "end of input");
    parse_bad("[1,]", "expected a value");
    parse_bad("{\"a\":1,}", "string key");
    parse_bad("01", "leading zero");
    parse_bad("1.", "digit");
    parse_bad("1e", "digit");
    parse_bad("-", "digit");
    parse_bad("+1", "expected a value");
    parse_bad("{\"a\" 1}", "':'");
    parse_bad("[1 2]", "','");
    parse_bad("\"abc", "unterminated");
    parse_bad("\"a\tb\"", "control");
    parse_bad("\"\\x\"", "unknown escape");
    parse_bad("\"\\u12g4\"", "hex");
    parse_bad("\"\\ud800\"", "surrogate");
    parse_bad("\"\\udc00\"", "surrogate");
    parse_bad("\"\\ud800\\u0041\"", "surrogate");
    parse_bad("\"\xc3\x28\"", "UTF-8");
    parse_bad("\"\xe0\x80\x80\"", "UTF-8");   /* overlong */
    parse_bad("\"\xed\xa0\x80\"", "UTF-8");   /* encoded surrogate */
    parse_bad("{} x", "trailing");
    parse_bad("tru", "expected a value");
    parse_bad("nul", "expected a value");
    parse_bad("{\"a\":1,\"b\":2,\"a\":3}", "duplicate");
    parse_bad("{\"k\":{\"x\":1,\"x\":1}}", "duplicate");
    /* Byte positions are reported: the bad ']' is at byte 3. */
    parse_bad("[1,]", "byte 3");
}

static void test_quote(void)
{
    const char raw[] = "a\"b\\c\n\x01\xc3\xa9";
    char *q = json_quote(raw, sizeof raw - 1);
    CHECK(q && strcmp(q, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"") == 0);
    struct json_value *v = q ? parse_ok(q) : NULL;
    CHECK(v && v->type == JSON_STRING && strcmp(v->str, raw) == 0);
    json_free(v);
    free(q);
}

int main(void)
{
    test_values();
    test_depth();
    test_errors();
    test_quote();
    return check_summary();
}
