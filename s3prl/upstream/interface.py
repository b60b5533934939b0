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

Precision (one mechanism for every upstream, see :meth:`UpstreamBase.set_dtype`):
every hub entry takes ``dtype=`` (``torch.bfloat16``, ``torch.float16``, or
``"bf16"`` / ``"fp16"`` / ``"fp32"``). The forward pass then runs under
``torch.autocast(<wav device>, dtype)``: matrix products, convolutions and
recurrent layers compute in that dtype, precision-sensitive operations (norms,
softmax, the float64 feature front ends of ``fbank``/``mfcc``/...) keep theirs,
and every returned hidden state is cast to ``dtype``. Families whose entries
convert the parameters themselves (wav2vec 2.0, HuBERT, data2vec, WavLM, ...)
also store their parameters in ``dtype``; the others keep fp32 parameters.
Under a caller's ``torch.autocast(device, dtype=...)`` the hidden states come
back in the autocast dtype; otherwise in the parameters' dtype (fp32 by
default).
"""

from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "UpstreamBase",
    "resolve_dtype",
    "check_wavs",
    "MAX_ABS_SAMPLE",
    "pad_wavs",
    "padding_mask",
    "padding_mask_or_none",
    "conv_frames",
    "length_groups",
]


MAX_ABS_SAMPLE = 2.0**31
"""Largest sample magnitude an upstream accepts (:func:`check_wavs`).

Upstreams expect waveforms in ``[-1, 1]``; int16- or int32-scaled PCM stored as float
(``|x| <= 2**31``, the int32 full scale) is still accepted. Anything larger is no audio
convention and, near the float32 maximum (3.4e38), overflows inside the models: the
convolutional encoders of wav2vec 2.0 / HuBERT and CPC return Inf/NaN hidden states for
samples of 3e38 without any error.
"""


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
            for multi-channel audio: mix it down first); wav *i* is on the
            ``meta`` device (a shape without samples); wav *i* has NaN/Inf or a
            sample of magnitude above :data:`MAX_ABS_SAMPLE` (``2**31``); wav *i*
            is shorter than ``min_samples``; the wavs are on different devices or
            not on ``device``.
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
        if wav.device.type == "meta":
            raise ValueError(
                f"wav {i} is on the meta device: it has a shape {tuple(wav.shape)} but no "
                "samples; create or load the waveform on cpu or cuda"
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
    # One pass per wav (min and max, no copy) and one sync for the NaN/Inf and range
    # checks (NaN fails both comparisons); locate the culprit only on failure.
    bounds = torch.stack([torch.stack(torch.aminmax(w.detach())) for w in wavs]).float()
    ok = (bounds[:, 0] >= -MAX_ABS_SAMPLE) & (bounds[:, 1] <= MAX_ABS_SAMPLE)
    if not bool(ok.all()):
        bad = int((~ok).nonzero()[0, 0])
        if not torch.isfinite(wavs[bad]).all():
            raise ValueError(f"wav {bad} contains NaN or Inf values")
        peak = float(wavs[bad].detach().abs().max())
        raise ValueError(
            f"wav {bad} has a sample of magnitude {peak:.3g}, above the largest accepted "
            f"{MAX_ABS_SAMPLE:.0f} (2**31, int32 PCM full scale): upstreams take waveforms in "
            "[-1, 1]; scale it first (e.g. wav / wav.abs().max())"
        )


_DTYPE_NAMES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """The compute dtype an upstream accepts, from a ``torch.dtype`` or a name.

    Args:
        dtype: ``torch.float32`` / ``torch.bfloat16`` / ``torch.float16``, one of
            the names ``"fp32"``, ``"float32"``, ``"bf16"``, ``"bfloat16"``,
            ``"fp16"``, ``"float16"``, or ``None`` (default precision).

    Returns:
        The ``torch.dtype``, or ``None`` for ``None``.

    Raises:
        TypeError: anything else (an integer dtype, float64, an unknown name);
            the message names the accepted values.
    """
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype.lower() in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype.lower()]
    if isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.bfloat16, torch.float16):
        return dtype
    raise TypeError(
        f"dtype must be torch.float32, torch.bfloat16 or torch.float16 (or 'fp32', 'bf16', "
        f"'fp16'), got {dtype!r}"
    )


_LOW_PRECISION = (torch.bfloat16, torch.float16)


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


def padding_mask_or_none(lengths: Tensor, max_len: int) -> Tensor | None:
    """:func:`padding_mask` of width ``max_len``, or ``None`` when no sequence is shorter
    than ``max_len`` (encoders then skip masking: the unmasked attention path).

    Args:
        lengths: ``(batch,)`` integer tensor of valid lengths.
        max_len: width of the mask (the padded number of frames).
    """
    if bool((lengths >= max_len).all()):
        return None
    return padding_mask(lengths, max_len)


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


#: The metadata every upstream must set (see :class:`UpstreamBase`).
REQUIRED_METADATA = ("downsample_rate", "receptive_field", "hidden_sizes")


def _check_metadata_value(owner: str, name: str, value) -> None:
    """Raise ``TypeError``/``ValueError`` naming ``owner.name`` unless ``value`` is valid."""
    if name == "hidden_sizes":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{owner}.hidden_sizes must be a list of ints (one feature dim per "
                            f"hidden state), got {type(value).__name__}")
        if not value:
            raise ValueError(f"{owner}.hidden_sizes is empty: an upstream returns at least one "
                             "hidden state")
        for i, v in enumerate(value):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{owner}.hidden_sizes[{i}] must be a positive int, got {v!r}")
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}.{name} must be an int (samples at 16 kHz), got "
                        f"{type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive number of samples, got {value}")


class _UpstreamMeta(type):
    """Checks an upstream's metadata once its ``__init__`` has run (the outermost
    one, so subclasses may set it after ``super().__init__()``)."""

    def __call__(cls, *args, **kwargs):
        obj = super().__call__(*args, **kwargs)
        obj._check_metadata()
        return obj


class UpstreamBase(nn.Module, metaclass=_UpstreamMeta):
    """Base class of every upstream (``UpstreamExpert``).

    Subclasses must set (class attributes or in ``__init__``; there are no
    defaults, so that a family that forgets one fails instead of reporting
    plausible wrong metadata):

    * ``downsample_rate`` (int): input samples per output frame (the stride;
      160 for 10 ms frames, 320 for 20 ms frames at 16 kHz);
    * ``receptive_field`` (int): the fewest samples that give one frame;
    * ``hidden_sizes`` (list[int]): feature dim of each hidden state, in order;

    and implement :meth:`forward_padded`. Values given as class attributes are
    checked when the subclass is created; all three are checked when an
    instance has been built (``TypeError`` when one is missing or of the wrong
    type, ``ValueError`` when it is not positive / empty, naming the class and
    the attribute). Each instance gets its own ``hidden_sizes`` list.

    Attributes:
        sample_rate (int): 16000 Hz, the rate every upstream expects.
        num_layers (int): ``len(hidden_sizes)``, the number of hidden states.
    """

    sample_rate: int = 16000
    #: Regroup a batch by length when padding would exceed this fraction of
    #: the computed samples (``None``: never regroup). Results do not depend
    #: on it, since a wav's frames do not depend on its batch.
    max_padding_waste: float | None = 0.1
    downsample_rate: int
    receptive_field: int
    hidden_sizes: list[int]
    #: Reduced precision of the forward pass (``torch.bfloat16`` /
    #: ``torch.float16``), or ``None`` for the parameters' dtype. Set it with
    #: :meth:`set_dtype` or an entry's ``dtype=`` option.
    compute_dtype: torch.dtype | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in REQUIRED_METADATA:
            if name in cls.__dict__:
                _check_metadata_value(cls.__name__, name, cls.__dict__[name])

    def _check_metadata(self) -> None:
        """Check that the built upstream set its metadata (see the class docstring).

        Raises:
            TypeError: an attribute is missing or of the wrong type.
            ValueError: an attribute is not positive, or ``hidden_sizes`` is empty.
        """
        owner = type(self).__name__
        for name in REQUIRED_METADATA:
            if not hasattr(self, name):
                raise TypeError(
                    f"{owner} does not set {name}: every upstream sets downsample_rate, "
                    "receptive_field and hidden_sizes (class attributes or in __init__)"
                )
            _check_metadata_value(owner, name, getattr(self, name))
        self.hidden_sizes = list(self.hidden_sizes)  # this instance's own list

    def set_dtype(self, dtype: torch.dtype | str | None) -> "UpstreamBase":
        """Run every later forward pass in ``dtype`` (autocast), for any upstream.

        The parameters are left as they are (fp32 unless the family's entry
        converted them); each forward pass runs under
        ``torch.autocast(<device of the wavs>, dtype=dtype)`` so that matrix
        products, convolutions and recurrent layers compute in ``dtype`` while
        norms, softmax and float64 feature front ends keep their precision,
        and every returned hidden state is cast to ``dtype``. The wavs are
        still given in fp32. Every hub entry's ``dtype=`` option calls this.

        Args:
            dtype: ``torch.bfloat16`` or ``torch.float16`` (or ``"bf16"`` /
                ``"fp16"``); ``torch.float32`` / ``"fp32"`` / ``None`` switch
                autocast off (the parameters' dtype again).

        Returns:
            ``self``, so that ``model = hub.fbank().set_dtype("bf16")`` works.

        Raises:
            TypeError: ``dtype`` is not one of these (see :func:`resolve_dtype`).
        """
        dtype = resolve_dtype(dtype)
        self.compute_dtype = None if dtype in (None, torch.float32) else dtype
        return self

    def cast_parameters(self, dtype: torch.dtype | str | None) -> "UpstreamBase":
        """Store the parameters in ``dtype`` (for families whose entries take
        ``dtype`` to halve GPU memory); ``None`` leaves them as they are.

        Raises:
            TypeError: ``dtype`` is not accepted by :func:`resolve_dtype`.
        """
        dtype = resolve_dtype(dtype)
        if dtype is not None:
            self.to(dtype)
        return self

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
            wavs: ``(batch, samples)`` waveforms, zero padded on the right, in
                the parameters' dtype, or in fp32 when the parameters are
                bf16/fp16 (the pass then runs under ``torch.autocast``): a
                family normalises / computes its features on this batch first
                and lets autocast (or an explicit cast) bring the result to the
                low precision, never the raw waveform.
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
            frames; dtype :meth:`output_dtype`: fp32 by default, else the
            ``dtype=`` option's, the caller's autocast or the parameters' dtype),
            ``last_hidden_state``
            (``hidden_states[-1]``) and ``hidden_states_len`` (``(batch,)`` long
            tensor of valid frames).

        Raises:
            TypeError, ValueError: bad input, see :func:`check_wavs`.
        """
        check_wavs(wavs, self.receptive_field, self._model_device())
        groups = length_groups([w.numel() for w in wavs], self.max_padding_waste)
        device_type = wavs[0].device.type
        out_dtype = self.output_dtype(device_type)
        with self._autocast(device_type):
            if len(groups) == 1:
                hidden_states, hs_len = self._forward_group(wavs, out_dtype)
            else:
                parts = [(idx, *self._forward_group([wavs[i] for i in idx], out_dtype)) for idx in groups]
                hidden_states, hs_len = _merge_groups(parts, len(wavs))
        return {
            "hidden_states": hidden_states,
            "last_hidden_state": hidden_states[-1],
            "hidden_states_len": hs_len,
        }

    def output_dtype(self, device_type: str = "cpu") -> torch.dtype:
        """The dtype of the hidden states a forward pass on ``device_type`` returns.

        :attr:`compute_dtype` when set; else the autocast dtype when the
        caller runs the model inside ``torch.autocast(device_type, ...)``; else
        the parameters' dtype (fp32 by default).
        """
        if self.compute_dtype is not None:
            return self.compute_dtype
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
        return self._model_dtype()

    def _autocast(self, device_type: str):
        if self.compute_dtype is not None:
            return torch.autocast(device_type, dtype=self.compute_dtype)
        model_dtype = self._model_dtype()
        if model_dtype in _LOW_PRECISION and not torch.is_autocast_enabled(device_type):
            # low-precision parameters without set_dtype: the fp32 waveform batch (see
            # _batch_dtype) meets them under autocast in the parameters' dtype
            return torch.autocast(device_type, dtype=model_dtype)
        return contextlib.nullcontext()

    def _batch_dtype(self) -> torch.dtype:
        """dtype of the padded waveform batch given to :meth:`forward_padded`: the
        parameters' dtype, but fp32 when they are bf16/fp16, so that waveform
        normalisation and feature front ends see the waveform before any rounding
        to low precision (the forward pass runs under autocast then)."""
        model_dtype = self._model_dtype()
        return torch.float32 if model_dtype in _LOW_PRECISION else model_dtype

    def _forward_group(
        self, wavs: Sequence[Tensor], out_dtype: torch.dtype | None = None
    ) -> tuple[list[Tensor], Tensor]:
        padded, lengths = pad_wavs(wavs, dtype=self._batch_dtype())
        hidden_states, hs_len = self.forward_padded(padded, lengths)
        hidden_states = list(hidden_states)
        if out_dtype is not None:
            hidden_states = [h if h.dtype == out_dtype else h.to(out_dtype) for h in hidden_states]
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
