/* cost.h — latency of a (compressed) network on a device, from a per-layer additive cost model
 * fitted to measurements (SPEC §6). A device profile is configs/devices/NAME.yaml: how latency is
 * obtained, the fitted coefficients per kernel kind, the data the fit used and its leave-one-out
 * error. `cpu-local` is this machine running our own kernels; other devices are imported from
 * end-to-end measurement tables.
 *
 * This is the interface the search uses; the fit, the profiler and the file format live beside it. */
#ifndef RN_COST_H
#define RN_COST_H

#include "compress.h"
#include "resnet.h"

struct cost_model;

/* Loads a device profile: a bare name is looked up as configs/devices/NAME.yaml (in the source
 * tree), anything with a '/' or ending in .yaml is a path. Errors name the file, line and key.
 * A cpu-local profile measured on another machine loads, but prints a warning that names the
 * one command that re-profiles this machine. */
int cost_model_load(const char *device, struct cost_model **out);
void cost_model_free(struct cost_model *m);

/* Predicted end-to-end latency in milliseconds of one batch-1 forward pass of `net` (its
 * architecture at its configured input size) compressed as `plan` (NULL: the dense fp32/fp16
 * baseline). Does not run the network. */
int cost_predict(const struct cost_model *m, const struct resnet *net, const struct compress_plan *plan,
                 double *latency_ms);

/* The same prediction split by layer: layer_ms[i] for plan's layer i (its kind's and the `any`
 * terms), and *net_ms for the once-per-network terms (the work outside the convolutions, the
 * activation quantization an int8 engine adds at every site); they add up to cost_predict's
 * figure. plan must not be NULL. */
int cost_predict_layers(const struct cost_model *m, const struct resnet *net, const struct compress_plan *plan,
                        double *layer_ms, double *net_ms);

#endif
