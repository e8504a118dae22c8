#!/usr/bin/python3
"""Objective quality of a vocoder model on held-out speech: copy-synthesis with `waveglow vocode`
against the original, next to a Griffin-Lim baseline from the same mel (torchaudio's GriffinLim,
60 iterations, over the pseudo-inverse of the mel filterbank).

Metrics, per file then averaged over files:
  LSD  log-spectral distance in dB on STFT magnitudes (n_fft = filter_length, hop, Hann):
       mean over frames of sqrt(mean over bins of (20·log10 |X| − 20·log10 |Y|)²), magnitudes
       floored at 1e-5
  MCD  mel-cepstral distortion in dB from the log-mel (natural log, the model's front end):
       c = DCT-II (orthonormal) of the log-mel, c0 excluded, 10/ln10 · sqrt(2 Σ_k (c_k − ĉ_k)²),
       mean over frames

The held-out files are the trainer's: FNV-1a of the file name < validation_fraction · 1e6.
`--split train` measures training files instead (to choose a sampling temperature without
looking at the held-out ones). The sigma defaults to the model file's synthesis_sigma (what
`waveglow vocode` uses), else 0.6.

The WaveGlow side depends on the latent drawn (`vocode --seed`). `--seeds K` vocodes every file
with seeds 0..K-1: a file's distances are then its mean over the seeds, and the summary adds each
seed's mean over the files, so that two models can be compared seed by seed (the same seed draws
the same latent for the same file, whatever the weights) and a gain told from the draw's spread.

    /usr/bin/python3 tools/eval_quality.py --model M --data DIR [--fraction 0.1] [--sigma S]
        [--split heldout|train] [--denoise K] [--seeds K] [--waveglow build/waveglow] [--json out.json]
        [--limit N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np
import torch
import torchaudio


def fnv1a(name):
    h = 1469598103934665603
    for c in name.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def held_out(path, fraction):
    return fnv1a(os.path.basename(path)) % 1000000 < fraction * 1e6


def read_wav(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0, w.getframerate()


def model_config(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    cfg = json.loads(header["__metadata__"]["config"])
    d, w = cfg["data_config"], cfg["waveglow_config"]
    return dict(sr=d["sampling_rate"], n_fft=d["filter_length"], hop=d["hop_length"], win=d["win_length"],
                fmin=d["mel_fmin"], fmax=d["mel_fmax"], n_mel=w["n_mel_channels"],
                sigma=float(header["__metadata__"].get("synthesis_sigma", 0.6)))


def stft_mag(x, c):
    t = torch.stft(torch.from_numpy(x), c["n_fft"], c["hop"], c["win"], torch.hann_window(c["win"], dtype=torch.float64),
                   center=True, pad_mode="reflect", return_complex=True)
    return t.abs().numpy()


def mel_basis(c):
    torch.set_default_dtype(torch.float64)
    fb = torchaudio.functional.melscale_fbanks(c["n_fft"] // 2 + 1, c["fmin"], c["fmax"], c["n_mel"], c["sr"],
                                               norm="slaney", mel_scale="slaney")
    return fb.numpy().T  # (n_mel, n_freq)


def log_mel(x, c, basis):
    return np.log(np.maximum(basis @ stft_mag(x, c), 1e-5))


def lsd(x, y, c):
    a, b = stft_mag(x, c), stft_mag(y, c)
    n = min(a.shape[1], b.shape[1])
    d = 20 * np.log10(np.maximum(a[:, :n], 1e-5)) - 20 * np.log10(np.maximum(b[:, :n], 1e-5))
    return float(np.mean(np.sqrt(np.mean(d ** 2, axis=0))))


def dct_ortho(n):
    """The orthonormal DCT-II matrix (n × n), as scipy.fft.dct(type=2, norm='ortho')."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * i + 1) / (2 * n))
    d[0] /= np.sqrt(2.0)
    return d


def mcd(x, y, c, basis):
    a, b = log_mel(x, c, basis), log_mel(y, c, basis)
    n = min(a.shape[1], b.shape[1])
    d = dct_ortho(a.shape[0])
    ca, cb = (d @ a[:, :n])[1:], (d @ b[:, :n])[1:]
    return float(np.mean(10 / np.log(10) * np.sqrt(2 * np.sum((ca - cb) ** 2, axis=0))))


def griffin_lim(x, c, basis):
    m = np.exp(log_mel(x, c, basis))
    mag = np.maximum(np.linalg.pinv(basis) @ m, 0.0)
    gl = torchaudio.transforms.GriffinLim(n_fft=c["n_fft"], n_iter=60, win_length=c["win"], hop_length=c["hop"],
                                          power=1.0).double()
    torch.manual_seed(0)
    return gl(torch.from_numpy(mag)).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="the training folder (held-out files are picked from it)")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--sigma", type=float, help="latent temperature (default: the model's synthesis_sigma, else 0.6)")
    ap.add_argument("--split", choices=["heldout", "train"], default="heldout")
    ap.add_argument("--denoise", type=float, default=0.0, help="NVIDIA's denoiser strength (0: off)")
    ap.add_argument("--waveglow", default=os.path.join(os.path.dirname(__file__), "..", "build", "waveglow"))
    ap.add_argument("--json")
    ap.add_argument("--limit", type=int, default=0, help="at most N files (0: all)")
    ap.add_argument("--seeds", type=int, default=1, help="latent seeds 0..K-1 for every file (default 1: seed 0)")
    args = ap.parse_args()
    if args.seeds < 1:
        sys.exit("eval_quality: --seeds must be at least 1")
    c = model_config(args.model)
    if args.sigma is None:
        args.sigma = c["sigma"]
    basis = mel_basis(c)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(args.data) for f in fs if f.endswith(".wav"))
    files = [f for f in files if held_out(f, args.fraction) == (args.split == "heldout")]
    if args.limit:
        files = files[:args.limit]
    if not files:
        sys.exit(f"eval_quality: no {args.split} files")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            x, sr = read_wav(f)
            if sr != c["sr"] or len(x) <= c["n_fft"]:
                continue
            out = os.path.join(tmp, "v.npy")
            seed_lsd, seed_mcd = [], []
            for seed in range(args.seeds):
                subprocess.run([args.waveglow, "vocode", "--model", args.model, f, "-o", out, "--sigma",
                                str(args.sigma), "--denoise", str(args.denoise), "--seed", str(seed), "-q"],
                               check=True)
                y = np.load(out).astype(np.float64)
                seed_lsd.append(lsd(x, y, c))
                seed_mcd.append(mcd(x, y, c, basis))
            g = griffin_lim(x, c, basis)
            rows.append(dict(file=os.path.basename(f), lsd=float(np.mean(seed_lsd)), mcd=float(np.mean(seed_mcd)),
                             gl_lsd=lsd(x, g, c), gl_mcd=mcd(x, g, c, basis)))
            if args.seeds > 1:
                rows[-1].update(seed_lsd=seed_lsd, seed_mcd=seed_mcd)
            print(f"{rows[-1]['file']:32s} LSD {rows[-1]['lsd']:6.2f} dB (GL {rows[-1]['gl_lsd']:6.2f})  "
                  f"MCD {rows[-1]['mcd']:6.2f} dB (GL {rows[-1]['gl_mcd']:6.2f})", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("lsd", "mcd", "gl_lsd", "gl_mcd")}
    print(f"{len(rows)} {'held-out' if args.split == 'heldout' else 'training'} files (sigma {args.sigma:g}): WaveGlow LSD {mean['lsd']:.2f} dB, MCD {mean['mcd']:.2f} dB; "
          f"Griffin-Lim LSD {mean['gl_lsd']:.2f} dB, MCD {mean['gl_mcd']:.2f} dB")
    result = {"files": rows, "mean": mean, "model": args.model, "sigma": args.sigma, "split": args.split,
              "seeds": args.seeds}
    if args.seeds > 1:
        result["seed_mean"] = {k: [float(np.mean([r["seed_" + k][i] for r in rows])) for i in range(args.seeds)]
                               for k in ("lsd", "mcd")}
        for k in ("lsd", "mcd"):
            v = result["seed_mean"][k]
            print(f"{k.upper()} by seed 0..{args.seeds - 1}: " + " ".join(f"{x:.3f}" for x in v) +
                  f" (spread {max(v) - min(v):.3f} dB, standard deviation {np.std(v, ddof=1):.3f})")
    if args.json:
        with open(args.json, "w") as fp:
            json.dump(result, fp, indent=1)


if __name__ == "__main__":
    main()
