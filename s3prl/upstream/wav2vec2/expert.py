"""wav2vec 2.0 / XLS-R upstream, and the generic wav2vec 2.0-style upstream the
other families (HuBERT, data2vec, WavLM, UniSpeech-SAT) build on.

:class:`Wav2Vec2StyleUpstream` wraps a :class:`~.modules.Wav2Vec2Model` built from a
:class:`~.modules.Wav2Vec2Config` in the :class:`~s3prl.upstream.interface.UpstreamBase`
interface. :class:`UpstreamExpert` (wav2vec 2.0 / XLS-R) reads a checkpoint in any layout of
:mod:`s3prl.upstream.wav2vec2.loading` and builds one; the other families subclass it.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Optional

import torch
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase

from .loading import config_from_fairseq, load_weights, read_fairseq_checkpoint, rename_fairseq_keys
from .modules import LayerFactory, Wav2Vec2Config, Wav2Vec2Model

__all__ = ["Wav2Vec2StyleUpstream", "UpstreamExpert", "read_config_and_weights"]


class Wav2Vec2StyleUpstream(UpstreamBase):
    """Upstream of a wav2vec 2.0-style model (any family sharing the architecture).

    Args:
        config: the architecture.
        state_dict: weights with :class:`~.modules.Wav2Vec2Model` names (fairseq
            names after :func:`~.loading.rename_fairseq_keys`), or ``None`` to keep
            the random initialisation (tests only).
        layer_factory: the encoder-layer plug point (see :mod:`.modules`).
        encoder: another encoder in place of the Transformer one (see
            :class:`~.modules.Wav2Vec2Model`; e.g. the wav2vec 2.0 Conformer's).
        ignored_keys, ignored_prefixes: more training-only weights of this family
            to drop on loading (besides :data:`~.loading.TRAINING_ONLY_KEYS`).
        dtype: parameter dtype (e.g. ``torch.float16`` / ``torch.bfloat16`` on GPU);
            input waveforms are cast to it by the interface. Default fp32.
        source: the checkpoint file (or model folder) the weights came from.
        what: what the weights are compared with, for error messages.

    Input: list of 1-D float waveforms at 16 kHz, each >= ``receptive_field``
    (400) samples. Output: ``num_layers + 1`` hidden states ``(batch, frames,
    embed_dim)`` with ``frames = floor((samples - 400) / 320) + 1`` (see
    :mod:`.modules` for what each hidden state is).

    Raises:
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights
            missing, unexpected, misshapen, non-floating or non-finite (``source``
            and the keys named; see :func:`~.loading.load_weights`).
    """

    def __init__(
        self,
        config: Wav2Vec2Config,
        state_dict: Optional[Mapping[str, Tensor]] = None,
        layer_factory: Optional[LayerFactory] = None,
        ignored_keys: Iterable[str] = (),
        ignored_prefixes: Iterable[str] = (),
        dtype: Optional[torch.dtype] = None,
        source: Any = "checkpoint",
        what: str = "the architecture read from it",
        encoder: Optional[nn.Module] = None,
    ):
        super().__init__()
        self.config = config
        self.model = Wav2Vec2Model(config, layer_factory, encoder)
        if state_dict is not None:
            load_weights(self.model, state_dict, source, ignored_keys, ignored_prefixes, what)
        self.downsample_rate = config.downsample_rate
        self.receptive_field = config.receptive_field
        self.hidden_sizes = [config.embed_dim] * (config.num_layers + 1)
        self.cast_parameters(dtype)
        self.eval()

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` (batch, samples) zero padded, ``wavs_len`` (batch,) ->
        (``num_layers + 1`` x (batch, frames, embed_dim), (batch,) valid frames)."""
        return self.model(wavs, wavs_len)


def read_config_and_weights(
    ckpt: str | os.PathLike, family: str = "wav2vec2", **config_overrides
) -> tuple[Wav2Vec2Config, dict, str]:
    """Read a local wav2vec 2.0-style checkpoint: its architecture and renamed weights.

    Args:
        ckpt: local file in any layout of :mod:`.loading`.
        family: family name for messages ("wav2vec2", "hubert", "data2vec").
        config_overrides: :class:`~.modules.Wav2Vec2Config` fields to override
            (e.g. ``normalize=False``).

    Returns:
        ``(config, state_dict, what)``: the architecture, the weights with
        :class:`~.modules.Wav2Vec2Model` names, what they are checked against
        (for messages).

    Raises:
        FileNotFoundError, s3prl.util.checkpoint.UnsafeCheckpointError: see
            :func:`~.loading.read_fairseq_checkpoint`.
        ValueError: unknown layout or unsupported architecture option.
    """
    read = read_fairseq_checkpoint(ckpt)
    config = config_from_fairseq(read.model_cfg, read.task_cfg, **config_overrides)
    state = rename_fairseq_keys(read.state_dict, config.pos_conv_depth)
    return config, state, f"the {family} architecture read from it ({read.layout} layout)"


class UpstreamExpert(Wav2Vec2StyleUpstream):
    """wav2vec 2.0 / XLS-R upstream from a local checkpoint (any layout of :mod:`.loading`),
    its architecture read from the checkpoint.

    Baevski et al. 2020, https://arxiv.org/abs/2006.11477; XLS-R: Babu et al. 2021,
    https://arxiv.org/abs/2111.09296.

    Args:
        ckpt: local checkpoint path.
        dtype: parameter dtype (default fp32).
        config_overrides: :class:`~.modules.Wav2Vec2Config` fields to override.

    See :class:`Wav2Vec2StyleUpstream` for input/output, and
    :func:`read_config_and_weights` / :func:`~.loading.load_weights` for errors.
    """

    family = "wav2vec2"
    #: more training-only weights of this family (besides the shared list)
    extra_ignored_keys: tuple[str, ...] = ()
    extra_ignored_prefixes: tuple[str, ...] = ()

    def __init__(self, ckpt: str | os.PathLike, dtype: Optional[torch.dtype] = None, **config_overrides):
        config, state, what = read_config_and_weights(ckpt, self.family, **config_overrides)
        super().__init__(
            config, state, ignored_keys=self.extra_ignored_keys,
            ignored_prefixes=self.extra_ignored_prefixes, dtype=dtype, source=ckpt, what=what,
        )
