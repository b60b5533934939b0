"""The HEAR 2021 common API for every s3prl upstream.

HEAR (Holistic Evaluation of Audio Representations, Turian et al., 2022,
https://arxiv.org/abs/2203.03022; API: https://hearbenchmark.com/hear-api.html)
evaluates a representation through three module-level functions. This module
provides them for any entry of :mod:`s3prl.hub`::

    import s3prl.hear as hear

    model = hear.load_model(name="hubert_base")             # official checkpoint
    model = hear.load_model("/path/hubert.pt", name="hubert_local", layer=6)
    audio = torch.rand(2, 32000) * 2 - 1                     # (n_sounds, n_samples), 16 kHz
    emb, ts = hear.get_timestamp_embeddings(audio, model)   # (2, frames, dim), (2, frames) ms
    scene = hear.get_scene_embeddings(audio, model)          # (2, dim)

Layer choice (``layer=`` of :func:`load_model`):

* ``"last"`` (default): the last hidden state;
* an ``int``: that hidden state (Python indexing, ``0`` is the first hidden state
  the upstream returns, ``-1`` the last);
* ``"mean"``: the mean of all hidden states (every hidden state must have the
  same size, otherwise :class:`ValueError`).

Timestamps (regularly spaced, as HEAR requires): frame ``k`` of an upstream
starts at sample ``k * downsample_rate`` and spans ``frame_window`` samples (the
upstream's ``receptive_field`` unless it declares a ``frame_window`` attribute,
e.g. a model that sees fixed 1 s or 10.24 s windows); its timestamp is
``k * downsample_rate + frame_window / 2``, in milliseconds. When the last frames
of a fixed-window model overhang the end of the audio (their windows were zero
padded), the common offset is lowered so that the last timestamp is the end of
the audio (every frame shifts by the same amount). Upstreams whose frames are
centred on ``k * downsample_rate`` (centred STFT front ends: ``mel``, ``linear``;
PaSST; any upstream declaring ``frame_centre_offset = 0``) get
``k * downsample_rate``; ``frame_centre_offset`` (samples from the frame start to
its centre) overrides the rule for any upstream. Timestamps are nominal: models
whose fixed windows hold a non-integer number of strides (SSAST: 99 frames per
1 s window, AST ``hidden_states``: 101 patches per 10.24 s) drift from them by up
to 1 % within the audio, and hear-validator's end-coverage check can fail there.

Scene embedding: the mean over frames of the timestamp embeddings (the HEAR
baseline convention).
"""

from __future__ import annotations

from typing import Union

import torch
from torch import Tensor, nn

__all__ = ["HearModel", "load_model", "get_timestamp_embeddings", "get_scene_embeddings"]

LayerChoice = Union[int, str]


def frame_centre_offset(upstream: nn.Module) -> float | None:
    """Samples from the start of a frame (``k * downsample_rate``) to its centre,
    when the upstream's frames are not laid out like snip-edge windows.

    Returns ``None`` for the default rule (centre of ``frame_window`` samples,
    clipped to the audio); ``upstream.frame_centre_offset`` when declared; ``0``
    for the centred STFT front ends of the baseline family (``mel``, ``linear``).
    """
    explicit = getattr(upstream, "frame_centre_offset", None)
    if explicit is not None:
        return float(explicit)
    settings = getattr(getattr(upstream, "extracter", None), "settings", None)
    if isinstance(settings, dict) and settings.get("kind") == "stft":
        return 0.0
    return None


class HearModel(nn.Module):
    """An upstream wrapped for the HEAR API (a ``torch.nn.Module``, as the API asks).

    Attributes:
        upstream: the :class:`s3prl.upstream.interface.UpstreamBase` model.
        layer: ``"last"``, ``"mean"`` or an ``int`` (see the module docstring).
        sample_rate (int): 16000, the rate the audio must have.
        timestamp_embedding_size (int): dim of each timestamp embedding.
        scene_embedding_size (int): dim of each scene embedding (the same).
        name (str): the hub entry name.

    Raises:
        ValueError: ``layer`` is not ``"last"``, ``"mean"`` or an in-range int;
            ``"mean"`` on an upstream whose hidden states differ in size.
    """

    def __init__(self, upstream: nn.Module, layer: LayerChoice = "last", name: str = ""):
        super().__init__()
        self.upstream = upstream.eval()
        self.name = name
        sizes = list(upstream.hidden_sizes)
        if isinstance(layer, bool) or not isinstance(layer, (int, str)):
            raise ValueError(f"layer must be 'last', 'mean' or an int, got {layer!r}")
        if isinstance(layer, str):
            if layer not in ("last", "mean"):
                raise ValueError(f"layer must be 'last', 'mean' or an int, got {layer!r}")
            if layer == "mean" and len(set(sizes)) != 1:
                raise ValueError(
                    f"layer='mean' needs hidden states of one size, but {name or 'this upstream'} "
                    f"has sizes {sizes}: pick one layer (an int) instead"
                )
            dim = sizes[-1]
        else:
            if not -len(sizes) <= layer < len(sizes):
                raise ValueError(
                    f"layer {layer} is out of range: {name or 'this upstream'} has "
                    f"{len(sizes)} hidden states (0..{len(sizes) - 1} or negative indices)"
                )
            dim = sizes[layer]
        self.layer = layer
        self.sample_rate = int(upstream.sample_rate)
        self.timestamp_embedding_size = int(dim)
        self.scene_embedding_size = int(dim)

    def frame_timestamps(self, n_frames: int, n_samples: int, device=None) -> Tensor:
        """Centres of ``n_frames`` frames of audio ``n_samples`` long, in ms.

        Returns:
            ``(n_frames,)`` float32 tensor, increasing by ``downsample_rate`` ms / 16.
        """
        up = self.upstream
        stride = float(up.downsample_rate)
        start = torch.arange(n_frames, dtype=torch.float64, device=device) * stride
        offset = frame_centre_offset(up)
        if offset is None:
            window = float(getattr(up, "frame_window", None) or up.receptive_field)
            offset = window / 2
            if n_frames > 0:  # frames of fixed-window models may overhang the end: stay inside
                offset = max(0.0, min(offset, n_samples - (n_frames - 1) * stride))
        return ((start + offset) * 1000.0 / self.sample_rate).float()

    def select(self, hidden_states: list[Tensor]) -> Tensor:
        """The chosen layer (or the mean of all) of ``hidden_states``, as float32."""
        if self.layer == "last":
            out = hidden_states[-1]
        elif self.layer == "mean":
            out = torch.stack([h.float() for h in hidden_states], dim=0).mean(dim=0)
        else:
            out = hidden_states[self.layer]
        return out.float()

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """Same as :func:`get_timestamp_embeddings` (``audio, self``)."""
        return get_timestamp_embeddings(audio, self)


def load_model(
    model_file_path: str = "", name: str = "hubert_base", layer: LayerChoice = "last", **entry_kwargs
) -> HearModel:
    """Load hub entry ``name`` for the HEAR API.

    Args:
        model_file_path: a checkpoint path or URL, handed to the entry as
            ``ckpt=`` (``""``: the entry's default, i.e. its official checkpoint,
            or nothing for checkpoint-free entries such as ``fbank``).
        name: a :func:`s3prl.hub.options` entry name.
        layer: ``"last"``, ``"mean"`` or an ``int`` (see the module docstring).
        **entry_kwargs: other options of the entry (``refresh``, ``dtype``, ...).

    Returns:
        A :class:`HearModel` in eval mode.

    Raises:
        ValueError: unknown ``name`` (close names listed), bad ``layer``.
    """
    import s3prl.hub as hub

    if model_file_path:
        entry_kwargs["ckpt"] = str(model_file_path)
    upstream = hub.load(name, **entry_kwargs)
    return HearModel(upstream, layer=layer, name=name).eval()


def _check_audio(audio, model) -> Tensor:
    if not isinstance(model, HearModel):
        raise TypeError(
            f"model must be a HearModel from s3prl.hear.load_model, got {type(model).__name__}"
        )
    if not isinstance(audio, Tensor):
        raise TypeError(f"audio must be a torch.Tensor (n_sounds, n_samples), got {type(audio).__name__}")
    if audio.dim() != 2:
        raise ValueError(
            f"audio must be 2-D (n_sounds, n_samples) at {model.sample_rate} Hz, "
            f"got shape {tuple(audio.shape)}"
        )
    if audio.size(0) == 0:
        raise ValueError("audio holds no sounds (n_sounds = 0)")
    if not torch.is_floating_point(audio):
        raise TypeError(f"audio must be floating point in [-1, 1], got {audio.dtype}")
    return audio


def get_timestamp_embeddings(audio: Tensor, model: HearModel) -> tuple[Tensor, Tensor]:
    """Frame-level embeddings and their timestamps (HEAR ``get_timestamp_embeddings``).

    Args:
        audio: ``(n_sounds, n_samples)`` float tensor at ``model.sample_rate``
            (16 kHz), amplitudes in [-1, 1], on the model's device.
        model: a :class:`HearModel` from :func:`load_model`.

    Returns:
        ``(embeddings, timestamps)``: ``(n_sounds, n_frames,
        model.timestamp_embedding_size)`` float32 and ``(n_sounds, n_frames)``
        float32 frame centres in milliseconds (the same row for every sound).

    Raises:
        TypeError, ValueError: ``audio`` is not a 2-D float tensor, or a sound
            is shorter than the upstream's receptive field (the upstream's
            error, naming the wav and the minimum number of samples).
    """
    audio = _check_audio(audio, model)
    with torch.no_grad():
        out = model.upstream(list(audio.float().unbind(0)))
    emb = model.select(out["hidden_states"])
    n_frames = emb.size(1)
    ts = model.frame_timestamps(n_frames, audio.size(1), device=emb.device)
    return emb, ts.unsqueeze(0).expand(audio.size(0), n_frames).contiguous()


def get_scene_embeddings(audio: Tensor, model: HearModel) -> Tensor:
    """One embedding per sound (HEAR ``get_scene_embeddings``): the mean over
    frames of :func:`get_timestamp_embeddings`.

    Args:
        audio: ``(n_sounds, n_samples)`` float tensor at ``model.sample_rate``.
        model: a :class:`HearModel`.

    Returns:
        ``(n_sounds, model.scene_embedding_size)`` float32.
    """
    emb, _ = get_timestamp_embeddings(audio, model)
    return emb.mean(dim=1)
