/* provenance.c — a run's provenance in its results store (provenance.h). */
#include "provenance.h"

#include "db.h"
#include "device.h"
#include "machine.h"
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Characters a shell reads as themselves; anything else puts the argument in single quotes. */
static int shell_plain(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=,:%+@", *s)) return 0;
    return 1;
}

size_t provenance_quote(const char *a, char *q, size_t cap)
{
    size_t k = 0;
    if (cap < 8) {
        q[0] = '\0';
        return 0;
    }
    if (shell_plain(a)) {
        k = (size_t)snprintf(q, cap, "%s", a);
        return k < cap ? k : cap - 1;
    }
    q[k++] = '\'';   /* 'it'\''s' */
    for (; *a && k + 6 < cap; a++) {
        if (*a == '\'') { memcpy(q + k, "'\\''", 4); k += 4; }
        else q[k++] = *a;
    }
    q[k++] = '\'';
    q[k] = '\0';
    return k;
}

void provenance_command(int argc, char **argv, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        char q[1024];
        const size_t k = provenance_quote(argv[i], q, sizeof q);
        /* What does not fit ends as " ..." (a word of its own), never as a silently shorter command. */
        if (len + (i > 0) + k + 5 > n) {
            if (len + 5 <= n) snprintf(out + len, n - len, " ...");
            return;
        }
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", q);
    }
}

int provenance_record(struct db *db, const char *command, int threads, const char *device)
{
    struct cost_machine m;
    cost_machine_detect(&m, threads);
    char cpu[512], thr[16], dev[512], date[32];
    snprintf(cpu, sizeof cpu, "%s (%d cores; %s)", m.cpu, m.cores, m.features[0] ? m.features : "no SIMD features detected");
    snprintf(thr, sizeof thr, "%d", threads);
    if (device && strcmp(device, "none") != 0) cost_device_path(device, dev, sizeof dev);
    else snprintf(dev, sizeof dev, "none");
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = db_meta_set(db, "run.commit", rn_build_commit);
    if (!rc && command) rc = db_meta_set(db, "run.command", command);
    if (!rc) rc = db_meta_set(db, "run.cpu", cpu);
    if (!rc) rc = db_meta_set(db, "run.threads", thr);
    if (!rc) rc = db_meta_set(db, "run.device", dev);
    if (!rc) rc = db_meta_set(db, "run.started", date);
    return rc;
}

int provenance_read(struct db *db, struct provenance *p)
{
    memset(p, 0, sizeof *p);
    const struct { const char *key; char *dst; size_t n; } f[] = {
        { "run.command", p->command, sizeof p->command }, { "run.commit", p->commit, sizeof p->commit },
        { "run.cpu", p->cpu, sizeof p->cpu },             { "run.threads", p->threads, sizeof p->threads },
        { "run.device", p->device, sizeof p->device },    { "run.started", p->started, sizeof p->started },
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        int found = 0;
        const int rc = db_meta_get(db, f[i].key, f[i].dst, f[i].n, &found);
        if (rc) return rc;
        p->found |= found;
    }
    return STATUS_OK;
}
