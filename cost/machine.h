/* machine.h — which machine a cpu-local profile was measured on: CPU model, the instruction-set
 * features our kernels choose between, cores and threads, and the date. A profile used on another
 * machine is compared field by field (cost_model_load warns). */
#ifndef RN_COST_MACHINE_H
#define RN_COST_MACHINE_H

#include <stddef.h>

struct cost_machine {
    char cpu[128];         /* /proc/cpuinfo "model name" */
    char features[256];    /* the kernel-relevant flags present, space-separated, fixed order */
    int cores;             /* online CPUs */
    int threads;           /* threads the measurements used */
    char date[32];         /* UTC, ISO 8601 */
};

/* Fills m for this machine; threads as given, date now. */
void cost_machine_detect(struct cost_machine *m, int threads);
/* 1 when a and b are the same kind of machine (CPU model, features, cores); threads and date are
 * not compared. Writes what differs into why (may be NULL). */
int cost_machine_same(const struct cost_machine *a, const struct cost_machine *b, char *why, size_t cap);

#endif
