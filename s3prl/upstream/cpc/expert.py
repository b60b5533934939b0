"""Modified CPC upstream, read from FAIR CPC_audio / Libri-light checkpoints.

Papers: CPC, van den Oord et al. 2018, https://arxiv.org/abs/1807.03748;
modified CPC, Rivière et al. 2020, https://arxiv.org/abs/2002.02848 (channel-wise
normalisation, LSTM autoregressor). Checkpoint: the Libri-light 60 k h model,
https://dl.fbaipublicfiles.com/librilight/CPC_checkpoints/60k_epoch4-d0f474de.pt
(``d0f474de`` is the torch.hub sha256 prefix of the file).

Architecture as described in facebookresearch/CPC_audio ``cpc/model.py``
(``CPCEncoder``, ``ChannelNorm``, ``CPCAR``, ``CPCModel``), written here from
those facts:

* encoder ``gEncoder``: 5 convolutions ``conv0..conv4`` (kernel/stride/padding
  10/5/3, 8/4/2, 4/2/1, 4/2/1, 4/2/1: 160 samples per frame), each followed by
  ``batchNorm{i}`` (``ChannelNorm`` for ``normMode="layerNorm"``: per frame,
  mean and unbiased variance over channels, eps 1e-5, affine ``(1, C, 1)``) and ReLU;
* autoregressor ``gAR``: ``baseNet`` = ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``
  (``arMode``), ``nLevelsGRU`` layers, batch first; ``cpc_mode="reverse"`` runs it
  on the time-reversed sequence.

Checkpoint layout (CPC_audio ``hubconf.py``)::

    {"config": {"hiddenEncoder": 256, "hiddenGar": 256, "arMode": "LSTM", "normMode": "layerNorm",
                "nLevelsGRU": ..., ...},
     "weights": {"gEncoder.conv0.weight": ..., "gEncoder.batchNorm0.weight": (1, C, 1), ...,
                 "gAR.baseNet.weight_ih_l0": ..., ...}}

Hidden states (as the original s3prl expert's hooks): the encoder output and
the autoregressor output, ``(batch, frames, dim)`` each.

Padding invariance (the original does not have it): the padded samples/frames
are set to zero before every convolution, so the right-edge conv padding of a
wav sees zeros exactly as when it is alone; ``ChannelNorm`` is per frame;
instance norm (``normMode="instanceNorm"``) uses valid frames only; the
recurrent autoregressor runs on packed sequences (each wav's own frames).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s3prl.upstream.conv import conv1d
from s3prl.upstream.interface import UpstreamBase, padding_mask
from s3prl.util.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

__all__ = ["UpstreamExpert", "CPC_DEFAULTS", "ENCODER_CONVS"]

# Defaults of CPC_audio's ``cpc_default_config.py`` for the fields used here.
CPC_DEFAULTS = {
    "hiddenEncoder": 256,
    "hiddenGar": 256,
    "normMode": "layerNorm",
    "arMode": "LSTM",
    "nLevelsGRU": 1,
    "encoder_type": "cpc",
    "cpc_mode": None,
}

# (kernel, stride, padding) of conv0..conv4.
ENCODER_CONVS = [(10, 5, 3), (8, 4, 2), (4, 2, 1), (4, 2, 1), (4, 2, 1)]


def _frames(lengths: Tensor, kernel: int, stride: int, pad: int) -> Tensor:
    return (torch.div(lengths + 2 * pad - kernel, stride, rounding_mode="floor") + 1).clamp(min=0)


class _Norm(nn.Module):
    """``batchNorm{i}``: ChannelNorm, InstanceNorm1d(affine), BatchNorm1d (eval) or identity."""

    def __init__(self, mode: str, dim: int):
        super().__init__()
        self.mode = mode
        if mode == "layerNorm":
            self.weight = nn.Parameter(torch.ones(1, dim, 1))
            self.bias = nn.Parameter(torch.zeros(1, dim, 1))
        elif mode == "instanceNorm":
            self.weight = nn.Parameter(torch.ones(dim))
            self.bias = nn.Parameter(torch.zeros(dim))
        elif mode == "batchNorm":
            self.bn = nn.BatchNorm1d(dim)
        elif mode != "ID":
            raise ValueError(f"checkpoint config normMode={mode!r}: expected layerNorm, instanceNorm, batchNorm or ID")

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # x: (B, C, T)
        if self.mode == "layerNorm":
            mean = x.mean(dim=1, keepdim=True)
            var = x.var(dim=1, keepdim=True)  # unbiased, as CPC_audio's ChannelNorm
            return (x - mean) * torch.rsqrt(var + 1e-5) * self.weight + self.bias
        if self.mode == "instanceNorm":
            m = mask[:, None, :].to(x.dtype)
            n = m.sum(dim=2, keepdim=True).clamp(min=1.0)
            mean = (x * m).sum(dim=2, keepdim=True) / n
            var = ((x - mean).pow(2) * m).sum(dim=2, keepdim=True) / n
            return (x - mean) * torch.rsqrt(var + 1e-5) * self.weight[None, :, None] + self.bias[None, :, None]
        if self.mode == "batchNorm":
            return F.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias,
                                False, 0.0, self.bn.eps)
        return x


_BN_KEY = re.compile(r"^(gEncoder\.batchNorm\d+\.)(weight|bias|running_mean|running_var|num_batches_tracked)$")


def _bn_rename(key: str) -> str:
    """CPC_audio's BatchNorm1d keys sit directly under ``batchNorm{i}.``; ours under ``batchNorm{i}.bn.``."""
    return _BN_KEY.sub(r"\1bn.\2", key)


class CPCEncoder(nn.Module):
    """``gEncoder``: 5 strided convolutions with normalisation and ReLU (160 samples per frame)."""

    def __init__(self, dim: int, norm_mode: str):
        super().__init__()
        in_d = 1
        for i, (k, s, _) in enumerate(ENCODER_CONVS):
            self.add_module(f"conv{i}", nn.Conv1d(in_d, dim, k, stride=s))
            self.add_module(f"batchNorm{i}", _Norm(norm_mode, dim))
            in_d = dim

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        x, lens = wavs[:, None, :], wavs_len
        for i, (k, s, p) in enumerate(ENCODER_CONVS):
            x = x * padding_mask(lens, x.size(-1))[:, None, :].to(x.dtype)  # padding must read as zeros
            x = conv1d(x, getattr(self, f"conv{i}").weight, getattr(self, f"conv{i}").bias, stride=s, padding=p)
            lens = _frames(lens, k, s, p)
            mask = padding_mask(lens, x.size(-1))
            x = F.relu(getattr(self, f"batchNorm{i}")(x, mask))
        return x * mask[:, None, :].to(x.dtype), lens


class CPCAR(nn.Module):
    """``gAR``: recurrent autoregressor (``baseNet``) run on packed sequences."""

    def __init__(self, dim_in: int, dim_out: int, levels: int, mode: str, reverse: bool):
        super().__init__()
        cls = {"LSTM": nn.LSTM, "RNN": nn.RNN, "GRU": nn.GRU}.get(mode)
        if cls is None:
            raise NotImplementedError(
                f"CPC checkpoint uses arMode={mode!r}; implemented: LSTM, GRU, RNN, no_ar "
                "(the released Libri-light models use LSTM)"
            )
        self.baseNet = cls(dim_in, dim_out, num_layers=levels, batch_first=True)
        self.reverse = reverse

    def forward(self, x: Tensor, lens: Tensor) -> Tensor:  # x: (B, T, C)
        if self.reverse:
            x = _reverse_valid(x, lens)
        packed = pack_padded_sequence(x, lens.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.baseNet(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        if self.reverse:
            out = _reverse_valid(out, lens)
        return out


def _reverse_valid(x: Tensor, lens: Tensor) -> Tensor:
    """Reverse each sequence's first ``lens[b]`` frames (padding stays at the end)."""
    t = torch.arange(x.size(1), device=x.device)[None, :]
    idx = (lens[:, None] - 1 - t).clamp(min=0)
    idx = torch.where(t < lens[:, None], idx, t)
    return torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.size(2)))


class UpstreamExpert(UpstreamBase):
    """Modified CPC upstream from a CPC_audio checkpoint (``{'config', 'weights'}``).

    Args:
        ckpt: local path of the checkpoint (resolve URLs first).

    Input: list of 1-D float waveforms at 16 kHz (>= ``receptive_field`` samples).
    Output: 2 hidden states, encoder ``(batch, frames, hiddenEncoder)`` and
    autoregressor ``(batch, frames, hiddenGar)``; ``frames`` follows the conv
    arithmetic of the padded convolutions (about ``samples / 160``).

    Raises:
        ValueError: not a CPC_audio checkpoint, or bad config values.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights missing, unexpected,
            misshapen, non-floating or non-finite (the file and the keys named).
        NotImplementedError: MFCC/LFB encoders or a transformer autoregressor.
    """

    downsample_rate = 160

    def __init__(self, ckpt: str | Path, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"CPC upstream got unexpected options: {sorted(kwargs)}")
        state = load_checkpoint(ckpt)
        if not isinstance(state, dict) or "weights" not in state or "config" not in state:
            keys = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{ckpt}: not a CPC_audio checkpoint: expected keys 'config' and 'weights', got {keys}")
        note_unused_entries(ckpt, [k for k in state if k not in ("config", "weights")])
        raw = to_plain(state["config"])
        if not isinstance(raw, dict):
            raise ValueError(f"{ckpt}: 'config' is a {type(raw).__name__}, expected a dict")
        cfg = dict(CPC_DEFAULTS)
        cfg.update({k: raw[k] for k in CPC_DEFAULTS if k in raw})
        if cfg["encoder_type"] != "cpc":
            raise NotImplementedError(
                f"CPC checkpoint uses encoder_type={cfg['encoder_type']!r}; only the convolutional "
                "'cpc' encoder (used by the released models) is implemented"
            )
        if cfg["cpc_mode"] not in (None, "none", "reverse"):
            raise NotImplementedError(f"CPC checkpoint uses cpc_mode={cfg['cpc_mode']!r}; supported: none, reverse")
        enc_dim, ar_dim = int(cfg["hiddenEncoder"]), int(cfg["hiddenGar"])
        self.gEncoder = CPCEncoder(enc_dim, cfg["normMode"])
        if cfg["arMode"] == "no_ar":
            self.gAR = None
            ar_dim = enc_dim
        else:
            self.gAR = CPCAR(enc_dim, ar_dim, int(cfg["nLevelsGRU"]), cfg["arMode"], cfg["cpc_mode"] == "reverse")
        rename = _bn_rename if cfg["normMode"] == "batchNorm" else None
        load_state_dict_strict(self, state["weights"], where=ckpt, rename=rename)
        self.eval()
        self.hidden_sizes = [enc_dim, ar_dim]
        n = 1
        while int(self._frames(torch.tensor([n]))[0]) < 1:
            n += 1
        self.receptive_field = n

    @staticmethod
    def _frames(lens: Tensor) -> Tensor:
        for k, s, p in ENCODER_CONVS:
            lens = _frames(lens, k, s, p)
        return lens

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) float, ``wavs_len`` (batch,) long -> [encoder, AR], frames."""
        enc, lens = self.gEncoder(wavs, wavs_len)
        enc = enc.transpose(1, 2)  # (B, T, C)
        ar = enc if self.gAR is None else self.gAR(enc, lens)
        return [enc, ar], lens
