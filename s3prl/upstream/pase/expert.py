"""PASE+ upstream (Ravanelli et al., 2020, https://arxiv.org/abs/2001.09239).

Checkpoint ``FE_e199.ckpt`` and its config ``PASE+.cfg`` (JSON), as used by the
original s3prl toolkit: https://www.dropbox.com/s/p8811o7eadv4pat/FE_e199.ckpt?dl=1
and https://www.dropbox.com/s/2p3ouod1k0ekfxn/PASE%2B.cfg?dl=1 (santi-pdp/pase
README: the encoder parameters only, built with ``cfg/frontend/PASE+.cfg``)::

    {"kwidths": [251, 20, 11, 11, 11, 11, 11, 11], "strides": [1, 10, 2, 1, 2, 1, 2, 2],
     "fmaps": [64, 64, 128, 128, 256, 256, 512, 512], "rnn_dim": 512, "denseskips": true,
     "norm_out": true, "rnn_pool": true, "rnn_layers": 1}

Architecture (facts from santi-pdp/pase ``pase/models/frontend.py`` ``WaveFe`` and
``pase/models/modules.py`` ``FeBlock`` / ``SincConv_fast``, and salesforce
pytorch-qrnn ``QRNNLayer``), re-implemented here:

* ``blocks.0``: SincNet band-pass filters (``conv.low_hz_``, ``conv.band_hz_``;
  low = 50 + |low_hz_|, high = clamp(low + 50 + |band_hz_|, 50, 8000), half
  window ``0.54 - 0.46 cos(2 pi n / K)`` on ``linspace(0, K/2 - 1, K//2)``),
  "SAME" reflect padding; ``blocks.1..7``: ``Conv1d`` with reflect padding
  ``(k//2 - 1, k//2)`` when strided or even, else ``(k//2, k//2)``; each block:
  BatchNorm1d (``norm``, inference statistics) and PReLU (``act``);
* ``denseskips.{0..6}``: bias-free 1x1 convs of the outputs of blocks 0..6 to
  ``emb_dim``, average-pooled by ``d = skip_frames // out_frames`` (after
  trimming to ``out_frames * d``) and summed into the output;
* ``rnn``: QRNN (``rnn.layers.{i}.linear``: ``[x_t, x_{t-1}] -> [z, f, o]``,
  ``z = tanh(z)``, ``f = sigmoid(f)``, ``c_t = f_t z_t + (1 - f_t) c_{t-1}`` (``c_{-1} = 0``),
  ``h_t = sigmoid(o_t) c_t``; ``rnn_dim`` units: the "bidirectional" flag is ignored by QRNN);
* ``W``: 1x1 conv ``rnn_dim -> emb_dim``; ``norm_out``: BatchNorm1d without affine.

Hidden states (the original s3prl hooks, in the order they fire): the 7 pooled
dense-skip projections, the ``W`` output, the final output: 9 states of
``emb_dim`` (256), one frame per 160 samples (``floor(ceil(T / 10) / 16)`` frames).

Checkpoint layout: ``{"step": int, "state_dict": {...}}`` (pase ``Saver``) or a
bare state dict (the "legacy mode" the pase loader also accepts), keys
``blocks.{i}.conv.*``, ``blocks.{i}.norm.*``, ``blocks.{i}.act.weight``,
``denseskips.{i}.weight``, ``rnn.layers.{i}.linear.*``, ``W.*``, ``norm_out.*``.

Padding invariance: reflect padding is built per wav from its own valid
samples/frames, the dense-skip pooling factor is computed per wav (the
original computes it from the padded batch), the QRNN is causal, and the
batch norms use stored statistics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.conv import conv1d, conv_module
from s3prl.upstream.interface import UpstreamBase
from s3prl.util.checkpoint import load_checkpoint, load_state_dict_strict, note_unused_entries

__all__ = ["UpstreamExpert", "PASE_DEFAULTS", "PASE_PLUS_CONFIG", "read_pase_config"]

#: ``cfg/frontend/PASE+.cfg`` of santi-pdp/pase (the config released with ``FE_e199.ckpt``).
PASE_PLUS_CONFIG = {
    "kwidths": [251, 20, 11, 11, 11, 11, 11, 11],
    "strides": [1, 10, 2, 1, 2, 1, 2, 2],
    "fmaps": [64, 64, 128, 128, 256, 256, 512, 512],
    "rnn_dim": 512,
    "denseskips": True,
    "norm_out": True,
    "rnn_pool": True,
    "rnn_layers": 1,
}

# ``WaveFe`` defaults (santi-pdp/pase frontend.py) for the fields a config may omit.
PASE_DEFAULTS = {
    "num_inputs": 1,
    "sincnet": True,
    "kwidths": [251, 10, 5, 5, 5, 5, 5, 5],
    "strides": [1, 10, 2, 1, 2, 1, 2, 2],
    "dilations": None,
    "fmaps": [64, 64, 128, 128, 256, 256, 512, 512],
    "norm_type": "bnorm",
    "pad_mode": "reflect",
    "sr": 16000,
    "emb_dim": 256,
    "rnn_dim": None,
    "activation": None,
    "rnn_pool": False,
    "rnn_layers": 1,
    "rnn_dropout": 0,
    "rnn_type": "qrnn",
    "vq_K": None,
    "vq_beta": 0.25,
    "vq_gamma": 0.99,
    "norm_out": False,
    "tanh_out": False,
    "resblocks": False,
    "denseskips": False,
    "densemerge": "sum",
}

# Options whose only implemented value is the PASE+ one.
_ONLY = {
    "num_inputs": (1,), "sincnet": (True,), "norm_type": ("bnorm",), "pad_mode": ("reflect",),
    "sr": (16000,), "activation": (None, "prelu"), "rnn_type": ("qrnn",), "vq_K": (None, 0),
    "resblocks": (False,), "densemerge": ("sum",),
}  # fmt: skip


def read_pase_config(path: str | Path | dict) -> dict:
    """Read a PASE front-end JSON config (path, or an already parsed dict) and fill ``WaveFe`` defaults.

    Raises:
        ValueError: not JSON, unknown keys, or lists of different lengths.
        NotImplementedError: options other than the PASE+ ones (named).
    """
    if isinstance(path, dict):
        raw, path = dict(path), "(dict)"
    else:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"PASE config {path} is not a readable JSON file: {err}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"PASE config {path} must be a JSON object")
    if "name" in raw:
        raise NotImplementedError(f"PASE config {path}: front-end {raw['name']!r}; only WaveFe (PASE/PASE+) is implemented")
    unknown = sorted(set(raw) - set(PASE_DEFAULTS))
    if unknown:
        raise ValueError(f"PASE config {path}: unknown keys {unknown}")
    cfg = {**PASE_DEFAULTS, **raw}
    for k, allowed in _ONLY.items():
        if cfg[k] not in allowed:
            raise NotImplementedError(f"PASE config {path}: {k}={cfg[k]!r} is not implemented (supported: {allowed})")
    n = len(cfg["kwidths"])
    if cfg["dilations"] is None:
        cfg["dilations"] = [1] * n
    if not (len(cfg["strides"]) == len(cfg["fmaps"]) == len(cfg["dilations"]) == n):
        raise ValueError(f"PASE config {path}: kwidths, strides, fmaps, dilations differ in length")
    if any(d != 1 for d in cfg["dilations"]):
        raise NotImplementedError(f"PASE config {path}: dilations {cfg['dilations']} (only 1 is implemented)")
    return cfg


def _block_pad(k: int, s: int, first: bool) -> tuple[int, int]:
    if first:  # SincConv_fast 'SAME' padding (odd kernel)
        return (k // 2 - 1, k // 2) if s > 1 else (k // 2, k // 2)
    if k <= 1:
        return (0, 0)
    return (k // 2 - 1, k // 2) if (s > 1 or k % 2 == 0) else (k // 2, k // 2)


def _reflect_pad(x: Tensor, lens: Tensor, pad: tuple[int, int]) -> Tensor:
    """``F.pad(mode='reflect')`` applied to each wav's first ``lens[b]`` frames (x: B, C, T).

    Raises:
        RuntimeError: a wav has no more frames than the padding, where the original's
            ``F.pad(mode='reflect')`` is undefined (and raises) too.
    """
    left, right = pad
    if left == 0 and right == 0:
        return x
    short = (lens <= max(left, right)).nonzero()
    if short.numel():
        i = int(short[0, 0])
        raise RuntimeError(
            f"wav {i} has {int(lens[i])} frames at a PASE block whose reflect padding is {pad}: "
            "reflect padding needs more frames than the padding (the wav is shorter than the "
            "receptive field)"
        )
    src = torch.arange(-left, x.size(-1) + right, device=x.device)[None, :].expand(x.size(0), -1)
    last = (lens - 1).clamp(min=0)[:, None]
    src = torch.where(src < 0, -src, src)
    src = torch.where(src > last, 2 * last - src, src)
    src = torch.minimum(src.clamp(min=0), last)
    return torch.gather(x, 2, src[:, None, :].expand(-1, x.size(1), -1))


class _Sinc(nn.Module):
    def __init__(self, out_channels: int, kernel: int):
        super().__init__()
        self.kernel = kernel + 1 if kernel % 2 == 0 else kernel
        self.low_hz_ = nn.Parameter(torch.zeros(out_channels, 1))
        self.band_hz_ = nn.Parameter(torch.zeros(out_channels, 1))

    def filters(self) -> Tensor:
        k, sr, min_low, min_band = self.kernel, 16000, 50.0, 50.0
        dev = self.low_hz_.device
        n_lin = torch.linspace(0, k / 2 - 1, steps=int(k / 2), device=dev)
        window = 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin / k)
        n = 2 * math.pi * torch.arange(-(k - 1) / 2.0, 0, device=dev).view(1, -1) / sr
        low = min_low + self.low_hz_.abs()
        high = torch.clamp(low + min_band + self.band_hz_.abs(), min_low, sr / 2)
        band = (high - low)[:, 0]
        left = ((torch.sin(high @ n) - torch.sin(low @ n)) / (n / 2)) * window
        center = 2 * band.view(-1, 1)
        bp = torch.cat([left, center, left.flip(dims=[1])], dim=1) / (2 * band[:, None])
        return bp.view(-1, 1, k)


class _Block(nn.Module):
    def __init__(self, n_in: int, fmap: int, kernel: int, stride: int, sinc: bool):
        super().__init__()
        self.conv = _Sinc(fmap, kernel) if sinc else nn.Conv1d(n_in, fmap, kernel, stride)
        self.norm = nn.BatchNorm1d(fmap)
        self.act = nn.PReLU(fmap, init=0)
        k = self.conv.kernel if sinc else kernel
        self.kernel, self.stride, self.sinc = k, stride, sinc
        self.pad = _block_pad(k, stride, sinc)

    def frames(self, lens: Tensor) -> Tensor:
        return torch.div(lens + sum(self.pad) - self.kernel, self.stride, rounding_mode="floor") + 1

    def forward(self, x: Tensor, lens: Tensor) -> tuple[Tensor, Tensor]:
        x = _reflect_pad(x, lens, self.pad)
        if self.sinc:
            x = conv1d(x, self.conv.filters().to(x.dtype), stride=self.stride)
        else:
            x = conv_module(self.conv, x)
        x = self.act(self.norm(x))
        return x, self.frames(lens)


class _QRNNLayer(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.linear = nn.Linear(2 * n_in, 3 * hidden)

    def forward(self, x: Tensor) -> Tensor:  # (B, T, C), causal
        prev = F.pad(x, (0, 0, 1, 0))[:, :-1]
        z, f, o = self.linear(torch.cat([x, prev], dim=-1)).chunk(3, dim=-1)
        z, f = torch.tanh(z), torch.sigmoid(f)
        c = torch.zeros_like(z[:, 0])
        out = []
        for t in range(x.size(1)):  # c_t = f_t z_t + (1 - f_t) c_{t-1}
            c = f[:, t] * z[:, t] + (1 - f[:, t]) * c
            out.append(c)
        return torch.sigmoid(o) * torch.stack(out, dim=1)


class WaveFe(nn.Module):
    """PASE / PASE+ encoder (inference), parameter names as santi-pdp/pase ``WaveFe``."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        blocks, skips, n_in = [], [], 1
        n = len(cfg["kwidths"])
        for i, (k, s, fmap) in enumerate(zip(cfg["kwidths"], cfg["strides"], cfg["fmaps"])):
            blocks.append(_Block(n_in, fmap, k, s, sinc=i == 0))
            if cfg["denseskips"] and i < n - 1:
                skips.append(nn.Conv1d(fmap, cfg["emb_dim"], 1, bias=False))
            n_in = fmap
        self.blocks = nn.ModuleList(blocks)
        if cfg["denseskips"]:
            self.denseskips = nn.ModuleList(skips)
        if cfg["rnn_pool"]:
            rnn_dim = cfg["rnn_dim"] or cfg["emb_dim"]
            rnn_dim = 2 * (rnn_dim // 2)  # QRNN: bidirectional flag ignored, 2 x (rnn_dim // 2) units
            self.rnn = nn.Module()
            self.rnn.layers = nn.ModuleList(
                [_QRNNLayer(n_in if j == 0 else rnn_dim, rnn_dim) for j in range(int(cfg["rnn_layers"]))]
            )
            n_in = rnn_dim
        self.W = nn.Conv1d(n_in, cfg["emb_dim"], 1)
        if cfg["norm_out"]:
            self.norm_out = nn.BatchNorm1d(cfg["emb_dim"], affine=False)

    def frames(self, lens: Tensor) -> Tensor:
        for b in self.blocks:
            lens = b.frames(lens)
        return lens

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        h, lens = wavs[:, None, :], wavs_len
        skips = []
        for i, block in enumerate(self.blocks):
            h, lens = block(h, lens)
            if hasattr(self, "denseskips") and i < len(self.blocks) - 1:
                skips.append((conv_module(self.denseskips[i], h), lens))
        if self.cfg["rnn_pool"]:
            x = h.transpose(1, 2)
            for layer in self.rnn.layers:
                x = layer(x)
            h = x.transpose(1, 2)
        y = conv_module(self.W, h)
        hidden = []
        out = y
        for skip, s_lens in skips:
            pooled = _pool_skip(skip, s_lens, lens, y.size(-1))
            hidden.append(pooled)
            out = out + pooled
        hidden.append(y)
        if hasattr(self, "norm_out"):
            out = self.norm_out(out)
        if self.cfg["tanh_out"]:
            out = torch.tanh(out)
        hidden.append(out)
        return [t.transpose(1, 2) for t in hidden], lens


def _pool_skip(skip: Tensor, skip_lens: Tensor, out_lens: Tensor, out_frames: int) -> Tensor:
    """Average-pool each wav's skip by ``d = skip_len // out_len`` (the original ``fuse_skip``,
    per wav instead of per padded batch). Returns ``(B, C, out_frames)``, zero past ``out_lens``."""
    res = skip.new_zeros(skip.size(0), skip.size(1), out_frames)
    for b in range(skip.size(0)):
        n, m = int(out_lens[b]), int(skip_lens[b])
        if n <= 0:
            continue
        d = m // n
        if d > 1:
            res[b, :, :n] = skip[b, :, : n * d].reshape(skip.size(1), n, d).mean(dim=2)
        else:
            res[b, :, :n] = skip[b, :, :n]
    return res


class UpstreamExpert(UpstreamBase):
    """PASE+ upstream from its released encoder checkpoint and JSON config.

    Args:
        ckpt: local path of the encoder checkpoint (``FE_e199.ckpt``).
        model_config: local path of the front-end JSON config (``PASE+.cfg``), or a
            dict; ``None``: a ``PASE+.cfg`` file next to ``ckpt`` if there is one,
            else the published PASE+ config (:data:`PASE_PLUS_CONFIG`).

    Input: list of 1-D float waveforms at 16 kHz, each >= ``receptive_field``
    samples (471 for PASE+: every reflect padding needs more frames than its width).
    Output: 9 hidden states of ``(batch, frames, 256)``.

    Raises:
        ValueError: bad config or checkpoint structure.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights missing, unexpected,
            misshapen, non-floating or non-finite (the file and the keys named).
        NotImplementedError: config options other than the PASE/PASE+ ones.
    """

    def __init__(self, ckpt: str | Path, model_config: str | Path | dict | None = None, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"PASE upstream got unexpected options: {sorted(kwargs)}")
        if model_config is None:
            sidecar = Path(ckpt).with_name("PASE+.cfg")
            model_config = sidecar if sidecar.is_file() else PASE_PLUS_CONFIG
        cfg = read_pase_config(model_config)
        self.model = WaveFe(cfg)
        state = load_checkpoint(ckpt)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            note_unused_entries(ckpt, [k for k in state if k != "state_dict"])
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(f"{ckpt}: not a PASE checkpoint (expected a state dict or {{'state_dict': ...}})")
        load_state_dict_strict(self.model, state, where=ckpt, what=f"the PASE config {model_config}")
        self.model.eval()
        self.downsample_rate = math.prod(cfg["strides"])
        n_hidden = (len(cfg["kwidths"]) - 1 if cfg["denseskips"] else 0) + 2
        self.hidden_sizes = [cfg["emb_dim"]] * n_hidden
        self.receptive_field = self._min_samples()

    def _min_samples(self) -> int:
        """Fewest samples for which every reflect padding fits and one frame comes out."""
        def ok(t: int) -> bool:
            lens = torch.tensor([t])
            for b in self.model.blocks:
                if max(b.pad) >= int(lens[0]) or int(lens[0]) + sum(b.pad) < b.kernel:
                    return False
                lens = b.frames(lens)
            return int(lens[0]) >= 1

        t = 1
        while not ok(t):
            t += 1
        return t

    def train(self, mode: bool = True):
        """Batch norms always use their stored statistics (inference model)."""
        super().train(mode)
        self.model.eval()
        return self

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) float, ``wavs_len`` (batch,) long -> 9 x (batch, frames, 256), frames."""
        return self.model(wavs, wavs_len)
