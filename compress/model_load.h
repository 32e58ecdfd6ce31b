/* model_load.h — a network ready to run, from a model name or YAML and a weights file: what the
 * program's commands and the search's evaluator both start from. It lives beside the compressed
 * format because a compressed file brings its own architecture and decoded weights. */
#ifndef RN_MODEL_LOAD_H
#define RN_MODEL_LOAD_H

#include "resnet.h"

/* Builds `model` (a name or YAML file) and loads `weights` (safetensors) into it; a compressed
 * file (rn50-tune compress) brings its own architecture and decoded weights. Without weights,
 * the embedded default model uses its committed trained weights; other models get random weights
 * (seeded) when allow_random, and an error otherwise. Sets the dataset options' transform and
 * class count for the network loaded. *weights_used (may be NULL) names what was loaded; it
 * points at `weights`, a static buffer or a literal. On success *out is the caller's, freed with
 * model_unload. Returns STATUS_OK, STATUS_BAD_INPUT (no weights where they are required, a bad
 * model), STATUS_IO (a missing or unreadable file) or what the readers return. */
int model_load(const char *model, const char *weights, int allow_random, struct resnet **out,
               const char **weights_used);

/* Frees a network from model_load (with the activation quantizer a compressed file brought);
 * model_unload(NULL) is a no-op. */
void model_unload(struct resnet *net);

#endif
