#!/usr/bin/python3
"""PyTorch side of bench/run's synthesis measurement, in its own process so that the thread count
holds for every library torch uses (Debian's torch does its BLAS through OpenBLAS, whose threads
torch.set_num_threads does not govern; bench/run sets OPENBLAS_NUM_THREADS and OMP_NUM_THREADS).
Loads a waveglow.c model file into tools/wg_torch.py and times infer_from(mel, z) without
autograd for at least MIN_SECONDS after a warm-up.

    bench/torch_synth.py MODEL MEL.npy Z.npy THREADS OUT.npy MIN_SECONDS  → prints seconds=… samples_per_s=…
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import wg_torch  # noqa: E402
from convert_nvidia import read_safetensors  # noqa: E402


def load(path):
    cfg, _, tensors = read_safetensors(path)
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    w = cfg["waveglow_config"]
    m = wg_torch.WaveGlow(w["n_mel_channels"], w["n_flows"], w["n_group"], w["n_early_every"], w["n_early_size"],
                          w["WN_config"], hop_length=cfg["data_config"]["hop_length"], weight_norm=False)
    m.load_state_dict(state)
    return m.eval()


def main():
    model, mel, z, threads, out, min_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
    torch.set_num_threads(threads)
    m = load(model)
    mt, zt = torch.from_numpy(np.load(mel))[None], torch.from_numpy(np.load(z))[None]
    with torch.no_grad():
        y = m.infer_from(mt, zt, sigma=1.0)
        times, t0 = [], time.perf_counter()
        # the median repetition, as wg_bench times: for min_s, and at least 5 where that takes under 10 min_s
        while (not times or time.perf_counter() - t0 < min_s
               or (len(times) < 5 and time.perf_counter() - t0 < 10 * min_s)):
            t1 = time.perf_counter()
            m.infer_from(mt, zt, sigma=1.0)
            times.append(time.perf_counter() - t1)
    np.save(out, y[0].numpy())
    t = float(np.median(times))
    print(f"seconds={t:.6f} samples_per_s={y.shape[1] / t:.1f}")


if __name__ == "__main__":
    main()
