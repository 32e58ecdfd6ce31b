#!/opt/ct/bin/python
"""Deploy an rn50-tune export to Core ML with coremltools' own code.

Run with the interpreter of a venv holding coremltools 9.0 on Debian's Python (which has
PyTorch 1.13 and torchvision; `bash scripts/setup.sh` makes /opt/ct):

    rn50-tune compress --model rn50-fmnist --config chosen/config.yaml --out c.safetensors \\
        --dequantized dq.safetensors
    /opt/ct/bin/python scripts/coreml_deploy.py --model configs/models/rn50-fmnist.yaml \\
        --weights dq.safetensors --chosen chosen --out model.mlpackage [--exact] [--json R.json]

What it does, in order:
 1. builds the torchvision ResNet of the model file and loads the weights (a torchvision
    state_dict; with --dequantized our decoded weights and an identity BatchNorm), then folds
    every BatchNorm into its conv's weight and a conv bias and drops the BatchNorm (nn.Identity):
    the deployment form, whose conv weights the conversion keeps by name;
 2. converts it: ct.convert(torch.jit.trace(model, x), inputs=[ct.TensorType(name="input",
    shape=x.shape)], minimum_deployment_target=ct.target.iOS18) (mlprogram, float16), then
    names each conv and linear op after its module (layer1_0_conv1: see convert);
 3. checks that every layer of chosen/coreml/layers.tsv is a weight of the converted model with
    the planned shape (by name; for a model converted with its BatchNorms, whose conv weights are
    unnamed after fusion, by order and shape) and refuses to go on at any mismatch: coremltools
    does not check op names, and a wrong name silently falls back to the global config;
 4. applies chosen/coreml/*.yaml in file order with OptimizationConfig.from_yaml and
    prune_weights, palettize_weights, linear_quantize_weights (joint_compression after an earlier
    family). 3_quantize_activations.yaml needs linear_quantize_activations with calibration
    samples, which runs the model through MLModel.predict (Core ML: macOS only): it is applied
    with --calibration X.npy on macOS and reported as not applied elsewhere; its keys are conv
    and linear op names, which step 2 gave the ops (module names, dots as underscores);
    with --exact the weights are kept as they are instead of recomputed: pruning stores the exact
    zeros (OpThresholdPrunerConfig), palettization takes the weights' own values
    (OpPalettizerConfig mode "unique"), int8 recomputes scales from max |w| (the same integers);
 5. saves the mlpackage and reports, per layer, what is stored (LUT bits and count, sparsity,
    int8) and, with --exact, the largest difference between the stored (decoded) weights and
    the loaded ones; --json writes all of it.
Exit status: 0 done, 2 bad input or a refused mapping, 3 I/O.
"""
import argparse
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))


def fail(code, msg):
    print(f"coreml_deploy: {msg}", file=sys.stderr)
    sys.exit(code)


def read_model_file(path):
    """Our model file (configs/models/*.yaml: flat keys) or a torchvision name."""
    tv = {"resnet18": ("basic", [2, 2, 2, 2]), "resnet34": ("basic", [3, 4, 6, 3]),
          "resnet50": ("bottleneck", [3, 4, 6, 3]), "resnet101": ("bottleneck", [3, 4, 23, 3]),
          "resnet152": ("bottleneck", [3, 8, 36, 3])}
    if path in tv:
        return {"block": tv[path][0], "layers": tv[path][1], "width": 64, "stem": "imagenet",
                "in_channels": 3, "classes": 1000, "input": [224, 224]}
    cfg = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                k, _, v = line.partition(":")
                cfg[k.strip()] = json.loads(v.strip()) if v.strip()[:1] in "[0123456789" else v.strip()
    except OSError as e:
        fail(3, f"{path}: cannot read the model file: {e.strerror}")
    for k in ("block", "layers", "width", "stem", "in_channels", "classes", "input"):
        if k not in cfg:
            fail(2, f"{path}: key '{k}' missing (expected a model file as configs/models/*.yaml)")
    return cfg


def deployment_model(cfg, weights_path):
    """The torchvision ResNet with BatchNorm folded into conv weights and biases (exact for an
    identity BatchNorm: gamma 1, mean 0, var + eps = 1)."""
    import torch
    import torch.nn as nn
    from make_parity import build_resnet, read_safetensors

    m = build_resnet(cfg["block"], cfg["layers"], cfg["width"], cfg["stem"], cfg["in_channels"], cfg["classes"])
    try:
        sd = read_safetensors(weights_path)
    except (OSError, AssertionError, ValueError, KeyError) as e:
        fail(3 if isinstance(e, OSError) else 2, f"{weights_path}: not a readable safetensors file: {e}")
    sd = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()
          if not k.endswith("num_batches_tracked")}
    missing = set(m.state_dict()) - set(sd) - {k for k in m.state_dict() if k.endswith("num_batches_tracked")}
    if missing:
        fail(2, f"{weights_path}: no tensor '{sorted(missing)[0]}' (expected a torchvision state_dict of the model)")
    m.load_state_dict(sd, strict=False)
    m.eval()
    modules = dict(m.named_modules())
    with torch.no_grad():
        for name, mod in list(m.named_modules()):
            for cname, child in list(mod.named_children()):
                if not isinstance(child, nn.Conv2d):
                    continue
                full = f"{name}.{cname}" if name else cname
                bn_name = full.replace("conv", "bn") if "conv" in cname else full[:-1] + "1"
                bn = modules[bn_name]
                # float32, as BatchNorm's eval computes it: for the identity BatchNorm of rn50-tune's
                # --dequantized (var = 1 - eps in float32) var + eps rounds to exactly 1, so the
                # folded weights are our weights bit for bit (in float64 they would move by 1e-12
                # and some would round to another fp16 value)
                inv = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
                conv = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                 child.padding, bias=True)
                conv.weight.copy_(child.weight.float() * inv.view(-1, 1, 1, 1))
                conv.bias.copy_(bn.bias.float() - bn.running_mean.float() * inv)
                setattr(mod, cname, conv)
                parent = modules[bn_name.rsplit(".", 1)[0]] if "." in bn_name else m
                setattr(parent, bn_name.rsplit(".", 1)[-1], nn.Identity())
    return m


WEIGHT_SUFFIX = "_weight_to_fp16"


def convert(model, cfg):
    """The deployment model converted; each conv and linear op then takes the name of its module
    (dots as underscores: layer1_0_conv1), the op_name_configs keys of 3_quantize_activations.yaml.
    coremltools looks activation configs up by the consuming op's name, and its conversion names
    ops after torch's trace values (input_5_cast_fp16, out_1_cast_fp16, ...), which depend on the
    forward code and the torch version; the weight consts keep the module names, so the ops are
    renamed from them. The program is re-serialised with no passes (the names alone change)."""
    import coremltools as ct
    import torch

    h, w = cfg["input"]
    x = torch.rand(1, cfg["in_channels"], h, w)
    traced = torch.jit.trace(model, x)
    ml = ct.convert(traced, inputs=[ct.TensorType(name="input", shape=x.shape)],
                    minimum_deployment_target=ct.target.iOS18)
    prog = ml._mil_program
    renamed = 0
    for op in prog.functions["main"].operations:
        if op.op_type in ("conv", "linear"):
            c = op.inputs["weight"].op
            if c is not None and c.op_type == "const" and c.name.endswith(WEIGHT_SUFFIX):
                op.name = c.name[: -len(WEIGHT_SUFFIX)]
                renamed += 1
    if not renamed:
        return ml
    return ct.convert(prog, minimum_deployment_target=ct.target.iOS18, pass_pipeline=ct.PassPipeline.EMPTY)


def op_map(mlmodel, mapping):
    """planned op name (a layers.tsv const without its suffix) -> the name of the conv or linear
    op of the model that consumes that layer's weight (mapping: planned const -> model const)."""
    by_weight = {}
    for op in mlmodel._mil_program.functions["main"].operations:
        if op.op_type in ("conv", "linear") and op.inputs["weight"].op is not None:
            by_weight[op.inputs["weight"].op.name] = op.name
    return {c[: -len(WEIGHT_SUFFIX)]: by_weight[m] for c, m in mapping.items() if m in by_weight}


def read_layers(chosen):
    path = os.path.join(chosen, "coreml", "layers.tsv")
    rows = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if line.startswith("#") or not line.strip():
                    continue
                p = line.rstrip("\n").split("\t")
                if len(p) != 4:
                    fail(2, f"{path}:{n}: expected 4 tab-separated fields (const, module, OC, K)")
                rows.append((p[0], p[1], int(p[2]), int(p[3])))
    except OSError as e:
        fail(3, f"{path}: cannot read: {e.strerror}")
    return rows


def weight_consts(mlmodel):
    """name -> ndarray of the conv and linear weight consts, in program order."""
    prog = mlmodel._mil_program
    out = {}
    for op in prog.functions["main"].operations:
        if op.op_type in ("conv", "linear"):
            v = op.inputs["weight"]
            if v.op is not None and v.op.op_type == "const":
                out[v.op.name] = v.val
    return out


def name_map(mlmodel, rows):
    """planned const name -> the model's weight const; refuses any mismatch."""
    have = weight_consts(mlmodel)
    if all(r[0] in have for r in rows):
        for c, mod, oc, k in rows:
            shape = have[c].shape
            if shape[0] != oc or int(np.prod(shape[1:])) != k:
                fail(2, f"layer {mod}: weight {c} has shape {list(shape)}, the plan says [{oc}, {k}]")
        return {r[0]: r[0] for r in rows}
    names = list(have)
    if len(names) != len(rows):
        fail(2, f"the converted model has {len(names)} conv/linear weights, the plan {len(rows)} layers: "
                "not the model the plan was made for")
    out = {}
    for (c, mod, oc, k), n in zip(rows, names):
        shape = have[n].shape
        if shape[0] != oc or int(np.prod(shape[1:])) != k:
            fail(2, f"layer {mod}: the weight in its place ({n}) has shape {list(shape)}, the plan says [{oc}, {k}]")
        out[c] = n
    return out


def load_config(path, mapping):
    """The file as coremltools reads it, op names mapped to the model's (mapping: name_map's for
    the weight files, op_map's for the activation file); a key that names no layer is refused."""
    import yaml
    import coremltools.optimize.coreml as cto

    try:
        with open(path) as f:
            d = yaml.safe_load(f)
    except OSError as e:
        fail(3, f"{path}: cannot read: {e.strerror}")
    names = d.get("op_name_configs") or {}
    unknown = [k for k in names if k not in mapping]
    if unknown:
        fail(2, f"{path}: op_name_configs key '{unknown[0]}' is no layer of coreml/layers.tsv")
    if names:
        d["op_name_configs"] = {mapping[k]: v for k, v in names.items()}
    cto.OptimizationConfig.from_dict(dict(d))  # refuses what from_yaml refuses
    return d


def _nonzero_lut(nbits):
    """A palettize_weights lut_function for pruned weights: the LUT holds the distinct nonzero
    values (at most 2^nbits: what rn50-tune stored), a zero's index is irrelevant (the mask
    drops it)."""
    def lut_function(val):
        flat = val.reshape(-1)
        nz = np.unique(flat[flat != 0])
        if len(nz) > (1 << nbits):
            raise ValueError(f"{len(nz)} distinct nonzero values do not fit {nbits} bits")
        lut = np.zeros(1 << nbits, dtype=val.dtype)
        lut[: len(nz)] = nz
        idx = np.searchsorted(nz, flat).clip(0, max(len(nz) - 1, 0))
        return lut, idx.astype(np.uint8)
    return lut_function


def exact_config(d, family, joint=False):
    """The same layers, compressed keeping their values. Palettization after pruning (joint)
    clusters the dense weights, zeros included: mode unique would count the zeros as a value (17
    values of a pruned 4-bit layer take 6 bits) and k-means moves values; a custom lut_function
    gives the LUT our nonzero values."""
    import coremltools.optimize.coreml as cto

    def one(v):
        if v is None:
            return None
        thr = v.get("weight_threshold", 2048)
        if family == "prune":
            return cto.OpThresholdPrunerConfig(threshold=1e-30, minimum_sparsity_percentile=0.0,
                                               weight_threshold=thr)
        if family == "palettize":
            kw = {k: v[k] for k in ("granularity", "group_size", "channel_axis") if k in v}
            if joint:
                return cto.OpPalettizerConfig(mode="custom", lut_function=_nonzero_lut(v["nbits"]),
                                              weight_threshold=thr, **kw)
            return cto.OpPalettizerConfig(mode="unique", weight_threshold=thr, **kw)
        return cto.OpLinearQuantizerConfig(mode=v.get("mode", "linear_symmetric"), dtype="int8",
                                           granularity="per_channel", weight_threshold=thr)

    cfg = cto.OptimizationConfig(global_config=one(d.get("global_config")),
                                 op_type_configs={k: one(v) for k, v in (d.get("op_type_configs") or {}).items()},
                                 op_name_configs={k: one(v) for k, v in (d.get("op_name_configs") or {}).items()})
    return cfg


def stored_layers(mlmodel):
    """Per conv/linear weight: what the program stores (walking its constexpr decoders)."""
    from coremltools.converters.mil.mil import types

    def const(var):
        return var.val if var is not None and var.op is not None and var.op.op_type == "const" else None

    prog = mlmodel._mil_program
    out = []
    for op in prog.functions["main"].operations:
        if op.op_type not in ("conv", "linear"):
            continue
        v = op.inputs["weight"]
        info = {"op": op.name, "shape": [int(s) for s in v.shape], "bits": 16, "luts": 0, "sparsity": 0.0,
                "int8": False}
        stack, seen = [v.op], set()
        while stack:
            p = stack.pop()
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            if p.op_type == "const":
                info.setdefault("const", p.name)
                continue
            ins = p.inputs
            if p.op_type in ("constexpr_lut_to_dense", "constexpr_lut_to_sparse"):
                lut = const(ins["lut"])
                info["bits"] = int(round(np.log2(lut.shape[-2])))
                info["luts"] = int(np.prod(lut.shape[:-2]))
            mask = const(ins.get("mask")) if "mask" in ins else None
            for k in ("indices_mask", "data_mask"):
                if mask is None and k in ins:
                    mask = const(ins[k])
            if mask is not None:
                info["sparsity"] = float(1.0 - np.count_nonzero(mask) / mask.size)
            for k in ("data", "nonzero_data"):
                if p.op_type.endswith("shift_scale") and k in ins and types.builtin_to_string(ins[k].dtype) == "int8":
                    info["int8"], info["bits"] = True, 8
            for x in ins.values():
                for y in (x if isinstance(x, (list, tuple)) else [x]):
                    if getattr(y, "op", None) is not None:
                        stack.append(y.op)
        if "const" in info and info["const"].startswith("const_") is False:
            info["const"] = info["const"]
        out.append((op, info))
    return out


def decoded_weight(op):
    """The conv's weight as the program decodes it (numpy, float32)."""
    v = op.inputs["weight"]
    if v.op.op_type == "const":
        return np.asarray(v.val, dtype=np.float32)
    return np.asarray(v.op.materialized_val_inference(), dtype=np.float32) if hasattr(
        v.op, "materialized_val_inference") else np.asarray(v.op.value_inference(), dtype=np.float32)


def package_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model file (configs/models/*.yaml) or resnet18..resnet152")
    ap.add_argument("--weights", required=True, help="torchvision state_dict (safetensors), e.g. --dequantized's")
    ap.add_argument("--chosen", required=True, help="an export folder (chosen/ of a run, or rn50-tune export's)")
    ap.add_argument("--out", required=True, help="the mlpackage to write")
    ap.add_argument("--exact", action="store_true", help="keep the loaded weights' values (unique, exact zeros)")
    ap.add_argument("--calibration", help="NCHW float32 .npy for linear_quantize_activations (macOS only)")
    ap.add_argument("--json", help="write the per-layer report here")
    a = ap.parse_args()

    import coremltools.optimize.coreml as cto

    cfg = read_model_file(a.model)
    rows = read_layers(a.chosen)
    model = deployment_model(cfg, a.weights)
    loaded = {f"{r[1]}": model.get_submodule(r[1]).weight.detach().numpy().astype(np.float32) for r in rows}
    ml = convert(model, cfg)
    mapping = name_map(ml, rows)
    ops = op_map(ml, mapping)
    applied, not_applied = [], []
    done = set()
    steps = [("1_prune.yaml", "prune", cto.prune_weights), ("2_palettize.yaml", "palettize", cto.palettize_weights),
             ("3_quantize_activations.yaml", "activations", None),
             ("3_quantize_weights.yaml", "quantize", cto.linear_quantize_weights)]
    for fname, fam, fn in steps:
        path = os.path.join(a.chosen, "coreml", fname)
        if not os.path.exists(path):
            continue
        d = load_config(path, ops if fam == "activations" else mapping)
        if fam == "activations":
            if a.calibration and sys.platform == "darwin":
                x = np.load(a.calibration)
                ml = cto.linear_quantize_activations(ml, cto.OptimizationConfig.from_dict(d),
                                                     [{"input": x[i:i + 1]} for i in range(len(x))])
                applied.append(fname)
            else:
                not_applied.append(f"{fname}: linear_quantize_activations runs the model on the calibration "
                                   "samples with MLModel.predict, which needs Core ML (--calibration, macOS)")
            continue
        conf = exact_config(d, fam, joint=bool(done)) if a.exact else cto.OptimizationConfig.from_dict(d)
        ml = fn(ml, conf, joint_compression=bool(done))
        done.add(fam)
        applied.append(fname)
    try:
        ml.save(a.out)
    except OSError as e:
        fail(3, f"{a.out}: cannot save: {e.strerror}")
    inv = {v: k for k, v in mapping.items()}
    by_const = {r[0]: r for r in rows}
    layers = []
    for op, info in stored_layers(ml):
        c = inv.get(info.get("const", ""), info.get("const", ""))
        row = by_const.get(c)
        for r in rows:  # a compressed const is named after the original one
            if row is None and info.get("const", "").startswith(mapping[r[0]]):
                row = r
        info["module"] = row[1] if row else None
        if a.exact and row:
            wd = decoded_weight(op).reshape(loaded[row[1]].shape)
            ref = loaded[row[1]]
            info["max_abs_diff"] = float(np.max(np.abs(wd - ref)))
            info["max_abs_ref"] = float(np.max(np.abs(ref)))
        layers.append(info)
    rep = {"coremltools": __import__("coremltools").__version__, "package": a.out,
           "package_bytes": package_bytes(a.out),
           "weight_bin_bytes": os.path.getsize(os.path.join(a.out, "Data", "com.apple.CoreML", "weights",
                                                            "weight.bin")),
           "applied": applied, "not_applied": not_applied, "exact": a.exact, "layers": layers}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rep, f, indent=1)
    print(f"coreml_deploy: {a.out}: {rep['package_bytes']} bytes, applied {', '.join(applied) or 'nothing'}"
          + (f"; not applied: {'; '.join(not_applied)}" if not_applied else ""))


if __name__ == "__main__":
    main()
