#!/usr/bin/python3
"""Checkpoint averaging (Polyak): the element-wise mean of several exported models of one run, as
one model. Late checkpoints of a run sit around a minimum that Adam's noise keeps them from
settling in; their mean often lies closer to it than any one of them.

Every input must be a `waveglow export` of the same config (same __metadata__["config"], tensor
names, dtypes and shapes); the mean is taken in float64 and stored as float32. The output keeps the
first input's config, takes `trained_steps` from the last input, and lists the inputs' steps in
`averaged_steps`. It is written to a temporary file beside OUT, fsynced and renamed.

    /usr/bin/python3 tools/average_models.py -o OUT.safetensors A.safetensors B.safetensors [...]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_nvidia import read_safetensors, write_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True, help="the averaged model (.safetensors)")
    ap.add_argument("models", nargs="+", help="exports of one run (waveglow export)")
    args = ap.parse_args()
    if len(args.models) < 2:
        ap.error("give at least two models to average")
    try:
        config, meta, acc = read_safetensors(args.models[0])
        acc = {k: v.astype(np.float64) for k, v in acc.items()}
        steps = [meta.get("trained_steps", "?")]
        for path in args.models[1:]:
            c, m, t = read_safetensors(path)
            if c != config:
                raise ValueError(f"{path}: its config differs from {args.models[0]}'s")
            if t.keys() != acc.keys() or any(t[k].shape != acc[k].shape for k in t):
                raise ValueError(f"{path}: its tensors (names or shapes) differ from {args.models[0]}'s")
            for k in acc:
                acc[k] += t[k]
            steps.append(m.get("trained_steps", "?"))
        write_safetensors(args.out, [(k, v / len(args.models)) for k, v in acc.items()], config,
                          {"trained_steps": steps[-1], "averaged_steps": ",".join(steps)})
    except (OSError, ValueError) as e:
        print(f"average_models: {e}", file=sys.stderr)
        return 1
    print(f"average_models: {args.out} is the mean of {len(args.models)} models (steps {', '.join(steps)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
