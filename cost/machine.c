/* machine.c — this machine's identity for cpu-local profiles (see machine.h). Linux: reads
 * /proc/cpuinfo; elsewhere the CPU model is "unknown" and the features empty. */
#include "machine.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The flags that change which kernel runs or how fast (kern_cpu_*, OpenBLAS's kernels). */
static const char *const machine_flags[] = { "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                                             "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16" };

static int has_flag(const char *flags, const char *f)
{
    const size_t n = strlen(f);
    for (const char *p = flags; (p = strstr(p, f)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')) return 1;
    return 0;
}

void cost_machine_detect(struct cost_machine *m, int threads)
{
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int got_model = 0, got_flags = 0;
    while (f && fgets(line, sizeof line, f) && !(got_model && got_flags)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (!got_model && !strncmp(line, "model name", 10)) {
            snprintf(m->cpu, sizeof m->cpu, "%s", v);
            m->cpu[strcspn(m->cpu, "\n")] = '\0';
            got_model = 1;
        } else if (!got_flags && !strncmp(line, "flags", 5)) {
            size_t len = 0;
            for (size_t i = 0; i < sizeof machine_flags / sizeof *machine_flags; i++) {
                if (!has_flag(v, machine_flags[i])) continue;
                int w = snprintf(m->features + len, sizeof m->features - len, "%s%s", len ? " " : "", machine_flags[i]);
                if (w > 0 && (size_t)w < sizeof m->features - len) len += (size_t)w;
            }
            got_flags = 1;
        }
    }
    if (f) fclose(f);
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = n > 0 ? (int)n : 1;
    m->threads = threads;
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(m->date, sizeof m->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cost_machine_same(const struct cost_machine *a, const struct cost_machine *b, char *why, size_t cap)
{
    if (strcmp(a->cpu, b->cpu)) {
        if (why) snprintf(why, cap, "CPU '%s', this machine '%s'", a->cpu, b->cpu);
        return 0;
    }
    if (strcmp(a->features, b->features)) {
        if (why) snprintf(why, cap, "CPU features '%s', this machine '%s'", a->features, b->features);
        return 0;
    }
    if (a->cores != b->cores) {
        if (why) snprintf(why, cap, "%d cores, this machine %d", a->cores, b->cores);
        return 0;
    }
    if (why && cap) why[0] = '\0';
    return 1;
}
