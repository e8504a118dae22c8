#!/usr/bin/python3
"""Makes the denoiser reference data (tests/data/denoise/): NVIDIA's STFT class (the
TacotronSTFT's, n_fft 1024, hop 256, Hann 1024) written out in float64 numpy with an explicit
np.linalg.pinv inverse basis, and its Denoiser's spectral subtraction, on a speech clip with a
bias spectrum large enough to clamp many bins.

    /usr/bin/python3 tools/make_denoise_reference.py
"""
import os
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "denoise")
N, HOP = 1024, 256


def bases():
    n = np.arange(N)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / N)
    fourier = np.fft.fft(np.eye(N))
    cutoff = N // 2 + 1
    fourier = np.vstack([np.real(fourier[:cutoff, :]), np.imag(fourier[:cutoff, :])])
    scale = N / HOP
    forward = fourier * window[None, :]
    inverse = np.linalg.pinv(scale * fourier).T * window[None, :]
    return window, forward, inverse


def transform(x, forward):
    xp = np.pad(x, N // 2, mode="reflect")
    frames = 1 + (len(xp) - N) // HOP
    idx = np.arange(N)[None, :] + HOP * np.arange(frames)[:, None]
    out = forward @ xp[idx].T  # (2·cutoff, frames)
    cutoff = N // 2 + 1
    re, im = out[:cutoff], out[cutoff:]
    return np.sqrt(re ** 2 + im ** 2), np.arctan2(im, re)


def inverse_stft(mag, phase, window, inverse):
    frames = mag.shape[1]
    rec = np.concatenate([mag * np.cos(phase), mag * np.sin(phase)], axis=0)
    y = np.zeros((frames - 1) * HOP + N)
    wss = np.zeros_like(y)
    for f in range(frames):
        y[f * HOP:f * HOP + N] += inverse.T @ rec[:, f]
        wss[f * HOP:f * HOP + N] += window ** 2
    nz = wss > np.finfo(np.float32).tiny
    y[nz] /= wss[nz]
    y *= N / HOP
    return y[N // 2:-(N // 2)]


def main():
    os.makedirs(OUT, exist_ok=True)
    with wave.open(os.path.join(ROOT, "audio", "tt-weasels.wav")) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    x = x[:HOP * 40]  # a whole number of hops, as NVIDIA's inverse returns (frames − 1)·hop samples
    window, forward, inverse = bases()
    mag, phase = transform(x, forward)
    rng = np.random.default_rng(7)
    bias = np.abs(rng.normal(size=N // 2 + 1)) * np.median(mag) * 0.5
    np.save(os.path.join(OUT, "input.npy"), x.astype(np.float32))
    np.save(os.path.join(OUT, "bias.npy"), bias.astype(np.float32))
    np.save(os.path.join(OUT, "first_magnitude.npy"), mag[:, 0].astype(np.float32))
    for strength in (0.0, 0.1, 1.0):
        m = np.maximum(mag - bias[:, None] * strength, 0.0)
        y = inverse_stft(m, phase, window, inverse)
        assert len(y) == len(x)
        clamped = np.mean(mag - bias[:, None] * strength < 0)
        print(f"strength {strength}: {100 * clamped:.1f}% of bins clamped, max |y - x| = {np.abs(y - x).max():.3e}")
        np.save(os.path.join(OUT, f"out_{strength}.npy"), y.astype(np.float32))


if __name__ == "__main__":
    main()
