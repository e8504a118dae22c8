#!/usr/bin/python3
"""PyTorch side of bench/run's training measurement, in its own process so its peak RSS is its
own: a WaveGlow with weight norm (tools/wg_torch.py) for CONFIG, a full autograd step (loss,
backward, Adam) on a batch of B random segments of S samples, timed after a warm-up step.

    bench/torch_train.py CONFIG B S THREADS STEPS   → prints step_seconds=… samples_per_s=… peak_rss_mb=…
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import wg_torch  # noqa: E402


def peak_rss_mb():
    """VmHWM, this process image's own peak: ru_maxrss would carry over the peak of the process
    that forked us (Linux keeps it across execve), here bench/run with torch and its arrays."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main():
    cfg_path, B, S, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    with open(cfg_path) as f:
        cfg = json.load(f)
    w, d = cfg["waveglow_config"], cfg["data_config"]
    torch.manual_seed(0)
    model = wg_torch.WaveGlow(w["n_mel_channels"], w["n_flows"], w["n_group"], w["n_early_every"], w["n_early_size"],
                              w["WN_config"], hop_length=d["hop_length"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    mel = torch.randn(B, w["n_mel_channels"], 1 + S // d["hop_length"]) - 5
    audio = 0.1 * torch.randn(B, S)
    t0 = 0
    for s in range(steps + 1):
        if s == 1:
            t0 = time.perf_counter()
        opt.zero_grad()
        loss = wg_torch.loss(model((mel, audio)), cfg.get("sigma", 1.0))
        loss.backward()
        opt.step()
    t = (time.perf_counter() - t0) / steps
    rss = peak_rss_mb()
    print(f"step_seconds={t:.4f} samples_per_s={B * S / t:.1f} peak_rss_mb={rss:.1f}")


if __name__ == "__main__":
    main()
