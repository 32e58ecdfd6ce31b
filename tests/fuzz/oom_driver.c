/* oom_driver.c — allocation-failure injection over a fuzz harness (tests/fuzz/fuzz_*.c): the
 * harness is linked with -Wl,--wrap for malloc, calloc, realloc and strdup, so every allocation
 * our code makes (the project's libraries and the harness; not those inside libc, SQLite, libyaml,
 * zlib or OpenBLAS) comes through here. For each input file the harness runs once to count its
 * allocations N, then once for every k < N with the k-th allocation failing (every stride-th k
 * when N is larger than RN_OOM_MAX_RUNS, default 100 per input, which keeps CI short). The harness itself checks the
 * contract (a known status; a failure always has a message; fuzz_compress: no half-written file);
 * a crash is a failed test; under AddressSanitizer, LeakSanitizer reports at exit any allocation
 * an error path forgot to free.
 *     oom_NAME FILE|DIR...   (ctest runs it over tests/fuzz/corpus/NAME)             */
#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#pragma weak LLVMFuzzerInitialize
int LLVMFuzzerInitialize(int *argc, char ***argv);

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

/* Counting is on only while the harness runs; the OpenMP pool may allocate from other threads. */
static atomic_int oom_armed;
static atomic_long oom_count;
static long oom_fail_at = -1;
static atomic_int oom_injected;

static int oom_fail_now(void)
{
    if (!atomic_load(&oom_armed)) return 0;
    if (atomic_fetch_add(&oom_count, 1) != oom_fail_at) return 0;
    atomic_store(&oom_injected, 1);
    return 1;
}

void *__wrap_malloc(size_t n) { return oom_fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return oom_fail_now() ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return oom_fail_now() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return oom_fail_now() ? NULL : __real_strdup(s); }

static long run_once(const uint8_t *data, size_t size, long fail_at)
{
    oom_fail_at = fail_at;
    atomic_store(&oom_count, 0);
    atomic_store(&oom_injected, 0);
    atomic_store(&oom_armed, 1);
    LLVMFuzzerTestOneInput(data, size);
    atomic_store(&oom_armed, 0);
    return atomic_load(&oom_count);
}

static long total_runs, total_inputs;

static int run_file(const char *path, long max_runs)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *p = __real_realloc(data, cap);
            if (!p) {
                fprintf(stderr, "%s: out of memory\n", path);
                fclose(f);
                free(data);
                return 1;
            }
            data = p;
        }
        const size_t got = fread(data + size, 1, cap - size, f);
        size += got;
        if (got == 0) break;
    }
    fclose(f);
    const long n = run_once(data, size, -1);
    const long stride = n > max_runs ? (n + max_runs - 1) / max_runs : 1;
    long runs = 0, missed = 0;
    for (long k = 0; k < n; k += stride) {
        run_once(data, size, k);
        runs++;
        /* A run that made fewer allocations than the counting run took another path: only
         * possible when a result depends on something outside the input (it should not). */
        missed += !atomic_load(&oom_injected);
    }
    printf("oom: %s: %ld allocations, %ld runs (k in steps of %ld), %ld without the failure reached\n", path, n, runs, stride,
           missed);
    total_runs += runs;
    total_inputs++;
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    const char *env = getenv("RN_OOM_MAX_RUNS");
    const long max_runs = env && atol(env) > 0 ? atol(env) : 100;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            bad |= run_file(argv[i], max_runs);
            continue;
        }
        struct dirent **names = NULL;
        const int n = scandir(argv[i], &names, NULL, alphasort);
        for (int j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
            if (names[j]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) bad |= run_file(path, max_runs);
            free(names[j]);
        }
        free(names);
    }
    printf("oom: %ld inputs, %ld runs with one allocation failing, no crash\n", total_inputs, total_runs);
    return bad;
}
