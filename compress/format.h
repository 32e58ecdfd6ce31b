/* format.h — the compressed model file: a safetensors file holding, per layer, exactly the
 * representation that was chosen (packed indices + fp16 LUTs, packed masks + fp16 nonzeros,
 * int8 + fp16 scales, or fp16 weights) and the fp16 biases of the BatchNorm-folded network, with
 * metadata naming the architecture and each layer's scheme. `eval`, `infer` and `bench` load it
 * directly (format_is_compressed tells such a file from plain torchvision weights). */
#ifndef RN_FORMAT_H
#define RN_FORMAT_H

#include "compress.h"
#include "quantize.h"
#include "resnet.h"

#include <stdint.h>

#define FORMAT_NAME "rn50-tune compressed v1"

/* Packs n values of `bits` bits (1..8) LSB-first into ceil(n*bits/8) bytes, and back. */
void format_pack_bits(const uint8_t *v, int64_t n, int bits, uint8_t *out);
void format_unpack_bits(const uint8_t *in, int64_t n, int bits, uint8_t *v);

/* Writes net's architecture, the fp16 biases of every layer (folded convs, fc) and cw[i] for
 * each of plan->n_layers layers (cw[i].dense is not stored: it is decoded on load). Atomic:
 * nothing is left at `path` on failure. `config_text` (may be NULL) is kept as metadata. */
int format_save(const char *path, const struct resnet *net, const struct compress_plan *plan,
                const struct compressed_weight *cw, const struct act_quant *aq, const char *config_text);

/* 1 if `path` is a safetensors file written by format_save, 0 otherwise (or unreadable). */
int format_is_compressed(const char *path);

/* Builds the network described in the file and installs the decoded weights (a ready-to-run
 * network: conv wf/bf and fc hold the decoded values; do not call resnet_fold on it), and puts
 * its layers on their compressed kernels as compress_apply does (kern_attach). cw_out (may
 * be NULL) receives the per-layer compressed forms, [net->n_conv + 1], to free with
 * compressed_weight_free each and free(). */
int format_load(const char *path, struct resnet **net_out, struct compressed_weight **cw_out);
/* With 8-bit activations saved (aq non-NULL at save), format_load also sets net->act_hook to a
 * quantizer it owns; free it with format_free_activations(net) before resnet_free. */
void format_free_activations(struct resnet *net);

/* Writes the network's decoded weights as a plain fp32 torchvision state_dict for PyTorch users:
 * each conv weight is its decoded folded weight and its BatchNorm the identity around the folded
 * bias (running mean 0, running var 1 - eps, weight 1, bias b). Atomic. */
int format_save_dequantized(const struct resnet *net, const char *path);

#endif
