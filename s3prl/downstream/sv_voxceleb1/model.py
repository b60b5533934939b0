"""x-vector head and AM-softmax loss of the ``sv_voxceleb1`` task.

* x-vector (Snyder et al., ICASSP 2018, "X-vectors: robust DNN embeddings for speaker
  recognition"), at SUPERB's size (s3prl 0.4 ``sv_voxceleb1``'s ``XVector`` config): five TDNN
  frame layers with contexts ``[t-2, t+2]``, ``{t-2, t, t+2}``, ``{t-3, t, t+3}``, ``{t}``,
  ``{t}`` (1-D convolutions, kernel 5/3/3/1/1, dilation 1/2/3/1/1, no padding: 14 frames fewer),
  ReLU (+ optional batch norm, dropout); statistics pooling (mean and standard deviation over
  the valid frames); two segment layers (Linear + ReLU). The embedding is the first segment
  layer's output.
* AM-softmax (Wang et al., IEEE SPL 2018, "Additive margin softmax for face verification"):
  ``CE(s * (cos(theta_j) - m * [j == y]))`` with L2-normalised embeddings and class weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["XVector", "StatisticsPooling", "AMSoftmaxLoss", "SoftmaxLoss", "TDNN_SHRINK"]

#: frames lost by the unpadded TDNN layers: (5-1)*1 + (3-1)*2 + (3-1)*3
TDNN_SHRINK = 14
_TDNN = [(5, 1), (3, 2), (3, 3), (1, 1), (1, 1)]  # (kernel, dilation)


class StatisticsPooling(nn.Module):
    """Mean and standard deviation over the valid frames (variance floored at ``eps``).

    ``forward(x (batch, frames, dim), lengths (batch,)) -> (batch, 2 * dim)``.
    """

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None].to(x.device))
        mask = mask.unsqueeze(-1).to(x.dtype)
        n = mask.sum(dim=1).clamp(min=1)
        mean = (x * mask).sum(dim=1) / n
        var = (((x - mean[:, None]) ** 2) * mask).sum(dim=1) / n
        return torch.cat([mean, var.clamp(min=self.eps).sqrt()], dim=-1)


class XVector(nn.Module):
    """x-vector embedding extractor.

    Args:
        input_dim: size of the (projected) input frames, also the TDNN and segment-layer width.
        agg_dim: size of the last frame layer (statistics are ``2 * agg_dim``).
        dropout_p: dropout after each frame layer.
        batch_norm: batch norm after each frame layer's ReLU.

    Inputs shorter than 15 frames are zero-padded to 15 (one output frame).
    """

    def __init__(self, input_dim: int = 512, agg_dim: int = 1500, dropout_p: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        layers = []
        size = input_dim
        for i, (kernel, dilation) in enumerate(_TDNN):
            out = agg_dim if i == len(_TDNN) - 1 else input_dim
            layers += [nn.Conv1d(size, out, kernel, dilation=dilation), nn.ReLU()]
            if batch_norm:
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.Dropout(dropout_p))
            size = out
        self.frame_layers = nn.Sequential(*layers)
        self.pooling = StatisticsPooling()
        self.segment1 = nn.Linear(2 * agg_dim, input_dim)
        self.segment2 = nn.Linear(input_dim, input_dim)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``(batch, frames, input_dim)``, ``lengths`` ``(batch,)`` -> embeddings
        ``(batch, input_dim)`` (first segment layer + ReLU; frames past a length ignored)."""
        if x.shape[1] < TDNN_SHRINK + 1:
            x = F.pad(x, (0, 0, 0, TDNN_SHRINK + 1 - x.shape[1]))
        h = self.frame_layers(x.transpose(1, 2)).transpose(1, 2)
        out_len = (lengths - TDNN_SHRINK).clamp(min=1)
        return F.relu(self.segment1(self.pooling(h, out_len)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Training output: second segment layer + ReLU on the embedding ``(batch, input_dim)``."""
        return F.relu(self.segment2(self.embed(x, lengths)))


class AMSoftmaxLoss(nn.Module):
    """Additive-margin softmax loss.

    Args:
        hidden_dim: embedding size. speaker_num: classes. s: scale. m: additive cosine margin.
    """

    def __init__(self, hidden_dim: int, speaker_num: int, s: float = 30.0, m: float = 0.4):
        super().__init__()
        self.s = float(s)
        self.m = float(m)
        self.weight = nn.Parameter(torch.empty(speaker_num, hidden_dim))
        nn.init.xavier_normal_(self.weight)

    def logits(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``s * (cos - m * onehot(labels))``, ``(batch, speaker_num)``."""
        cos = F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=-1))
        margin = F.one_hot(labels, cos.shape[-1]).to(cos.dtype) * self.m
        return self.s * (cos - margin)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch: ``x`` ``(batch, hidden_dim)``, ``labels`` ``(batch,)``."""
        return F.cross_entropy(self.logits(x, labels), labels)


class SoftmaxLoss(nn.Module):
    """Linear classifier + cross entropy (s3prl's ``SoftmaxLoss`` option)."""

    def __init__(self, hidden_dim: int, speaker_num: int):
        super().__init__()
        self.fc = nn.Linear(hidden_dim, speaker_num)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.fc(x), labels)
