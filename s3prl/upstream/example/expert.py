"""The example upstream: the template to copy when adding an upstream.

It is a tiny, checkpoint-free model (a framing convolution and two
position-wise layers with weights drawn from a fixed seed), small enough to
read in one sitting. Everything a real upstream must do is here:

1. subclass :class:`~s3prl.upstream.interface.UpstreamBase`;
2. set the static metadata (``downsample_rate``, ``receptive_field``,
   ``hidden_sizes``);
3. implement ``forward_padded(wavs, wavs_len) -> (hidden_states, hidden_states_len)``
   so that a wav's valid frames never depend on the rest of the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from s3prl.upstream.conv import conv_module
from s3prl.upstream.interface import UpstreamBase, conv_frames


class UpstreamExpert(UpstreamBase):
    """Tiny example upstream: 25 ms frames every 10 ms, 3 hidden states.

    Args:
        hidden_size: feature dim of every hidden state (default 16).
        seed: seed of the (fixed, untrained) weights.

    Input: list of 1-D float waveforms at 16 kHz, each at least 400 samples.
    Output: 3 hidden states of shape ``(batch, frames, hidden_size)`` with
    ``frames = floor((samples - 400) / 160) + 1``.
    """

    downsample_rate = 160  # 10 ms at 16 kHz
    receptive_field = 400  # 25 ms at 16 kHz

    def __init__(self, hidden_size: int = 16, seed: int = 0, **kwargs):
        super().__init__()
        if kwargs:
            raise TypeError(f"example upstream got unexpected options: {sorted(kwargs)}")
        self.hidden_sizes = [hidden_size] * 3
        self.frame = nn.Conv1d(1, hidden_size, kernel_size=400, stride=160)
        self.layer1 = nn.Linear(hidden_size, hidden_size)
        self.layer2 = nn.Linear(hidden_size, hidden_size)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs``: (batch, samples), ``wavs_len``: (batch,) -> 3 x (batch, frames, hidden)."""
        frames_len = conv_frames(wavs_len, [(400, 160)])
        h0 = torch.tanh(conv_module(self.frame, wavs[:, None, :])).transpose(1, 2)  # (B, frames, H)
        h1 = torch.tanh(self.layer1(h0))
        h2 = torch.tanh(self.layer2(h1))
        return [h0, h1, h2], frames_len
