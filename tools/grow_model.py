#!/usr/bin/python3
"""Widens a trained model's WN (n_channels C -> C') without changing the function it computes
(Net2Net's wider step, Chen et al. 2016), so that training can continue from it (`waveglow train
--init`) with more capacity instead of starting a wider model from scratch.

Every weight that reads a new channel is zero: in_layers' and res_skip_layers' new input columns
and end's. Every weight that writes one is drawn at random, with the standard deviation of the
existing weights of that tensor: start's new rows, in_layers' new tanh and sigmoid rows, the
cond_layer's new rows of each layer, res_skip_layers' new residual and skip rows. So the new
channels carry signals from the first step and their outgoing weights get gradients at once, while
the model's output stays what it was (up to float32 rounding). Biases of new channels are zero. No
row is all zero, which weight normalisation (a row's norm divides it) could not train.

    /usr/bin/python3 tools/grow_model.py MODEL.safetensors --channels C' -o OUT.safetensors [--seed S]
"""
import argparse
import copy
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_nvidia import expected_shapes, read_safetensors, write_safetensors  # noqa: E402


def widen_rows(w, blocks, C, C2, rng):
    """w's rows are `blocks` consecutive groups of C channels; each group grows to C2 rows, the new
    ones random with w's standard deviation"""
    sd = float(w.std()) or 1e-3
    parts = []
    for b in range(blocks):
        old = w[b * C:(b + 1) * C]
        parts += [old, rng.normal(0, sd, (C2 - C,) + w.shape[1:])]
    return np.concatenate(parts, axis=0)


def widen_bias(b, blocks, C, C2):
    parts = []
    for k in range(blocks):
        parts += [b[k * C:(k + 1) * C], np.zeros(C2 - C)]
    return np.concatenate(parts)


def widen_cols(w, C2):
    """new input channels (axis 1) read with zero weights"""
    pad = np.zeros((w.shape[0], C2 - w.shape[1]) + w.shape[2:])
    return np.concatenate([w, pad], axis=1)


def grow(config, tensors, C2, seed):
    w = config["waveglow_config"]
    C, L = w["WN_config"]["n_channels"], w["WN_config"]["n_layers"]
    if C2 <= C:
        raise ValueError(f"--channels {C2} does not widen the model's {C} channels")
    rng = np.random.default_rng(seed)
    out = {}
    for name, x in tensors.items():
        x = x.astype(np.float64)
        m = re.fullmatch(r"WN\.\d+\.(start|end|cond_layer|in_layers\.(\d+)|res_skip_layers\.(\d+))\.(weight|bias)", name)
        if not m:
            out[name] = x
            continue
        part, j, kind = m.group(1), m.group(2) or m.group(3), m.group(4)
        # row groups of C channels: in_layers and cond (per layer) hold a tanh and a sigmoid half,
        # res_skip a residual and a skip half but for the last layer (skip only)
        if part == "start":
            blocks = 1
        elif part == "end":
            blocks = 0
        elif part == "cond_layer":
            blocks = 2 * L
        elif part.startswith("in_layers"):
            blocks = 2
        else:
            blocks = 2 if int(j) < L - 1 else 1
        if kind == "bias":
            out[name] = widen_bias(x, blocks, C, C2) if blocks else x
            continue
        if blocks:
            x = widen_rows(x, blocks, C, C2, rng)
        if part != "start" and part != "cond_layer":
            x = widen_cols(x, C2)
        out[name] = x
    grown = copy.deepcopy(config)
    grown["waveglow_config"]["WN_config"]["n_channels"] = C2
    shapes = expected_shapes(grown)
    if shapes.keys() != out.keys() or any(tuple(out[k].shape) != tuple(s) for k, s in shapes.items()):
        raise ValueError("the model's tensors are not those of its config")
    return grown, [(k, out[k]) for k in shapes]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model file (waveglow export, or convert_nvidia.py's output)")
    ap.add_argument("--channels", type=int, required=True, help="the WN's new n_channels")
    ap.add_argument("-o", "--out", required=True, help="the widened model (.safetensors)")
    ap.add_argument("--seed", type=int, default=0, help="for the new channels' random weights")
    args = ap.parse_args()
    try:
        config, meta, tensors = read_safetensors(args.model)
        C = config["waveglow_config"]["WN_config"]["n_channels"]
        grown, out = grow(config, tensors, args.channels, args.seed)
        extra = {k: v for k, v in meta.items() if k == "trained_steps"}
        write_safetensors(args.out, out, grown, extra)
    except (OSError, ValueError, KeyError) as e:
        print(f"grow_model: {e}", file=sys.stderr)
        return 1
    print(f"grow_model: {args.out}: WN {C} -> {args.channels} channels, the same function")
    return 0


if __name__ == "__main__":
    sys.exit(main())
