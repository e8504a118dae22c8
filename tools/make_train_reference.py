#!/usr/bin/python3
"""Makes tests/data/train/tiny_step.safetensors: one training step of the tiny reference config
(tests/data/reference/tiny.config.json) in PyTorch autograd, float64 -- a WaveGlow with weight norm
as NVIDIA trains it (tools/wg_torch.py), random non-zero `end` layers, a batch of two segments --
holding the parameters before ("p.NAME", NVIDIA's state-dict names: weight_g / weight_v for the
weight-normed convs; rounded to float32 first, so the C side starts from the same values), the
inputs ("mel", "audio"), the loss (NVIDIA's WaveGlowLoss, sigma from the config), every gradient
("g.NAME"), and the update of one torch.optim.Adam step ("d.NAME" = after - before; lr 1e-3,
betas (0.9, 0.999), eps 1e-8). Tensors are stored as F32 except the loss (F64).

    /usr/bin/python3 tools/make_train_reference.py
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import wg_torch  # noqa: E402


def write(path, tensors, meta):
    header = {"__metadata__": meta}
    off, blobs = 0, []
    for name, arr in tensors.items():
        dtype, code = ("<f8", "F64") if name == "loss" else ("<f4", "F32")
        b = np.ascontiguousarray(arr, dtype=dtype).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    torch.manual_seed(3)
    with open(os.path.join(ROOT, "tests", "data", "reference", "tiny.config.json")) as f:
        cfg = json.load(f)
    w = cfg["waveglow_config"]
    sigma = cfg["train_config"]["sigma"]
    model = wg_torch.WaveGlow(w["n_mel_channels"], w["n_flows"], w["n_group"], w["n_early_every"],
                              w["n_early_size"], w["WN_config"]).double()
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.05)
            wn.end.bias.normal_(0, 0.05)
        model.upsample.weight.mul_(0.3)
        for p in model.parameters():
            p.copy_(p.float().double())
    B, frames, hop = 2, 8, cfg["data_config"]["hop_length"]
    T = frames * hop
    mel = (torch.randn(B, w["n_mel_channels"], frames + 1, dtype=torch.float64) * 1.5 - 5.0).float().double()
    audio = (0.2 * torch.randn(B, T, dtype=torch.float64)).float().double()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    loss = wg_torch.loss(model((mel, audio)), sigma)
    loss.backward()
    out = {"mel": mel.numpy(), "audio": audio.numpy(), "loss": np.array([loss.item()])}
    for k, v in model.named_parameters():
        out["p." + k] = before[k].numpy()
        out["g." + k] = v.grad.numpy()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    opt.step()
    for k, v in model.named_parameters():
        out["d." + k] = (v.detach() - before[k]).numpy()
    dest = os.path.join(ROOT, "tests", "data", "train")
    os.makedirs(dest, exist_ok=True)
    write(os.path.join(dest, "tiny_step.safetensors"), out, {"config": json.dumps(cfg)})
    n = sum(v.numel() for v in model.parameters())
    print(f"loss {loss.item():.9f}; {n} parameters in {len(before)} tensors")


if __name__ == "__main__":
    main()
