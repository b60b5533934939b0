"""The checkpoint layout of the APC series (APC, VQ-APC, NPC) and its validation.

The released APC, VQ-APC and NPC checkpoints of the original s3prl toolkit
(``https://huggingface.co/leo19941227/apc_series``; trained with the code of
https://github.com/iamyuanchung/VQ-APC and https://github.com/Alexander-H-Liu/NPC)
are ``torch.save`` d dicts::

    {
        "config": {
            "data": {"audio": {"feat_type": "fbank", "feat_dim": 80,
                               "frame_length": 25, "frame_shift": 10,
                               "decode_wav": False, "cmvn": True}, ...},
            "model": {"paras": {...architecture...}, ...},
            ...
        },
        "model": {parameter name: tensor, ...},   # the model's state_dict
        ...                                       # optimizer / step bookkeeping
    }

The original toolkit reads only ``config["data"]["audio"]`` (the input
features), ``config["model"]["paras"]`` (the architecture) and ``model`` (the
weights); other top-level entries (optimizer state, step counters) are
training bookkeeping and are not read. This module reads that layout with the
safe loader and turns the audio settings into the baseline fbank features.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import torch
from torch import Tensor

from s3prl.util.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

__all__ = [
    "read_config_model_checkpoint",
    "check_options",
    "check_vq_paras",
    "training_head_keys",
    "load_weights",
    "fbank_options",
    "build_frontend",
]


def read_config_model_checkpoint(path: str | os.PathLike, family: str) -> tuple[dict, dict]:
    """Read a ``{"config": ..., "model": state_dict}`` checkpoint safely.

    Args:
        path: local checkpoint file.
        family: model name used in error messages ("APC", "NPC").

    Returns:
        ``(config, state)``: the config as plain dicts/lists/scalars and the
        state dict (parameter name -> tensor, on CPU).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not in the layout (no ``config``/``model``
            entry, or ``model`` is not a name -> tensor dict); the message
            names what is missing.
    """
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, Mapping):
        raise ValueError(
            f"{family} checkpoint {path} holds a {type(ckpt).__name__}, not the original "
            "toolkit's dict with 'config' and 'model'"
        )
    missing = [k for k in ("config", "model") if k not in ckpt]
    if missing:
        raise ValueError(
            f"{family} checkpoint {path} lacks the key(s) {missing} (found {sorted(map(str, ckpt))}); "
            "expected the original s3prl toolkit layout {'config': {...}, 'model': state_dict}"
        )
    config = to_plain(ckpt["config"])
    if not isinstance(config, Mapping):
        raise ValueError(f"{family} checkpoint {path}: 'config' is a {type(config).__name__}, not a dict")
    state = ckpt["model"]
    if not isinstance(state, Mapping):
        raise ValueError(
            f"{family} checkpoint {path}: 'model' must be a state dict (parameter name -> tensor)"
        )
    note_unused_entries(path, [k for k in ckpt if k not in ("config", "model")])
    for section in ("data", "model"):
        if not isinstance(config.get(section), Mapping):
            raise ValueError(f"{family} checkpoint {path}: config has no '{section}' section")
    if not isinstance(config["data"].get("audio"), Mapping):
        raise ValueError(f"{family} checkpoint {path}: config['data'] has no 'audio' settings")
    if not isinstance(config["model"].get("paras"), Mapping):
        raise ValueError(f"{family} checkpoint {path}: config['model'] has no 'paras' (architecture)")
    return dict(config), dict(state)


def check_options(options: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming the keys of ``options`` not in ``allowed``."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"{where} has unknown setting(s) {unknown}; known: {sorted(allowed)}"
        )


VQ_PARAS = ("codebook_size", "code_dim", "gumbel_temperature")


def check_vq_paras(vq: Any, hidden_size: int, where: str) -> int:
    """Check the ``vq`` entry of a VQ-APC / NPC ``config['model']['paras']``.

    Args:
        vq: ``{"codebook_size": [int, ...], "code_dim": [int, ...],
            "gumbel_temperature": float}`` (one codebook per group), or None.
        hidden_size: the quantised layer's size; the ``code_dim`` must sum to it.
        where: where ``vq`` was read, for the message.

    Returns:
        The number of codebook groups (0 when ``vq`` is None).

    Raises:
        ValueError: ``vq`` is not a dict, has unknown settings, or its
            ``codebook_size`` / ``code_dim`` lists differ in length, are empty
            or do not sum to ``hidden_size``.
    """
    if vq is None:
        return 0
    if not isinstance(vq, Mapping):
        raise ValueError(f"{where}['vq'] must be a dict, got {type(vq).__name__}")
    check_options(vq, VQ_PARAS, f"{where}['vq']")
    sizes, dims = list(vq.get("codebook_size", [])), list(vq.get("code_dim", []))
    if len(sizes) != len(dims) or not sizes or sum(dims) != hidden_size:
        raise ValueError(
            f"{where}['vq']: codebook_size {sizes} and code_dim {dims} must have the "
            f"same non-zero length and code_dim must sum to hidden_size {hidden_size}"
        )
    return len(sizes)


def training_head_keys(vq_groups: int) -> list[str]:
    """State-dict keys of the training-only heads of APC / VQ-APC / NPC checkpoints:
    the ``postnet`` (predicts the future frame) and each VQ group's ``vq_layers.<g>.*``
    (the hidden states are taken before quantisation). They must be in the file
    (see :func:`load_weights`) but are not loaded."""
    ignored = ["postnet.weight", "postnet.bias"]
    for g in range(vq_groups):
        ignored += [
            f"vq_layers.{g}.vq_logits.weight",
            f"vq_layers.{g}.vq_logits.bias",
            f"vq_layers.{g}.codebook_CxE.weight",
        ]
    return ignored


def load_weights(
    module: torch.nn.Module,
    state: Mapping[str, Tensor],
    ignored: Iterable[str],
    family: str,
    path: str | os.PathLike,
) -> None:
    """Load the checkpoint's ``model`` state dict into ``module`` with
    :func:`s3prl.util.checkpoint.load_state_dict_strict`.

    Args:
        module: the model whose ``state_dict()`` keys are the used weights.
        state: the checkpoint's state dict.
        ignored: keys the original model has but that do not feed the hidden
            states (training-only heads, :func:`training_head_keys`): they must be
            present but are not read.
        family: model name for the message.
        path: the checkpoint file, named in the message.

    Raises:
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): missing
            or unexpected keys, wrong shapes, non-floating or non-finite weights
            (the file and the keys named).
    """
    load_state_dict_strict(
        module, state, where=path, require_ignored=ignored, what=f"the {family} architecture in its config"
    )


#: Keys of ``config["data"]["audio"]`` the original toolkit understands. The
#: original passes ``frame_length``/``frame_shift`` (ms) on to Kaldi's fbank;
#: ``decode_wav`` only chose how files were read during training.
AUDIO_KEYS = ("feat_type", "feat_dim", "frame_length", "frame_shift", "decode_wav", "cmvn")


def fbank_options(audio: Mapping[str, Any], family: str) -> dict:
    """Validate ``config["data"]["audio"]`` and return the fbank settings.

    The original (``upstream/apc/audio.py`` and ``upstream/npc/audio.py`` of
    s3prl, identical to ``src/audio.py`` of Alexander-H-Liu/NPC) computes
    Kaldi-compatible log mel filterbanks with a Hamming window on the
    waveform in [-1, 1], ``feat_dim`` mel bins, 16 kHz, ``frame_length`` /
    ``frame_shift`` ms (Kaldi defaults 25 / 10 otherwise: dither 0,
    pre-emphasis 0.97, DC offset removal, snip edges, power spectrum, 20 Hz to
    Nyquist), then, if ``cmvn`` (default True), per-utterance mean and
    variance normalisation ``(x - mean) / (1e-10 + std)`` with the unbiased
    standard deviation over the utterance's frames. (One difference: a wav
    with a single frame gets zeros here, where the original's unbiased std of
    one frame is NaN.)

    Returns:
        dict with ``num_mel_bins``, ``frame_length_ms``, ``frame_shift_ms``,
        ``cmvn`` (bool).

    Raises:
        ValueError: an unknown audio setting, or ``feat_type`` other than
            ``"fbank"`` (the only type the original implements).
    """
    check_options(audio, AUDIO_KEYS, f"{family} checkpoint config['data']['audio']")
    feat_type = audio.get("feat_type", "fbank")
    if feat_type != "fbank":
        raise ValueError(
            f"{family} checkpoint config['data']['audio']['feat_type'] is {feat_type!r}; "
            "the original toolkit implements only 'fbank'"
        )
    if "feat_dim" not in audio:
        raise ValueError(f"{family} checkpoint config['data']['audio'] lacks 'feat_dim'")
    return {
        "num_mel_bins": int(audio["feat_dim"]),
        "frame_length_ms": float(audio.get("frame_length", 25.0)),
        "frame_shift_ms": float(audio.get("frame_shift", 10.0)),
        "cmvn": bool(audio.get("cmvn", True)),
    }


def build_frontend(audio: Mapping[str, Any], family: str):
    """The input features of a checkpoint: the baseline Kaldi fbank + CMVN.

    Translates ``config["data"]["audio"]`` (see :func:`fbank_options`) into a
    :class:`s3prl.upstream.baseline.features.FeatureExtractor` config: Kaldi
    fbank with ``window_type="hamming"`` (the original's ``WINDOW_TYPE``),
    no deltas, per-utterance CMVN with eps 1e-10 if ``cmvn``.

    Returns:
        the ``FeatureExtractor`` module: ``(wavs, wavs_len) -> (feats, frames_len)``
        with ``feats`` ``(batch, frames, feat_dim)`` zero past ``frames_len``;
        ``output_dim``, ``downsample_rate`` (hop, samples) and
        ``receptive_field`` (window, samples) attributes.
    """
    from s3prl.upstream.baseline.features import FeatureExtractor

    opts = fbank_options(audio, family)
    return FeatureExtractor(
        {
            "kaldi": {
                "feat_type": "fbank",
                "fbank": {
                    "num_mel_bins": opts["num_mel_bins"],
                    "frame_length": opts["frame_length_ms"],
                    "frame_shift": opts["frame_shift_ms"],
                    "window_type": "hamming",
                    "dither": 0.0,
                },
            },
            "delta": {"order": 0},
            "cmvn": {"use_cmvn": opts["cmvn"], "eps": 1e-10},
        }
    )
