#!/usr/bin/python3
"""Makes the log-mel reference data the C tests check against (tests/data/mel/).

For each config: the input audio (float32 .npy), and its log-mel computed in float64 by
torchaudio's MelSpectrogram(norm='slaney', mel_scale='slaney', power=1, center=True,
pad_mode='reflect') with a periodic Hann window, log(max(x, 1e-5)), saved as float32 .npy.
A second, independent float64 numpy implementation of the TacotronSTFT formula (explicit DFT
basis, librosa's Slaney filterbank written out) must agree to 1e-6, or the script fails; for an
odd filter_length the reference is torch.stft's magnitude through that filterbank (see main).

Run once (Debian's python3-torch, python3-torchaudio); the outputs are committed:
    /usr/bin/python3 tools/make_mel_reference.py
"""
import json
import os
import wave

import numpy as np
import torch
import torchaudio

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "data", "mel")

CASES = {
    # name: (clip, first sample, length, data_config, n_mel)
    "nvidia22k": ("tt-weasels.wav", 4000, 22050,
                  dict(sampling_rate=22050, filter_length=1024, hop_length=256, win_length=1024,
                       mel_fmin=0.0, mel_fmax=8000.0), 80),
    "speech16k": ("hello-world.wav", 0, 16000,
                  dict(sampling_rate=16000, filter_length=1024, hop_length=256, win_length=1024,
                       mel_fmin=0.0, mel_fmax=8000.0), 80),
    "shortwin16k": ("vm-tomakecall.wav", 8000, 12345,
                    dict(sampling_rate=16000, filter_length=1024, hop_length=200, win_length=800,
                         mel_fmin=55.0, mel_fmax=7600.0), 80),
    "small40": ("auth-thankyou.wav", 0, 9000,
                dict(sampling_rate=22050, filter_length=512, hop_length=128, win_length=400,
                     mel_fmin=20.0, mel_fmax=None), 40),
    "tiny16": ("tt-weasels.wav", 20000, 4096,
               dict(sampling_rate=22050, filter_length=1024, hop_length=256, win_length=1024,
                    mel_fmin=0.0, mel_fmax=8000.0), 16),
    # an odd filter_length: mel.c's real transform for it is FFTW's r2c, not its even-length split
    "odd16k": ("vm-tomakecall.wav", 2000, 7000,
               dict(sampling_rate=16000, filter_length=1001, hop_length=160, win_length=900,
                    mel_fmin=30.0, mel_fmax=None), 48),
}


def read_wav(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def torchaudio_logmel(x, dc, n_mel):
    # torchaudio builds the filterbank with torch.linspace in the default dtype; without this
    # its mel edges are float32 and the reference is off by ~3e-5 in log-mel.
    torch.set_default_dtype(torch.float64)
    fmax = dc["mel_fmax"] if dc["mel_fmax"] is not None else dc["sampling_rate"] / 2
    t = torchaudio.transforms.MelSpectrogram(
        sample_rate=dc["sampling_rate"], n_fft=dc["filter_length"], win_length=dc["win_length"],
        hop_length=dc["hop_length"], f_min=dc["mel_fmin"], f_max=fmax, n_mels=n_mel,
        window_fn=torch.hann_window, power=1.0, center=True, pad_mode="reflect",
        norm="slaney", mel_scale="slaney").double()
    m = t(torch.from_numpy(x.astype(np.float64)))
    return torch.log(torch.clamp(m, min=1e-5)).numpy()


def numpy_magnitude(x, dc):
    """|STFT| written out: DFT basis times window, reflect pad. (n_fft//2 + 1, frames)"""
    n_fft, hop, wl = dc["filter_length"], dc["hop_length"], dc["win_length"]
    n = np.arange(wl)
    win = np.zeros(n_fft)
    lpad = (n_fft - wl) // 2
    win[lpad:lpad + wl] = 0.5 - 0.5 * np.cos(2 * np.pi * n / wl)
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    frames = 1 + (len(xp) - n_fft) // hop
    k = np.arange(n_fft // 2 + 1)[:, None]
    basis = np.exp(-2j * np.pi * k * np.arange(n_fft)[None, :] / n_fft) * win[None, :]
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    return np.abs(basis @ xp[idx].T)


def slaney_weights(dc, n_mel):
    """librosa's Slaney filterbank written out, its bins at their frequencies k*sr/n_fft"""
    sr, n_fft = dc["sampling_rate"], dc["filter_length"]
    fmin = dc["mel_fmin"]
    fmax = dc["mel_fmax"] if dc["mel_fmax"] is not None else sr / 2

    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / (np.log(6.4) / 27.0), lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)), m * 200.0 / 3)

    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mel + 2))
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0, np.minimum(lower, upper)) * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def numpy_logmel(x, dc, n_mel):
    """TacotronSTFT written out: numpy_magnitude, then slaney_weights, then the log"""
    return np.log(np.maximum(slaney_weights(dc, n_mel) @ numpy_magnitude(x, dc), 1e-5))


def torch_stft_logmel(x, dc, n_mel):
    """torch.stft's magnitude (float64) through slaney_weights: the reference where torchaudio's
    filterbank places the bins elsewhere (an odd n_fft, see main)"""
    n_fft, wl = dc["filter_length"], dc["win_length"]
    spec = torch.stft(torch.from_numpy(x.astype(np.float64)), n_fft, dc["hop_length"], wl,
                      window=torch.hann_window(wl, dtype=torch.float64), center=True, pad_mode="reflect",
                      return_complex=True)
    return np.log(np.maximum(slaney_weights(dc, n_mel) @ spec.abs().numpy(), 1e-5))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, (clip, start, length, dc, n_mel) in CASES.items():
        x = read_wav(os.path.join(ROOT, "audio", clip))[start:start + length]
        assert len(x) == length, (name, len(x))
        ref = torchaudio_logmel(x, dc, n_mel)
        alt = numpy_logmel(x, dc, n_mel)
        diff = np.abs(ref - alt).max()
        print(f"{name}: mel {ref.shape}, torchaudio vs numpy max |diff| = {diff:.2e}")
        if dc["filter_length"] % 2:
            # For an odd n_fft torchaudio (as librosa before 0.10) puts the filterbank's bins at
            # linspace(0, sr/2, n_fft//2 + 1), not at their frequencies k*sr/n_fft (np.fft.rfftfreq,
            # librosa from 0.10, and mel.c): the reference is torch.stft's magnitude through the
            # filterbank written out (which the even cases check against torchaudio's).
            ref = torch_stft_logmel(x, dc, n_mel)
            diff = np.abs(ref - alt).max()
            print(f"{name}: torch.stft through the written-out filterbank vs numpy max |diff| = {diff:.2e}")
        assert ref.shape == alt.shape and diff < 1e-6, name
        cfg = {"data_config": dict(dc, segment_length=4096), "waveglow_config": {"n_mel_channels": n_mel}}
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(cfg, f, indent=1)
        np.save(os.path.join(OUT, name + ".audio.npy"), x.astype(np.float32))
        np.save(os.path.join(OUT, name + ".mel.npy"), ref.astype(np.float32))


if __name__ == "__main__":
    main()
