"""WaveGlow in PyTorch, written from the published architecture (Prenger et al. 2019, and the
module layout of NVIDIA's release), with NVIDIA's module and parameter names so that their
pickled checkpoints unpickle into it and their state dicts load into it.

Used by tools/convert_nvidia.py (to read checkpoints), by the converter's test fixture, and as
the PyTorch side of the benchmarks and gradient checks. Not a runtime dependency of the C code.
"""
import torch
import torch.nn.functional as F
from torch import nn


def gated(a, b, n_channels):
    return torch.tanh(a[:, :n_channels] + b[:, :n_channels]) * torch.sigmoid(a[:, n_channels:] + b[:, n_channels:])


class Invertible1x1Conv(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv1d(c, c, kernel_size=1, bias=False)
        w = torch.linalg.qr(torch.randn(c, c))[0]
        if torch.det(w) < 0:
            w[:, 0] = -w[:, 0]
        self.conv.weight.data = w.view(c, c, 1)

    def forward(self, z, reverse=False):
        w = self.conv.weight.squeeze(-1)
        if reverse:
            return F.conv1d(z, torch.inverse(w).unsqueeze(-1))
        return self.conv(z), z.size(0) * z.size(2) * torch.slogdet(w)[1]


class WN(nn.Module):
    def __init__(self, n_in_channels, n_mel_channels, n_layers, n_channels, kernel_size, weight_norm=True):
        super().__init__()
        assert kernel_size % 2 == 1
        self.n_layers, self.n_channels = n_layers, n_channels
        wn = nn.utils.weight_norm if weight_norm else (lambda m, name="weight": m)
        self.start = wn(nn.Conv1d(n_in_channels, n_channels, 1), name="weight")
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        self.end.weight.data.zero_()
        self.end.bias.data.zero_()
        self.cond_layer = wn(nn.Conv1d(n_mel_channels, 2 * n_channels * n_layers, 1), name="weight")
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            d = 2 ** i
            self.in_layers.append(wn(nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=d,
                                               padding=d * (kernel_size - 1) // 2), name="weight"))
            out = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(wn(nn.Conv1d(n_channels, out, 1), name="weight"))

    def forward(self, forward_input):
        audio, spect = forward_input
        h = self.start(audio)
        skip = torch.zeros_like(h)
        cond = self.cond_layer(spect)
        c = self.n_channels
        for i in range(self.n_layers):
            acts = gated(self.in_layers[i](h), cond[:, 2 * c * i:2 * c * (i + 1)], c)
            rs = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                h = h + rs[:, :c]
                skip = skip + rs[:, c:]
            else:
                skip = skip + rs
        return self.end(skip)


class WaveGlow(nn.Module):
    def __init__(self, n_mel_channels, n_flows, n_group, n_early_every, n_early_size, WN_config,
                 hop_length=256, weight_norm=True):
        super().__init__()
        self.upsample = nn.ConvTranspose1d(n_mel_channels, n_mel_channels, 4 * hop_length, stride=hop_length)
        assert n_group % 2 == 0
        self.n_flows, self.n_group = n_flows, n_group
        self.n_early_every, self.n_early_size = n_early_every, n_early_size
        self.WN, self.convinv = nn.ModuleList(), nn.ModuleList()
        n_half, n_rem = n_group // 2, n_group
        for k in range(n_flows):
            if k % n_early_every == 0 and k > 0:
                n_half -= n_early_size // 2
                n_rem -= n_early_size
            self.convinv.append(Invertible1x1Conv(n_rem))
            self.WN.append(WN(n_half, n_mel_channels * n_group, weight_norm=weight_norm, **WN_config))
        self.n_remaining_channels = n_rem

    def _squeeze_cond(self, spect):
        b, m, t = spect.shape
        g = self.n_group
        return spect.view(b, m, t // g, g).permute(0, 1, 3, 2).reshape(b, m * g, t // g)

    def forward(self, forward_input):
        """(mel (B, n_mel, F), audio (B, T)) -> (z (B, n_group, T/g), [log_s], [log_det_W])."""
        spect, audio = forward_input
        spect = self.upsample(spect)
        assert spect.size(2) >= audio.size(1)
        spect = self._squeeze_cond(spect[:, :, :audio.size(1)])
        audio = audio.view(audio.size(0), -1, self.n_group).transpose(1, 2)
        out, log_s_list, log_det_list = [], [], []
        for k in range(self.n_flows):
            if k % self.n_early_every == 0 and k > 0:
                out.append(audio[:, :self.n_early_size])
                audio = audio[:, self.n_early_size:]
            audio, log_det = self.convinv[k](audio)
            log_det_list.append(log_det)
            h = audio.size(1) // 2
            a0, a1 = audio[:, :h], audio[:, h:]
            o = self.WN[k]((a0, spect))
            b, log_s = o[:, :h], o[:, h:]
            audio = torch.cat([a0, torch.exp(log_s) * a1 + b], 1)
            log_s_list.append(log_s)
        out.append(audio)
        return torch.cat(out, 1), log_s_list, log_det_list

    def infer_from(self, spect, z, sigma=1.0):
        """The inverse with a given latent z (B, n_group, steps) in the forward's layout."""
        spect = self.upsample(spect)
        cut = self.upsample.kernel_size[0] - self.upsample.stride[0]
        spect = self._squeeze_cond(spect[:, :, :-cut][:, :, :z.size(2) * self.n_group])
        audio = sigma * z[:, z.size(1) - self.n_remaining_channels:]
        n_taken = self.n_remaining_channels
        for k in reversed(range(self.n_flows)):
            h = audio.size(1) // 2
            a0, a1 = audio[:, :h], audio[:, h:]
            o = self.WN[k]((a0, spect))
            b, log_s = o[:, :h], o[:, h:]
            audio = self.convinv[k](torch.cat([a0, (a1 - b) / torch.exp(log_s)], 1), reverse=True)
            if k % self.n_early_every == 0 and k > 0:
                n_taken += self.n_early_size
                lo = z.size(1) - n_taken
                audio = torch.cat([sigma * z[:, lo:lo + self.n_early_size], audio], 1)
        return audio.transpose(1, 2).reshape(audio.size(0), -1)


def loss(model_output, sigma=1.0):
    """NVIDIA's WaveGlowLoss."""
    z, log_s_list, log_det_list = model_output
    log_s_total = sum(torch.sum(s) for s in log_s_list)
    log_det_total = sum(log_det_list)
    return (torch.sum(z * z) / (2 * sigma * sigma) - log_s_total - log_det_total) / z.numel()
