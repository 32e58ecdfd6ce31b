/* check.h — the tiny test harness: one line per failure, and the exit code
 * counts them (never print a failure and return 0). A test that cannot run
 * for a missing optional fixture returns CHECK_SKIP (77), which CTest reports
 * as skipped. */
#ifndef RN_CHECK_H
#define RN_CHECK_H

#include <math.h>
#include <stdio.h>

#define CHECK_SKIP 77

static int check_failures;
static int check_count;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_count++;                                                         \
        if (!(cond)) {                                                         \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
        }                                                                      \
    } while (0)

/* |a - b| <= tol */
#define CHECK_ABS(a, b, tol)                                                   \
    do {                                                                       \
        double check_a_ = (a), check_b_ = (b);                                 \
        check_count++;                                                         \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                           \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_ABS(%s, %s): %.9g vs %.9g, tol %g\n",  \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_, (double)(tol)); \
        }                                                                      \
    } while (0)

/* |a - b| <= tol * max(|a|, |b|, tiny) */
#define CHECK_REL(a, b, tol)                                                   \
    do {                                                                       \
        double check_a_ = (a), check_b_ = (b);                                 \
        double check_m_ = fmax(fmax(fabs(check_a_), fabs(check_b_)), 1e-30);   \
        check_count++;                                                         \
        if (!(fabs(check_a_ - check_b_) <= (tol) * check_m_)) {                \
            check_failures++;                                                  \
            fprintf(stderr, "%s:%d: CHECK_REL(%s, %s): %.9g vs %.9g, rel tol %g\n", \
                    __FILE__, __LINE__, #a, #b, check_a_, check_b_, (double)(tol)); \
        }                                                                      \
    } while (0)

static inline int check_summary(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
