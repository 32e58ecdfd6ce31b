/* clock.h — the one wall clock for timing: monotonic seconds (CLOCK_MONOTONIC), for elapsed-time
 * differences only (its zero is arbitrary). The per-layer profile of resnet_infer keeps
 * omp_get_wtime, the clock of the OpenMP runtime its kernels run in. */
#ifndef RN_CLOCK_H
#define RN_CLOCK_H

double clock_now_s(void);

#endif
