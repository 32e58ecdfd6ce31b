/* test_yaml_load.c — the limits every YAML reader applies before libyaml (model/yaml_load.h):
 * depth exactly at the limit loads, one past it and 100,000 nested '[' (which took libyaml over
 * 20 s) are refused naming the limit and the line, an oversized file is refused by its size, and
 * each of the four readers (compression config, search space, device profile, model file) says so. */
#include "check.h"
#include "config.h"
#include "device.h"
#include "resnet.h"
#include "space.h"
#include "status.h"
#include "yaml_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

/* n nested flow sequences: "[[[...]]]", or unterminated when open_only. */
static char *nested(int n, int open_only)
{
    char *s = malloc((size_t)(2 * n + 2));
    for (int i = 0; i < n; i++) s[i] = '[';
    int k = n;
    if (!open_only)
        for (int i = 0; i < n; i++) s[k++] = ']';
    s[k++] = '\n';
    s[k] = 0;
    return s;
}

/* ydoc_load on text: its status, the message in msg. */
static int load(const char *text, char *msg, size_t cap)
{
    const char *path = write_file("doc.yaml", text);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f) return -1;
    struct ydoc *doc = NULL;
    status_clear();
    const int rc = ydoc_load(&f, path, "test file", &doc);
    fclose(f);
    snprintf(msg, cap, "%s", status_message());
    ydoc_free(doc);
    return rc;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_yaml_load_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char msg[1024];

    char *at = nested(YAML_MAX_DEPTH, 0), *past = nested(YAML_MAX_DEPTH + 1, 0), *deep = nested(100000, 1);
    CHECK(load(at, msg, sizeof msg) == STATUS_OK);
    CHECK(load(past, msg, sizeof msg) == STATUS_BAD_INPUT);
    CHECK(strstr(msg, ":1: test file nested deeper than 64 levels") != NULL);
    const clock_t t0 = clock();
    CHECK(load(deep, msg, sizeof msg) == STATUS_BAD_INPUT);
    printf("100,000 nested '[': refused in %.3f s of CPU: %s\n", (double)(clock() - t0) / CLOCKS_PER_SEC, msg);
    CHECK(strstr(msg, "nested deeper than 64 levels (the limit for YAML files)") != NULL);
    /* Block nesting counts as well, and the line is where the limit was passed. */
    char block[8192] = "";
    for (int i = 0; i <= YAML_MAX_DEPTH; i++) {
        char line[128];
        snprintf(line, sizeof line, "%*sk%d:\n", i, "", i);
        strcat(block, line);
    }
    strcat(block, "\n");
    CHECK(load(block, msg, sizeof msg) == STATUS_BAD_INPUT);
    CHECK(strstr(msg, ":65: test file nested deeper") != NULL);
    /* Syntax errors and second documents keep their messages. */
    CHECK(load("a: [1\n", msg, sizeof msg) == STATUS_BAD_INPUT && strstr(msg, "YAML syntax error") != NULL);
    CHECK(load("{}\n---\n{}\n", msg, sizeof msg) == STATUS_BAD_INPUT && strstr(msg, ":2: a second YAML document") != NULL);
    /* Size: one byte over the limit, in a comment (valid YAML otherwise). */
    {
        char path[128];
        snprintf(path, sizeof path, "%s/big.yaml", dir);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
            fputs("# ", f);
            for (long i = 2; i < YAML_MAX_BYTES; i++) fputc('x', f);
            fputs("\n", f);
            fclose(f);
        }
        f = fopen(path, "rb");
        status_clear();
        CHECK(f && yaml_check_limits(&f, path, "test file") == STATUS_BAD_INPUT);
        if (f) fclose(f);
        CHECK(strstr(status_message(), "test file of 16777217 bytes is over the limit of 16777216 bytes") != NULL);
        remove(path);
    }

    /* A pipe is read twice through a temporary copy: a deep one is refused, a good one loads. */
    for (int good = 0; good <= 1; good++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        const char *text = good ? "a: [1, 2]\n" : "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n";
        CHECK(write(fds[1], text, strlen(text)) == (ssize_t)strlen(text));   /* fits the pipe's buffer */
        close(fds[1]);
        FILE *f = fdopen(fds[0], "rb");
        CHECK(f != NULL);
        if (!f) continue;
        struct ydoc *doc = NULL;
        status_clear();
        const int rc = ydoc_load(&f, "pipe", "test file", &doc);
        if (good) {
            CHECK(rc == STATUS_OK);
            const struct ynode *root = rc ? NULL : ydoc_root(doc);
            CHECK(root && root->kind == YNODE_MAP);
            ydoc_free(doc);
        } else {
            CHECK(rc == STATUS_BAD_INPUT);
            CHECK(strstr(status_message(), "pipe:1: test file nested deeper than 64 levels") != NULL);
        }
        fclose(f);   /* the temporary copy (the pipe was closed when it was copied) */
    }

    /* Every reader applies them. */
    struct resnet_config cfg;
    struct resnet *net = NULL;
    CHECK(resnet_config_load("rn50-fmnist", &cfg) == STATUS_OK && resnet_alloc(&cfg, 1, &net) == STATUS_OK);
    const char *path = write_file("deep.yaml", deep);
    struct compress_plan plan;
    status_clear();
    CHECK(net && compress_config_load(path, net, &plan) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "compression config nested deeper than 64 levels") != NULL);
    struct space sp;
    status_clear();
    CHECK(space_load(path, &sp) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "search space nested deeper than 64 levels") != NULL);
    struct cost_model *m = NULL;
    status_clear();
    CHECK(cost_model_read(path, &m) == STATUS_BAD_INPUT && m == NULL);
    CHECK(strstr(status_message(), "device profile nested deeper than 64 levels") != NULL);
    status_clear();
    CHECK(resnet_config_load(path, &cfg) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), "model file nested deeper than 64 levels") != NULL);
    resnet_free(net);

    free(at);
    free(past);
    free(deep);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
