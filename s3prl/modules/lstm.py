"""LSTM stacks over padded batches, every layer's output exposed.

* :func:`reverse_padded`: reverse each sequence over its own valid frames (the input of a
  backward-in-time LSTM), padded frames stay where they are.
* :class:`LSTMStack`: ``num_layers`` unidirectional single-layer ``nn.LSTM`` run on packed
  sequences (so a sequence's outputs never depend on the padding or on the rest of the
  batch), returning each layer's output. With a multi-layer ``nn.LSTM``'s weights renamed
  onto it (``weight_ih_l{k}`` -> ``layers.{k}.weight_ih_l0``, see
  :func:`s3prl.upstream.decoar.expert.stack_key`), in eval mode the stack computes exactly
  what the multi-layer LSTM computes (PyTorch's ``nn.LSTM`` with ``num_layers=L`` feeds layer ``k``'s output to layer ``k+1``, inter-layer dropout only in
  training).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

__all__ = ["reverse_padded", "LSTMStack"]


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]``, ``x[b, t]`` after.

    Args:
        x: ``(batch, frames, ...)``.
        lengths: ``(batch,)`` valid frames.
    """
    frames = x.size(1)
    t = torch.arange(frames, device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(t < lengths, lengths - 1 - t, t)
    index = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class LSTMStack(nn.Module):
    """``num_layers`` unidirectional LSTM layers, each an ``nn.LSTM(num_layers=1,
    batch_first=True)`` named ``layers.{k}``.

    ``forward(x, lengths) -> list of num_layers tensors (batch, frames, hidden_size)``:
    ``x`` ``(batch, frames, input_size)``, ``lengths`` ``(batch,)`` valid frames (>= 1);
    frames past a sequence's length are zero in every output.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.LSTM(input_size if k == 0 else hidden_size, hidden_size, batch_first=True) for k in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, lengths: Tensor) -> list[Tensor]:
        frames = x.size(1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs = []
        for k, layer in enumerate(self.layers):
            if k > 0 and self.training and self.dropout.p > 0:
                data = self.dropout(packed.data)
                packed = torch.nn.utils.rnn.PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                                           packed.unsorted_indices)
            packed, _ = layer(packed)
            out, _ = pad_packed_sequence(packed, batch_first=True, total_length=frames)
            outputs.append(out)
        return outputs
