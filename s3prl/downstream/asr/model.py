"""Recurrent CTC head of the ``asr`` task (SUPERB ASR: 2-layer BiLSTM + CTC).

Architecture as SUPERB's ASR downstream (Yang et al., Interspeech 2021, s3prl 0.4
``downstream/asr/model.py``'s ``RNNs`` with ``module: LSTM``, ``bidirection: True``,
``dim: [1024, 1024]``): a stack of recurrent layers, each optionally followed by layer norm,
dropout and a ``Linear + tanh`` projection, then a linear layer to the vocabulary.
Written from the paper and the config keys; the frame rate is unchanged (``sample_rate: 1``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["RNNs"]


class RNNs(nn.Module):
    """Stacked (Bi)LSTM/GRU layers and an output layer, frame rate kept.

    Args:
        input_dim: feature size of the input frames.
        output_dim: vocabulary size (CTC blank included).
        module: ``"LSTM"`` or ``"GRU"``.
        bidirection: both directions (outputs concatenated: ``2 * dim``).
        dim: hidden size per direction, one entry per layer.
        dropout: dropout after each layer (one entry per layer).
        layer_norm: layer norm after each layer (one bool per layer).
        proj: ``Linear(out, out) + tanh`` after each layer (one bool per layer).
        sample_rate: must be all 1 (frame down-sampling between layers is not implemented).
        total_rate: ignored unless it asks for down-sampling (must be -1 or 1).

    Raises:
        ValueError: per-layer lists of different lengths, an unknown module, or down-sampling.
    """

    def __init__(self, input_dim: int, output_dim: int, module: str = "LSTM",
                 bidirection: bool = True, dim=(1024, 1024), dropout=(0.2, 0.2),
                 layer_norm=(False, False), proj=(False, False), sample_rate=(1, 1),
                 sample_style: str = "concat", total_rate: int = -1, **kwargs):
        super().__init__()
        if kwargs:
            raise ValueError(f"asr modelrc.RNNs: unknown keys {sorted(kwargs)}")
        n = len(dim)
        for name, value in [("dropout", dropout), ("layer_norm", layer_norm), ("proj", proj),
                            ("sample_rate", sample_rate)]:
            if len(value) != n:
                raise ValueError(
                    f"asr modelrc.RNNs.{name} has {len(value)} entries, dim has {n}: one per layer"
                )
        if any(int(r) != 1 for r in sample_rate) or int(total_rate) not in (-1, 1):
            raise ValueError(
                "asr modelrc.RNNs: frame down-sampling (sample_rate / total_rate other than 1) is "
                "not implemented; use sample_rate: [1, ...] and total_rate: -1"
            )
        if module not in ("LSTM", "GRU"):
            raise ValueError(f"asr modelrc.RNNs.module must be LSTM or GRU, got {module!r}")
        rnn_cls = nn.LSTM if module == "LSTM" else nn.GRU
        self.layers = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.projs = nn.ModuleList()
        self.dropouts = nn.ModuleList()
        size = input_dim
        for i in range(n):
            self.layers.append(rnn_cls(size, int(dim[i]), batch_first=True,
                                       bidirectional=bool(bidirection)))
            size = int(dim[i]) * (2 if bidirection else 1)
            self.norms.append(nn.LayerNorm(size) if layer_norm[i] else nn.Identity())
            self.dropouts.append(nn.Dropout(float(dropout[i])))
            self.projs.append(nn.Sequential(nn.Linear(size, size), nn.Tanh()) if proj[i]
                              else nn.Identity())
        self.output = nn.Linear(size, output_dim)

    def forward(self, x: torch.Tensor, x_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Args: ``x`` ``(batch, frames, input_dim)`` float, ``x_len`` ``(batch,)`` long.

        Returns: ``(logits, x_len)``: ``(batch, frames, output_dim)`` and the unchanged lengths.
        """
        frames = x.shape[1]
        lengths = x_len.clamp(min=1).cpu()
        for rnn, norm, drop, proj in zip(self.layers, self.norms, self.dropouts, self.projs):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = rnn(packed)
            x, _ = pad_packed_sequence(out, batch_first=True, total_length=frames)
            x = proj(drop(norm(x)))
        return self.output(x), x_len
