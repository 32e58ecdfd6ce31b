/* test_store.c — the results store: exact round trips (escaping, NaN, large sizes), a torn last
 * line skipped on load and cut off on reopen with every earlier line intact, strict errors for
 * damage a crash cannot cause, stable keys, find, CSV content, bad directories and the lock. */
#include "check.h"
#include "status.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_root[] = "/tmp/test_store_XXXXXX";

static char *join(const char *a, const char *b)
{
    static char buf[4][512];
    static int k;
    char joined[512];
    /* Through a local copy: a may itself be one of the rotating buffers. */
    snprintf(joined, sizeof joined, "%s/%s", a, b);
    char *out = buf[k++ % 4];
    memcpy(out, joined, sizeof joined);
    return out;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *p = calloc(1, 1 << 16);
    *len = fread(p, 1, (1 << 16) - 1, fp);
    fclose(fp);
    return p;
}

static void append_raw(const char *path, const char *bytes)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes));
        close(fd);
    }
}

static struct store_point make_point(const char *config, const char *name, const char *stage, double val,
                                     double test, size_t bytes, double lat, double secs)
{
    struct store_point p;
    memset(&p, 0, sizeof p);
    store_key_of(config, p.key);
    p.config = (char *)config;
    p.name = (char *)name;
    p.stage = (char *)stage;
    p.top1_val = val;
    p.top1_test = test;
    p.bytes = bytes;
    p.latency_ms = lat;
    p.seconds = secs;
    return p;
}

/* NaN == NaN for the purpose of a round trip. */
static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int same_point(const struct store_point *a, const struct store_point *b)
{
    return strcmp(a->key, b->key) == 0 && strcmp(a->name ? a->name : "", b->name) == 0 &&
           strcmp(a->config ? a->config : "", b->config) == 0 && strcmp(a->stage ? a->stage : "", b->stage) == 0 &&
           same_double(a->top1_val, b->top1_val) && same_double(a->top1_test, b->top1_test) &&
           a->bytes == b->bytes && same_double(a->latency_ms, b->latency_ms) && same_double(a->seconds, b->seconds);
}

static void test_keys(void)
{
    /* FNV-1a 64 reference values. */
    char k[STORE_KEY_LEN + 1];
    store_key_of("", k);
    CHECK(strcmp(k, "cbf29ce484222325") == 0);
    store_key_of("a", k);
    CHECK(strcmp(k, "af63dc4c8601ec8c") == 0);
    store_key_of("foobar", k);
    CHECK(strcmp(k, "85944171f73967e8") == 0);
    char k2[STORE_KEY_LEN + 1];
    store_key_of("prune: {sparsity: 0.5}\n", k);
    store_key_of("prune: {sparsity: 0.5}\n", k2);
    CHECK(strcmp(k, k2) == 0);
    store_key_of("prune: {sparsity: 0.6}\n", k2);
    CHECK(strcmp(k, k2) != 0);
}

static struct store_point pts[4];

static void init_points(void)
{
    pts[0] = make_point("palettize: {bits: 4}\n", "pal4 \"per-tensor\"", "global", 91.23, NAN, 25600123, 3.25, 12.5);
    pts[1] = make_point("layer1.0.conv1: int8\tlayer2: sparse\\0.5\n", "mixed \xc2\xb5-layer, a\x01", NULL, 90.1,
                        89.95, (size_t)1 << 41, NAN, 0.1);
    pts[2] = make_point("", "", "nsga2", 0.0, 100.0, 0, 1e-300, 1.0 / 3.0);
    pts[3] = make_point("prune: {sparsity: 0.75}\n", "prune75", "global", 85.5, 85.0, 12000000, 2.0, 30.0);
}

static void test_round_trip(void)
{
    const char *dir = join(tmp_root, "rt/nested/run");
    struct store *s = NULL;
    CHECK(store_open(dir, 1, &s) == STATUS_OK);
    if (!s)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(store_append(s, &pts[i]) == STATUS_OK);
    store_close(s);

    struct store_point *got = NULL;
    int n = -1, skipped = -1;
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 3 && skipped == 0);
    for (int i = 0; i < n && i < 3; i++)
        CHECK(same_point(&pts[i], &got[i]));
    store_points_free(got, n);

    /* Reopening to resume appends after the existing points. */
    CHECK(store_open(dir, 0, &s) == STATUS_OK);
    if (s) {
        CHECK(store_append(s, &pts[3]) == STATUS_OK);
        store_close(s);
    }
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 4 && skipped == 0);
    if (n == 4)
        CHECK(same_point(&pts[3], &got[3]) && same_point(&pts[0], &got[0]));

    /* find: the last of duplicates wins; absent keys give -1. */
    CHECK(store_find(got, n, pts[1].key) == 1);
    CHECK(store_find(got, n, "0123456789abcdef") == -1);
    CHECK(store_find(got, 0, pts[1].key) == -1);
    store_points_free(got, n);

    /* One line per point, readable numbers. */
    size_t len;
    char *text = slurp(join(dir, STORE_POINTS_FILE), &len);
    CHECK(text != NULL);
    if (text) {
        int lines = 0;
        for (size_t i = 0; i < len; i++)
            lines += text[i] == '\n';
        CHECK(lines == 4 && text[len - 1] == '\n');
        CHECK(strstr(text, "\"top1_val\":91.23,\"top1_test\":null,\"bytes\":25600123,") != NULL);
        free(text);
    }
    store_points_free(NULL, 0);
    store_close(NULL);
}

static void test_truncated(void)
{
    const char *dir = join(tmp_root, "torn");
    const char *file = join(dir, STORE_POINTS_FILE);
    struct store *s = NULL;
    CHECK(store_open(dir, 1, &s) == STATUS_OK);
    if (!s)
        return;
    for (int i = 0; i < 3; i++)
        CHECK(store_append(s, &pts[i]) == STATUS_OK);
    store_close(s);

    /* A kill in the middle of a write: part of a fourth line, no newline. */
    append_raw(file, "{\"key\":\"0123456789abcdef\",\"name\":\"half");
    struct store_point *got = NULL;
    int n = -1, skipped = -1;
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 3 && skipped == 1);
    for (int i = 0; i < n && i < 3; i++)
        CHECK(same_point(&pts[i], &got[i]));
    store_points_free(got, n);

    /* Resuming cuts the torn tail, so the next point is a line of its own. */
    CHECK(store_open(dir, 0, &s) == STATUS_OK);
    if (s) {
        CHECK(store_append(s, &pts[3]) == STATUS_OK);
        store_close(s);
    }
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 4 && skipped == 0);
    if (n == 4)
        CHECK(same_point(&pts[3], &got[3]) && same_point(&pts[2], &got[2]));
    store_points_free(got, n);

    /* A complete record missing only its newline is still uncommitted: skipped, then cut. */
    size_t len0, len1;
    char *before = slurp(file, &len0);
    append_raw(file, "{\"key\":\"0123456789abcdef\",\"name\":\"\",\"stage\":\"\",\"top1_val\":1,"
                     "\"top1_test\":null,\"bytes\":1,\"latency_ms\":1,\"seconds\":1,\"config\":\"\"}");
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 4 && skipped == 1);
    store_points_free(got, n);
    CHECK(store_open(dir, 0, &s) == STATUS_OK);
    store_close(s);
    char *after = slurp(file, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    free(before);
    free(after);
}

static void expect_load_error(const char *name, const char *lines, const char *want_in_msg)
{
    const char *dir = join(tmp_root, name);
    CHECK(mkdir(dir, 0777) == 0);
    FILE *fp = fopen(join(dir, STORE_POINTS_FILE), "wb");
    CHECK(fp != NULL);
    if (!fp)
        return;
    fputs(lines, fp);
    fclose(fp);
    struct store_point *got = (struct store_point *)1;
    int n = -1, skipped = -1;
    status_clear();
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_BAD_INPUT);
    CHECK(got == NULL && n == 0);
    if (!strstr(status_message(), want_in_msg)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", status_message(), want_in_msg);
        CHECK(0);
    }
}

#define GOOD_LINE                                                                                         \
    "{\"key\":\"0123456789abcdef\",\"name\":\"n\",\"stage\":\"s\",\"top1_val\":1,\"top1_test\":null,\"bytes\":1," \
    "\"latency_ms\":1,\"seconds\":1,\"config\":\"c\"}\n"

static void test_load_errors(void)
{
    expect_load_error("bad_json", GOOD_LINE "{\"key\": oops}\n" GOOD_LINE, "line 2");
    expect_load_error("bad_missing", GOOD_LINE GOOD_LINE "{\"key\":\"0123456789abcdef\"}\n", "line 3: missing field 'name'");
    expect_load_error("bad_unknown",
                      "{\"key\":\"0123456789abcdef\",\"name\":\"n\",\"stage\":\"s\",\"top1_val\":1,\"top1_test\":null,"
                      "\"bytes\":1,\"latency_ms\":1,\"seconds\":1,\"config\":\"c\",\"extra\":2}\n",
                      "line 1: unknown field 'extra'");
    expect_load_error("bad_bytes",
                      "{\"key\":\"0123456789abcdef\",\"name\":\"n\",\"stage\":\"s\",\"top1_val\":1,\"top1_test\":null,"
                      "\"bytes\":-3,\"latency_ms\":1,\"seconds\":1,\"config\":\"c\"}\n",
                      "'bytes'");
    expect_load_error("bad_key",
                      "{\"key\":\"XYZ\",\"name\":\"n\",\"stage\":\"s\",\"top1_val\":1,\"top1_test\":null,"
                      "\"bytes\":1,\"latency_ms\":1,\"seconds\":1,\"config\":\"c\"}\n",
                      "'key'");
    expect_load_error("bad_blank", GOOD_LINE "\n", "line 2");

    /* An empty store loads as nothing. */
    const char *dir = join(tmp_root, "empty");
    struct store *s = NULL;
    CHECK(store_open(dir, 1, &s) == STATUS_OK);
    store_close(s);
    struct store_point *got = NULL;
    int n = -1, skipped = -1;
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(got == NULL && n == 0 && skipped == 0);
}

static void test_append_refused(void)
{
    const char *dir = join(tmp_root, "refuse");
    struct store *s = NULL;
    CHECK(store_open(dir, 1, &s) == STATUS_OK);
    if (!s)
        return;
    CHECK(store_append(s, &pts[0]) == STATUS_OK);
    /* Latin-1, not UTF-8: the line would not load, so it is not written. */
    struct store_point bad = make_point("x", "caf\xe9", "global", 1, 1, 1, 1, 1);
    CHECK(store_append(s, &bad) == STATUS_BAD_INPUT);
    CHECK(strstr(status_message(), bad.key) != NULL);
    struct store_point badkey = pts[0];
    strcpy(badkey.key, "nothex");
    CHECK(store_append(s, &badkey) == STATUS_BAD_INPUT);
    /* Refusals do not poison the store. */
    CHECK(store_append(s, &pts[1]) == STATUS_OK);
    store_close(s);
    struct store_point *got = NULL;
    int n = -1, skipped = -1;
    CHECK(store_load(dir, &got, &n, &skipped) == STATUS_OK);
    CHECK(n == 2 && skipped == 0);
    store_points_free(got, n);
}

static void test_bad_dirs(void)
{
    struct store *s = (struct store *)1;
    const char *missing = join(tmp_root, "no/such/run");
    CHECK(store_open(missing, 0, &s) == STATUS_IO);
    CHECK(s == NULL);
    CHECK(strstr(status_message(), missing) != NULL);

    /* A regular file where the directory should be, with and without create. */
    const char *file = join(tmp_root, "plainfile");
    FILE *fp = fopen(file, "wb");
    CHECK(fp != NULL);
    if (fp)
        fclose(fp);
    CHECK(store_open(file, 1, &s) == STATUS_IO);
    CHECK(strstr(status_message(), file) != NULL);
    CHECK(store_open(file, 0, &s) == STATUS_IO);
    CHECK(strstr(status_message(), file) != NULL);
    const char *under = join(tmp_root, "plainfile/run");
    CHECK(store_open(under, 1, &s) == STATUS_IO);
    CHECK(strstr(status_message(), "plainfile") != NULL);

    /* A directory without a store cannot be resumed or loaded. */
    const char *bare = join(tmp_root, "bare");
    CHECK(mkdir(bare, 0777) == 0);
    CHECK(store_open(bare, 0, &s) == STATUS_IO);
    CHECK(strstr(status_message(), STORE_POINTS_FILE) != NULL);
    struct store_point *got = NULL;
    int n = -1, skipped = -1;
    CHECK(store_load(missing, &got, &n, &skipped) == STATUS_IO);
    CHECK(strstr(status_message(), missing) != NULL);
    CHECK(store_open("", 1, &s) == STATUS_IO);
}

/* A second process cannot open a store that is open for appending. */
static void test_lock(void)
{
    const char *dir = join(tmp_root, "locked");
    struct store *s = NULL;
    CHECK(store_open(dir, 1, &s) == STATUS_OK);
    if (!s)
        return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct store *t = NULL;
        int rc = store_open(dir, 0, &t);
        int in_use = strstr(status_message(), "in use") != NULL;
        store_close(t);
        _exit(rc == STATUS_IO && in_use ? 0 : 1);
    }
    int wstatus = 0;
    CHECK(pid > 0 && waitpid(pid, &wstatus, 0) == pid);
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    store_close(s);
}

static void test_csv(void)
{
    const char *path = join(tmp_root, "points.csv");
    unsigned char front[3] = {1, 0, 1};
    CHECK(store_write_csv(pts, 3, front, path) == STATUS_OK);
    size_t len;
    char *text = slurp(path, &len);
    char line0[256], line1[256], line2[256];
    snprintf(line0, sizeof line0, "0,%s,\"pal4 \"\"per-tensor\"\"\",global,91.23,,25600123,3.25,12.5,1,\"palettize: {bits: 4}\n\"\n",
             pts[0].key);
    snprintf(line1, sizeof line1, "1,%s,\"mixed \xc2\xb5-layer, a\x01\",,90.1,89.95,2199023255552,,0.1,0,"
             "\"layer1.0.conv1: int8\tlayer2: sparse\\0.5\n\"\n", pts[1].key);
    snprintf(line2, sizeof line2, "2,%s,,nsga2,0,100,0,1e-300,0.3333333333333333,1,\n", pts[2].key);
    char want[1024];
    snprintf(want, sizeof want, "id,key,name,stage,top1_val,top1_test,bytes,latency_ms,seconds,on_front,config\n%s%s%s",
             line0, line1, line2);
    CHECK(text && strcmp(text, want) == 0);
    if (text && strcmp(text, want) != 0)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", text, want);
    free(text);
    /* The temporary is gone; rewriting replaces the file; NULL mask means nothing on the front. */
    CHECK(access(join(tmp_root, "points.csv.tmp"), F_OK) != 0);
    CHECK(store_write_csv(pts, 1, NULL, path) == STATUS_OK);
    text = slurp(path, &len);
    CHECK(text && strstr(text, ",12.5,0,") != NULL && strchr(strchr(text, '\n') + 1, '\n') != NULL);
    free(text);
    CHECK(store_write_csv(pts, 1, NULL, join(tmp_root, "no/such/dir.csv")) == STATUS_IO);
    CHECK(strstr(status_message(), "no/such/dir.csv") != NULL);
}

int main(void)
{
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    printf("test_store: working in %s\n", tmp_root);
    init_points();
    test_keys();
    test_round_trip();
    test_truncated();
    test_load_errors();
    test_append_refused();
    test_bad_dirs();
    test_lock();
    test_csv();
    int rc = check_summary();
    /* The directory is left for inspection when something failed. */
    if (rc == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp_root);
    }
    return rc;
}
