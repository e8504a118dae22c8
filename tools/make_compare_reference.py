#!/usr/bin/python3
"""Makes tests/data/compare/: signal pairs with known differences and their metrics computed
in float64 numpy, independently of the C code (direct correlation over the lag range instead of
FFTs, dense DFTs for the STFT, an explicit DCT matrix):
    noise20    speech plus white noise at exactly 20 dB SNR
    delay      a copy delayed by 37 samples (delay search ±10 ms)
    gain       a copy at half amplitude, without and with gain matching
    shorter    500 samples shorter, with faint noise
    silence    both all zero
    lowpass    a 5-tap moving average of the speech (a real spectral difference)

    /usr/bin/python3 tools/make_compare_reference.py
"""
import json
import os
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "data", "compare")
SR, N_FFT, HOP, N_MEL = 16000, 1024, 256, 80


def read_clip():
    with wave.open(os.path.join(ROOT, "audio", "tt-weasels.wav")) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)[:24000] / 32768.0


def magnitude(x):
    n = np.arange(N_FFT)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)
    xp = np.pad(x, N_FFT // 2, mode="reflect")
    frames = 1 + (len(xp) - N_FFT) // HOP
    idx = n[None, :] + HOP * np.arange(frames)[:, None]
    return np.abs(np.fft.rfft(xp[idx] * win, axis=1)).T  # (bins, frames)


def mel_basis():
    """librosa's Slaney filterbank with Slaney normalisation, written out."""
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (np.log(6.4) / 27.0), f * 3 / 200)

    def mel_to_hz(mm):
        return np.where(mm >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mm - 15.0)), mm * 200.0 / 3)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), N_MEL + 2))
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - freqs[None, :]
    lower, upper = -ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]
    return np.maximum(0, np.minimum(lower, upper)) * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


BASIS = None


def metrics(ref, test, max_delay_ms=0.0, match_gain=False):
    global BASIS
    if BASIS is None:
        BASIS = mel_basis()
    max_lag = int(np.floor(max_delay_ms * 1e-3 * SR))
    delay = 0
    if max_lag > 0:
        best = -np.inf
        for lag in range(-max_lag, max_lag + 1):
            t0, t1 = max(0, -lag), min(len(ref), len(test) - lag)
            c = float(np.dot(ref[t0:t1], test[t0 + lag:t1 + lag])) if t1 > t0 else -np.inf
            if c > best or (c == best and abs(lag) < abs(delay)):
                best, delay = c, lag
    t0, t1 = max(0, -delay), min(len(ref), len(test) - delay)
    a, b = ref[t0:t1], test[t0 + delay:t1 + delay]
    gain = float(np.dot(a, b) / np.dot(b, b)) if match_gain and np.dot(b, b) > 0 else 1.0
    d = a - gain * b
    se = float(np.sum(d * d))
    snr = None if se == 0 else 10 * np.log10(np.sum(a * a) / se)
    ma, mb = magnitude(a), magnitude(gain * b)
    lsd = float(np.mean(np.sqrt(np.mean((20 * np.log10(np.maximum(ma, 1e-5)) -
                                         20 * np.log10(np.maximum(mb, 1e-5))) ** 2, axis=0))))
    la, lb = np.log(np.maximum(BASIS @ ma, 1e-5)), np.log(np.maximum(BASIS @ mb, 1e-5))
    k, j = np.arange(N_MEL)[:, None], np.arange(N_MEL)[None, :]
    dct = np.sqrt(2.0 / N_MEL) * np.cos(np.pi * k * (2 * j + 1) / (2 * N_MEL))
    c = (dct @ (la - lb))[1:]
    mcd = float(np.mean(10 / np.log(10) * np.sqrt(2 * np.sum(c * c, axis=0))))
    return dict(delay=delay, gain=gain, n_compared=len(a), length_diff=len(test) - len(ref),
                max_abs=float(np.max(np.abs(d))), rms=float(np.sqrt(np.mean(d * d))), snr_db=snr, lsd_db=lsd,
                mcd_db=mcd, max_delay_ms=max_delay_ms, match_gain=match_gain)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = read_clip()
    rng = np.random.default_rng(11)
    noise = rng.normal(size=len(x))
    noise *= np.sqrt(np.sum(x * x) / np.sum(noise * noise) / 10 ** (20 / 10))
    cases = {
        "noise20": (x, x + noise, {}),
        "delay": (x, np.concatenate([np.zeros(37), x[:-37]]), {"max_delay_ms": 10.0}),
        "gain": (x, 0.5 * x, {}),
        "gain_matched": (x, 0.5 * x, {"match_gain": True}),
        "shorter": (x, x[:-500] + 1e-4 * rng.normal(size=len(x) - 500), {}),
        "silence": (np.zeros(8000), np.zeros(8000), {}),
        "lowpass": (x, np.convolve(x, np.ones(5) / 5, mode="same"), {}),
    }
    expected = {}
    for name, (ref, test, opts) in cases.items():
        ref32, test32 = ref.astype(np.float32), test.astype(np.float32)
        np.save(os.path.join(OUT, name + ".ref.npy"), ref32)
        np.save(os.path.join(OUT, name + ".test.npy"), test32)
        expected[name] = metrics(ref32.astype(np.float64), test32.astype(np.float64), **opts)
        e = expected[name]
        print(f"{name:13s} delay {e['delay']:3d} gain {e['gain']:.4f} snr {e['snr_db']} lsd {e['lsd_db']:.4f} "
              f"mcd {e['mcd_db']:.4f} max_abs {e['max_abs']:.3e}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


if __name__ == "__main__":
    main()
