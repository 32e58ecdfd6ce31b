/* model_load.c — a network from a model and its weights (see model_load.h). It does not
 * compress: a plan is applied later (apply.h); it only reads what a file already holds. */
#include "model_load.h"
#include "data.h"
#include "format.h"
#include "home.h"
#include "status.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Image folders are read for the model just loaded: its preprocessing and class count. A
 * compressed file does not store preprocessing; the --model's is used when the input agrees. */
static void model_load_data_options(const struct resnet_config *model, const struct resnet_config *loaded)
{
    struct dataset_options o = *dataset_options_get();
    const int same = model->in_channels == loaded->in_channels && model->in_h == loaded->in_h && model->in_w == loaded->in_w;
    o.transform = same ? model->pre : loaded->pre;
    o.model_classes = loaded->n_classes;
    dataset_options_set(&o);
}

int model_load(const char *model, const char *weights, int allow_random, struct resnet **out,
               const char **weights_used)
{
    static char default_path[4096];
    struct resnet_config cfg;
    *out = NULL;
    int rc = resnet_config_load(model, &cfg);
    if (rc) return rc;
    if (!weights && strcmp(cfg.name, "rn50-fmnist") == 0) {
        snprintf(default_path, sizeof default_path, "%s/configs/models/rn50-fmnist.safetensors", home_dir());
        struct stat st;
        if (stat(default_path, &st) == 0) {
            weights = default_path;
        } else if (!allow_random) {
            return status_error(STATUS_IO,
                                "%s: the default model's trained weights are missing (set RN50_TUNE_HOME to the "
                                "project directory, or pass --weights)",
                                default_path);
        }
    }
    if (weights && format_is_compressed(weights)) {
        if ((rc = format_load(weights, out, NULL))) return rc;
        model_load_data_options(&cfg, &(*out)->cfg);
        if (weights_used) *weights_used = weights;
        return STATUS_OK;
    }
    if (!weights && !allow_random)
        return status_error(STATUS_BAD_INPUT, "--weights: required for model %s (a safetensors file with torchvision names)",
                            cfg.name);
    rc = resnet_alloc(&cfg, 0x5eed, out);
    if (rc) return rc;
    if (weights) {
        rc = resnet_load_weights(*out, weights);
        if (rc) {
            resnet_free(*out);
            *out = NULL;
            return rc;
        }
    }
    model_load_data_options(&cfg, &cfg);
    if (weights_used) *weights_used = weights ? weights : "random";
    return STATUS_OK;
}

void model_unload(struct resnet *net)
{
    if (!net) return;
    format_free_activations(net);
    resnet_free(net);
}
