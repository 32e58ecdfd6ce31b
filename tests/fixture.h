/* fixture.h — the small ResNet-50 the tests share: tests/data/rn50w8-small.{yaml,safetensors}
 * (Bottleneck [3,4,6,3] at 1/8 width, 1x28x28 input, torchvision names, fixed random weights). */
#ifndef RN_TEST_FIXTURE_H
#define RN_TEST_FIXTURE_H

#include "data.h"
#include "resnet.h"
#include "rng.h"
#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fixture network, or NULL (the reason printed); seed only initialises what the file does
 * not set. */
static inline struct resnet *fixture_net_seeded(uint64_t seed)
{
    char yaml[1024], weights[1024];
    snprintf(yaml, sizeof yaml, "%s/tests/data/rn50w8-small.yaml", RN_SOURCE_DIR);
    snprintf(weights, sizeof weights, "%s/tests/data/rn50w8-small.safetensors", RN_SOURCE_DIR);
    struct resnet_config cfg;
    struct resnet *net = NULL;
    if (resnet_config_load(yaml, &cfg) || resnet_alloc(&cfg, seed, &net) || resnet_load_weights(net, weights)) {
        fprintf(stderr, "fixture: %s\n", status_message());
        resnet_free(net);
        return NULL;
    }
    return net;
}

/* n calibration images for it, "random": 1x28x28 standard normal values, then labels uniform in
 * 0..9, both from r. */
static inline void fixture_random_images(struct dataset *d, int64_t n, struct rng *r)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->C = 1;
    d->H = d->W = 28;
    d->n_classes = 10;
    d->images = malloc(sizeof(float) * (size_t)(n * 784));
    d->labels = malloc(sizeof(int64_t) * (size_t)n);
    snprintf(d->name, sizeof d->name, "random");
    for (int64_t i = 0; d->images && i < n * 784; i++) d->images[i] = (float)rng_normal(r);
    for (int64_t i = 0; d->labels && i < n; i++) d->labels[i] = (int64_t)rng_below(r, 10);
}

#endif
