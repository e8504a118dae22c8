#!/usr/bin/python3
"""Builds the converter's test fixture in DIR: a small WaveGlow with weight norm (tools/wg_torch.py,
random weights, non-zero `end` layers so every coupling acts), saved three ways --
    pickled.pt     {'model': <glow.WaveGlow object>, 'iteration': ...}, as NVIDIA publishes them
    statedict.pt   {'state_dict': {'module.' + name: tensor}}, weight_g / weight_v, DataParallel names
    folded.pt      a bare state dict after weight norm is removed
-- with its config.json, a mel and audio, and float64 PyTorch results: z and the log-det terms of
the forward pass, and the inverse of a given latent (z_in.npy -> audio_inv.npy).

    /usr/bin/python3 tools/make_convert_fixture.py DIR
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wg_torch  # noqa: E402


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    cfg = {"train_config": {"sigma": 0.8},
           "data_config": {"segment_length": 4000, "sampling_rate": 16000, "filter_length": 800, "hop_length": 200,
                           "win_length": 800, "mel_fmin": 0.0, "mel_fmax": 8000.0},
           "waveglow_config": {"n_mel_channels": 12, "n_flows": 5, "n_group": 8, "n_early_every": 2,
                               "n_early_size": 2, "WN_config": {"n_layers": 3, "n_channels": 10, "kernel_size": 3}}}
    w = cfg["waveglow_config"]
    model = wg_torch.WaveGlow(w["n_mel_channels"], w["n_flows"], w["n_group"], w["n_early_every"], w["n_early_size"],
                              w["WN_config"], hop_length=cfg["data_config"]["hop_length"])
    with torch.no_grad():
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.05)
            wn.end.bias.normal_(0, 0.05)
        model.upsample.weight.mul_(0.3)
    # NVIDIA's pickles refer to glow.WaveGlow, glow.WN, glow.Invertible1x1Conv
    sys.modules["glow"] = wg_torch
    for cls in (wg_torch.WaveGlow, wg_torch.WN, wg_torch.Invertible1x1Conv):
        cls.__module__ = "glow"
    torch.save({"model": model, "iteration": 1234, "optimizer": None, "learning_rate": 1e-4},
               os.path.join(out, "pickled.pt"))
    torch.save({"state_dict": {"module." + k: v for k, v in model.state_dict().items()}},
               os.path.join(out, "statedict.pt"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    m = model.double()
    frames, hop = 13, cfg["data_config"]["hop_length"]
    mel = torch.randn(1, w["n_mel_channels"], frames, dtype=torch.float64) - 4.0
    audio = 0.3 * torch.randn(1, frames * hop, dtype=torch.float64)
    z_in = torch.randn(1, w["n_group"], frames * hop // w["n_group"], dtype=torch.float64)
    with torch.no_grad():
        z, log_s, log_det = m((mel, audio))
        audio_inv = m.infer_from(mel, z_in, sigma=cfg["train_config"]["sigma"])
        back = m.infer_from(mel, z, sigma=1.0)
    assert torch.max(torch.abs(back - audio)) < 1e-9, "the reference itself does not invert"
    for name, t in (("mel", mel[0]), ("audio", audio[0]), ("z", z[0]), ("z_in", z_in[0]), ("audio_inv", audio_inv[0])):
        np.save(os.path.join(out, name + ".npy"), t.numpy().astype(np.float32))
    with open(os.path.join(out, "terms.json"), "w") as f:
        json.dump({"log_s_total": float(sum(s.sum() for s in log_s)),
                   "log_det_W_total": float(sum(log_det))}, f)
    # a third form: weight norm removed, bare state dict
    for wn in m.WN:
        wn.start = torch.nn.utils.remove_weight_norm(wn.start)
        wn.cond_layer = torch.nn.utils.remove_weight_norm(wn.cond_layer)
        for layer in list(wn.in_layers) + list(wn.res_skip_layers):
            torch.nn.utils.remove_weight_norm(layer)
    torch.save(m.float().state_dict(), os.path.join(out, "folded.pt"))
    print(f"fixture in {out}: z {tuple(z.shape[1:])}, audio_inv {tuple(audio_inv.shape[1:])}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_convert_fixture.py DIR")
    main(sys.argv[1])
