/* eval_metrics.h — what one evaluation of a compressed model measures, as one record: the
 * evaluator returns it (struct eval_result), the store keeps it (struct db_eval), and the search
 * copies it from one to the other whole. A new metric is a field here, a column in db.c and what
 * computes it. */
#ifndef RN_EVAL_METRICS_H
#define RN_EVAL_METRICS_H

#include <stdint.h>

/* The fields, written once: the record below, and the same names in place in the structs that
 * embed it (an anonymous member beside a named one, so c->correct and c->m both work). */
#define EVAL_METRICS_FIELDS                                                                       \
    int64_t correct;              /* top-1 hits */                                                 \
    int64_t lost, gained;         /* val: images the uncompressed (fp16) model classifies right    \
                                   * and this one wrong, and the reverse (paired); 0 on test */    \
    double loss;                  /* summed cross-entropy (nats) */                                \
    double bytes;                 /* deployment size, compress/size.h, from the compressed weights */ \
    double latency_ms;            /* predicted by the cost model; NaN without a device */          \
    double compress_seconds;      /* time to compress (or to fine-tune) */                         \
    double eval_seconds;          /* time to classify the images */

struct eval_metrics {
    EVAL_METRICS_FIELDS
};

/* Inside a struct: the metrics by name (s.correct) and as one record (s.m). */
#define EVAL_METRICS_MEMBER                                                                       \
    union {                                                                                       \
        struct eval_metrics m;                                                                    \
        struct {                                                                                  \
            EVAL_METRICS_FIELDS                                                                   \
        };                                                                                        \
    }

#endif
