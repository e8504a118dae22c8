#!/usr/bin/python3
"""Converts a PyTorch WaveGlow checkpoint into a waveglow.c model file (safetensors).

Accepts what NVIDIA published and what their train.py writes: a pickled WaveGlow object under
'model' (with or without weight norm), or a state dict (bare, or under 'state_dict' / 'model',
with DataParallel's 'module.' prefix or not). Weight norm (weight_g / weight_v) is folded into
plain weights. The config is NVIDIA's config.json (waveglow_config, data_config, train_config's
sigma); it is embedded in the output's __metadata__["config"].

    /usr/bin/python3 tools/convert_nvidia.py waveglow_256channels.pt --config config.json -o model.safetensors

Needs Debian's python3-torch. Unpickling a checkpoint runs code from it: convert only files
you trust.
"""
import argparse
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

NVIDIA_DEFAULTS = {
    "data_config": {"segment_length": 16000, "sampling_rate": 22050, "filter_length": 1024, "hop_length": 256,
                    "win_length": 1024, "mel_fmin": 0.0, "mel_fmax": 8000.0},
    "waveglow_config": {"n_mel_channels": 80, "n_flows": 12, "n_group": 8, "n_early_every": 4, "n_early_size": 2,
                        "WN_config": {"n_layers": 8, "n_channels": 256, "kernel_size": 3}},
}


def fail(msg):
    print(f"convert_nvidia: {msg}", file=sys.stderr)
    sys.exit(2)


def load_config(path, sigma):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    out = {"data_config": dict(NVIDIA_DEFAULTS["data_config"]), "waveglow_config": dict(NVIDIA_DEFAULTS["waveglow_config"])}
    out["data_config"].update({k: v for k, v in cfg.get("data_config", {}).items()
                               if k in NVIDIA_DEFAULTS["data_config"]})
    wg = cfg.get("waveglow_config", {})
    out["waveglow_config"].update({k: v for k, v in wg.items() if k != "WN_config"})
    out["waveglow_config"]["WN_config"] = dict(NVIDIA_DEFAULTS["waveglow_config"]["WN_config"], **wg.get("WN_config", {}))
    if out["data_config"]["mel_fmax"] is None:
        out["data_config"]["mel_fmax"] = out["data_config"]["sampling_rate"] / 2
    out["sigma"] = sigma if sigma is not None else cfg.get("sigma", cfg.get("train_config", {}).get("sigma", 1.0))
    return out


def expected_shapes(cfg):
    """name -> shape, in the layout of src/params.c (NVIDIA's state dict after remove_weightnorm)."""
    w, d = cfg["waveglow_config"], cfg["data_config"]
    M, G, C = w["n_mel_channels"], w["n_group"], w["WN_config"]["n_channels"]
    L, K = w["WN_config"]["n_layers"], w["WN_config"]["kernel_size"]
    shapes = {"upsample.weight": (M, M, 4 * d["hop_length"]), "upsample.bias": (M,)}
    rem = G
    for k in range(w["n_flows"]):
        if k > 0 and k % w["n_early_every"] == 0:
            rem -= w["n_early_size"]
        half = rem // 2
        shapes[f"convinv.{k}.conv.weight"] = (rem, rem, 1)
        shapes[f"WN.{k}.start.weight"] = (C, half, 1)
        shapes[f"WN.{k}.start.bias"] = (C,)
        for j in range(L):
            shapes[f"WN.{k}.in_layers.{j}.weight"] = (2 * C, C, K)
            shapes[f"WN.{k}.in_layers.{j}.bias"] = (2 * C,)
            out = 2 * C if j < L - 1 else C
            shapes[f"WN.{k}.res_skip_layers.{j}.weight"] = (out, C, 1)
            shapes[f"WN.{k}.res_skip_layers.{j}.bias"] = (out,)
        shapes[f"WN.{k}.cond_layer.weight"] = (2 * C * L, M * G, 1)
        shapes[f"WN.{k}.cond_layer.bias"] = (2 * C * L,)
        shapes[f"WN.{k}.end.weight"] = (2 * half, C, 1)
        shapes[f"WN.{k}.end.bias"] = (2 * half,)
    return shapes


def read_state_dict(path):
    import torch
    import wg_torch
    sys.modules.setdefault("glow", wg_torch)  # NVIDIA's pickles name their classes glow.WaveGlow etc.
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds for a bad file
        fail(f"{path}: cannot load the checkpoint: {e}")
    if isinstance(ckpt, torch.nn.Module):
        return ckpt.state_dict()
    if not isinstance(ckpt, dict):
        fail(f"{path}: expected a model or a dict, found {type(ckpt).__name__}")
    for key in ("model", "state_dict"):
        if key in ckpt:
            inner = ckpt[key]
            return inner.state_dict() if isinstance(inner, torch.nn.Module) else inner
    return ckpt


def fold(state):
    """Plain float64 arrays, weight norm folded: w = g · v / ||v|| (norm over all but dim 0)."""
    import torch
    out = {}
    for name, t in state.items():
        name = name[len("module."):] if name.startswith("module.") else name
        if not torch.is_tensor(t):
            continue
        if name.endswith(".weight_g"):
            base = name[:-len("_g")]
            v = state.get(("module." if f"module.{base}_v" in state else "") + base + "_v")
            if v is None:
                fail(f"{name} has no matching weight_v")
            v = v.double()
            norm = v.reshape(v.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
            out[base] = t.double() * v / norm
        elif name.endswith(".weight_v"):
            continue
        else:
            out[name] = t.double()
    return out


def read_safetensors(path):
    """A model file's (config dict, __metadata__ dict, {name: float32 array}); ValueError where the file
    is not a model file this project reads (short, truncated, no config, not float32, NaN or Inf)."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little") if len(raw) >= 8 else -1
    if n < 0 or n > len(raw) - 8:
        raise ValueError(f"{path}: not a safetensors file (too short, or its header runs past the end)")
    try:
        header = json.loads(raw[8:8 + n])
        meta = header.pop("__metadata__")
        config = json.loads(meta["config"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path}: no JSON header with __metadata__[\"config\"]: not a model file")
    body, tensors = memoryview(raw)[8 + n:], {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        if t["dtype"] != "F32" or not 0 <= a <= b <= len(body) or b - a != 4 * int(np.prod(t["shape"])):
            raise ValueError(f"{path}: {name} is not float32 data inside the file (truncated?)")
        x = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"])
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{path}: {name} holds NaN or Inf")
        tensors[name] = x
    return config, meta, tensors


def write_safetensors(path, tensors, config, metadata=None):
    """tensors: (name, array) pairs, stored as float32; metadata: more __metadata__ strings beside the config.
    Written to a temporary file beside path, fsynced, renamed."""
    header = {"__metadata__": {"config": json.dumps(config), **(metadata or {})}}
    offset, blobs = 0, []
    for name, arr in tensors:
        data = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="PyTorch checkpoint (.pt): pickled WaveGlow or state dict")
    ap.add_argument("--config", required=True, help="NVIDIA config.json the model was trained with")
    ap.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    ap.add_argument("--sigma", type=float, help="prior sigma (default: the config's train_config.sigma or 1.0)")
    args = ap.parse_args()
    cfg = load_config(args.config, args.sigma)
    shapes = expected_shapes(cfg)
    state = fold(read_state_dict(args.checkpoint))
    unknown = sorted(set(state) - set(shapes))
    missing = sorted(set(shapes) - set(state))
    if unknown or missing:
        fail(f"{args.checkpoint} does not match {args.config}: missing {missing[:5]}, unknown {unknown[:5]}")
    tensors = []
    for name, shape in shapes.items():
        arr = state[name].numpy()
        if tuple(arr.shape) != shape:
            fail(f"{name} has shape {tuple(arr.shape)}, but the config implies {shape}")
        tensors.append((name, arr))
    write_safetensors(args.output, tensors, cfg)
    n = sum(a.size for _, a in tensors)
    print(f"{args.checkpoint} -> {args.output}: {len(tensors)} tensors, {n} parameters")


if __name__ == "__main__":
    main()
