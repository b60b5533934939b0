"""The upstream interface shared by every model in :mod:`s3prl.upstream`.

Every upstream is an :class:`UpstreamBase` subclass (named ``UpstreamExpert`` in
its family's ``expert.py``). A user calls it on a list of unpadded mono
waveforms; the base class validates the input, pads it into a batch, calls the
family's :meth:`UpstreamBase.forward_padded`, zeroes the padded frames and
returns the standard dict::

    out = upstream([wav1, wav2])        # wavs: 1-D float tensors, 16 kHz
    out["hidden_states"]                # list of (batch, frames, dim), one per layer
    out["last_hidden_state"]            # the same tensor as hidden_states[-1]
    out["hidden_states_len"]            # (batch,) long: valid frames of each wav

A family only writes :meth:`forward_padded` (padded batch in, per-layer
features and frame counts out) and sets the static metadata.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "UpstreamBase",
    "check_wavs",
    "pad_wavs",
    "padding_mask",
    "conv_frames",
    "length_groups",
]


def check_wavs(
    wavs: Sequence[Tensor],
    min_samples: int = 1,
    device: torch.device | None = None,
) -> None:
    """Validate a list of waveforms given to an upstream.

    Args:
        wavs: non-empty list (or tuple) of 1-D floating tensors, mono, 16 kHz,
            unpadded, all on the same device.
        min_samples: the smallest number of samples one wav may have (the
            model's receptive field, in samples at 16 kHz).
        device: the device the wavs must be on (the model's), or ``None`` to
            accept any device as long as all wavs share it.

    Raises:
        TypeError: ``wavs`` is not a list/tuple, or wav *i* is not a tensor, or
            has an integer/bool/complex dtype.
        ValueError: the list is empty; wav *i* is not 1-D (a 2-D wav is taken
            for multi-channel audio: mix it down first); wav *i* has NaN/Inf;
            wav *i* is shorter than ``min_samples``; the wavs are on different
            devices or not on ``device``.
    """
    if isinstance(wavs, Tensor) or not isinstance(wavs, (list, tuple)):
        raise TypeError(
            "wavs must be a list of 1-D float tensors (one unpadded waveform each), "
            f"got {type(wavs).__name__}"
            + (
                f" of shape {tuple(wavs.shape)}: pass list(batch) or [wav] instead"
                if isinstance(wavs, Tensor)
                else ""
            )
        )
    if len(wavs) == 0:
        raise ValueError("wavs is an empty list: give at least one waveform")
    first_device = None
    for i, wav in enumerate(wavs):
        if not isinstance(wav, Tensor):
            raise TypeError(
                f"wav {i} is a {type(wav).__name__}, not a torch.Tensor: "
                "convert it with torch.as_tensor(wav, dtype=torch.float32)"
            )
        if not torch.is_floating_point(wav):
            raise TypeError(
                f"wav {i} has dtype {wav.dtype}; upstreams take floating-point "
                "waveforms in [-1, 1] (e.g. int16 PCM: wav.float() / 32768)"
            )
        if wav.dim() != 1:
            if wav.dim() == 2:
                raise ValueError(
                    f"wav {i} is 2-D with shape {tuple(wav.shape)}; upstreams take mono "
                    "1-D waveforms: mix multi-channel audio down first, "
                    "e.g. wav.mean(dim=0) for (channels, samples)"
                )
            raise ValueError(
                f"wav {i} has {wav.dim()} dimensions (shape {tuple(wav.shape)}); "
                "expected a 1-D mono waveform"
            )
        if first_device is None:
            first_device = wav.device
        elif wav.device != first_device:
            raise ValueError(
                f"wav {i} is on {wav.device} but wav 0 is on {first_device}: "
                "put all wavs on the same device as the model"
            )
        if wav.numel() < min_samples:
            raise ValueError(
                f"wav {i} has {wav.numel()} samples, fewer than this upstream's "
                f"receptive field: it needs at least {min_samples} samples "
                f"({min_samples / 16:.1f} ms at 16 kHz)"
            )
    if device is not None and first_device is not None and _device_differs(first_device, device):
        raise ValueError(
            f"the wavs are on {first_device} but the model is on {device}: "
            f"move them with wav.to({str(device)!r})"
        )
    # One reduction for the finiteness check; locate the culprit only on failure.
    finite = torch.stack([torch.isfinite(w).all() for w in wavs])
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise ValueError(f"wav {bad} contains NaN or Inf values")


def _device_differs(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return True
    if a.index is None or b.index is None:
        return False
    return a.index != b.index


def pad_wavs(wavs: Sequence[Tensor], dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad 1-D waveforms with zeros into one batch.

    Args:
        wavs: list of 1-D tensors of lengths ``T_i`` samples.
        dtype: dtype of the batch; default: the first wav's dtype.

    Returns:
        ``(padded, lengths)``: ``padded`` is ``(batch, max T_i)`` in ``dtype``,
        ``lengths`` is a ``(batch,)`` long tensor of ``T_i``, on the wavs' device.
    """
    dtype = dtype or wavs[0].dtype
    lengths = torch.tensor([w.numel() for w in wavs], dtype=torch.long, device=wavs[0].device)
    padded = wavs[0].new_zeros((len(wavs), int(lengths.max())), dtype=dtype)
    for i, w in enumerate(wavs):
        padded[i, : w.numel()] = w.to(dtype)
    return padded, lengths


def padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Boolean ``(batch, max_len)`` mask, ``True`` at valid positions.

    Args:
        lengths: ``(batch,)`` integer tensor of valid lengths.
        max_len: width of the mask; default ``lengths.max()``.
    """
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def conv_frames(lengths: Tensor, layers: Sequence[tuple[int, int]]) -> Tensor:
    """Output frames of a stack of 1-D convolutions without padding.

    Args:
        lengths: ``(batch,)`` long tensor of input lengths (samples).
        layers: ``(kernel_size, stride)`` per convolution, in order.

    Returns:
        ``(batch,)`` long tensor: ``floor((L - k) / s) + 1`` applied per layer,
        clamped at 0.
    """
    out = lengths.clone()
    for kernel, stride in layers:
        out = torch.div(out - kernel, stride, rounding_mode="floor") + 1
        out = out.clamp(min=0)
    return out


class UpstreamBase(nn.Module):
    """Base class of every upstream (``UpstreamExpert``).

    Subclasses set, before the first forward pass (class attributes or in
    ``__init__``):

    * ``downsample_rate`` (int): input samples per output frame (the stride;
      160 for 10 ms frames, 320 for 20 ms frames at 16 kHz);
    * ``receptive_field`` (int): the fewest samples that give one frame;
    * ``hidden_sizes`` (list[int]): feature dim of each hidden state, in order;

    and implement :meth:`forward_padded`.

    Attributes:
        sample_rate (int): 16000 Hz, the rate every upstream expects.
        num_layers (int): ``len(hidden_sizes)``, the number of hidden states.
    """

    sample_rate: int = 16000
    #: Regroup a batch by length when padding would exceed this fraction of
    #: the computed samples (``None``: never regroup). Results do not depend
    #: on it, since a wav's frames do not depend on its batch.
    max_padding_waste: float | None = 0.1
    downsample_rate: int = 160
    receptive_field: int = 400
    hidden_sizes: list[int] = []

    @property
    def num_layers(self) -> int:
        """Number of hidden states returned by every forward pass."""
        return len(self.hidden_sizes)

    def _model_device(self) -> torch.device | None:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return None

    def _model_dtype(self) -> torch.dtype:
        for t in self.parameters():
            if t.is_floating_point():
                return t.dtype
        return torch.float32

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """Compute the hidden states of a zero-padded batch.

        Args:
            wavs: ``(batch, samples)`` waveforms in the model's dtype, zero
                padded on the right.
            wavs_len: ``(batch,)`` long tensor, valid samples per wav.

        Returns:
            ``(hidden_states, hidden_states_len)``: a list of
            ``(batch, frames, hidden_sizes[i])`` tensors and a ``(batch,)`` long
            tensor of valid frames per wav. The valid frames of a wav must not
            depend on the other wavs of the batch; the base class zeroes the
            padded frames afterwards.
        """
        raise NotImplementedError

    def forward(self, wavs: Sequence[Tensor]) -> dict[str, object]:
        """Hidden states of a list of unpadded waveforms.

        Wavs of very different lengths are regrouped internally (see
        :attr:`max_padding_waste`) so that little compute goes to padding; the
        results come back in the caller's order, in one padded batch.

        Args:
            wavs: non-empty list of 1-D floating tensors (16 kHz mono, any
                lengths of at least ``receptive_field`` samples, all on the
                model's device).

        Returns:
            dict with ``hidden_states`` (list of ``num_layers`` tensors of shape
            ``(batch, frames, hidden_sizes[i])``, zero past each wav's valid
            frames; fp32, or the model's / autocast dtype), ``last_hidden_state``
            (``hidden_states[-1]``) and ``hidden_states_len`` (``(batch,)`` long
            tensor of valid frames).

        Raises:
            TypeError, ValueError: bad input, see :func:`check_wavs`.
        """
        check_wavs(wavs, self.receptive_field, self._model_device())
        groups = length_groups([w.numel() for w in wavs], self.max_padding_waste)
        if len(groups) == 1:
            hidden_states, hs_len = self._forward_group(wavs)
        else:
            parts = [(idx, *self._forward_group([wavs[i] for i in idx])) for idx in groups]
            hidden_states, hs_len = _merge_groups(parts, len(wavs))
        return {
            "hidden_states": hidden_states,
            "last_hidden_state": hidden_states[-1],
            "hidden_states_len": hs_len,
        }

    def _forward_group(self, wavs: Sequence[Tensor]) -> tuple[list[Tensor], Tensor]:
        padded, lengths = pad_wavs(wavs, dtype=self._model_dtype())
        hidden_states, hs_len = self.forward_padded(padded, lengths)
        hidden_states = list(hidden_states)
        if len(hidden_states) != self.num_layers:
            raise RuntimeError(
                f"{type(self).__name__} produced {len(hidden_states)} hidden states "
                f"but declares num_layers={self.num_layers}"
            )
        hs_len = hs_len.to(device=hidden_states[0].device, dtype=torch.long)
        max_frames = hidden_states[0].size(1)
        mask = padding_mask(hs_len, max_frames)
        if not bool(mask.all()):
            hidden_states = [h.masked_fill(~mask[:, :, None], 0.0) for h in hidden_states]
        return hidden_states, hs_len


def length_groups(lengths: Sequence[int], max_waste: float | None) -> list[list[int]]:
    """Split batch indices into groups of similar length.

    Greedy over lengths sorted longest first: a wav joins the current group
    while the group's padding (samples added to reach its longest wav) stays
    at most ``max_waste`` of the group's padded size.

    Args:
        lengths: samples per wav.
        max_waste: allowed padding fraction per group, or ``None`` for a
            single group (no regrouping).

    Returns:
        List of index lists; one group holding every index when nothing needs
        regrouping.
    """
    n = len(lengths)
    if max_waste is None or n < 2:
        return [list(range(n))]
    order = sorted(range(n), key=lambda i: -lengths[i])
    total_pad = sum(lengths[order[0]] - length for length in lengths)
    if total_pad <= max_waste * n * lengths[order[0]]:
        return [list(range(n))]
    groups: list[list[int]] = []
    current: list[int] = []
    pad = 0
    for i in order:
        if current:
            longest = lengths[current[0]]
            new_pad = pad + longest - lengths[i]
            if new_pad <= max_waste * (len(current) + 1) * longest:
                current.append(i)
                pad = new_pad
                continue
            groups.append(current)
        current, pad = [i], 0
    groups.append(current)
    return groups


def _merge_groups(parts, batch: int) -> tuple[list[Tensor], Tensor]:
    """Scatter per-group results back into one zero-padded batch in caller order."""
    first = parts[0][1]
    device = first[0].device
    max_frames = max(hs[0].size(1) for _, hs, _ in parts)
    merged = [
        h.new_zeros((batch, max_frames, h.size(2))) for h in first
    ]
    hs_len = torch.zeros(batch, dtype=torch.long, device=device)
    for idx, hs, lens in parts:
        index = torch.tensor(idx, device=device)
        for out, h in zip(merged, hs):
            out[index, : h.size(1)] = h
        hs_len[index] = lens
    return merged, hs_len
