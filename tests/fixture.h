/* fixture.h — the small ResNet-50 the tests share: tests/data/rn50w8-small.{yaml,safetensors}
 * (Bottleneck [3,4,6,3] at 1/8 width, 1x28x28 input, torchvision names, fixed random weights). */
#ifndef RN_TEST_FIXTURE_H
#define RN_TEST_FIXTURE_H

#include "resnet.h"
#include "status.h"

#include <stdint.h>
#include <stdio.h>

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

#endif
