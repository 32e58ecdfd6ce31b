/* fuzz_json.c — json_parse (model/json.c), the one entry point that takes bytes, not a path. */
#include "fuzz_util.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_value *v = NULL;
    status_clear();
    const int rc = json_parse((const char *)data, size, "fuzz.json", &v);
    fuzz_check_status(rc, "json_parse");
    if (!rc) {
        /* Walk the top level as the readers do. */
        for (const struct json_value *m = json_first(v); m; m = m->next)
            if (m->key && json_object_get(v, m->key) == NULL && !memchr(m->key, 0, m->key_len)) abort();
    }
    json_free(v);
    return 0;
}
