"""Mockingjay / TERA / Audio ALBERT upstream (one implementation, three families).

Papers:

* Mockingjay: Liu et al., "Mockingjay: Unsupervised Speech Representation
  Learning with Deep Bidirectional Transformer Encoders", ICASSP 2020,
  https://arxiv.org/abs/1910.12638
* TERA: Liu, Li, Lee, "TERA: Self-Supervised Learning of Transformer Encoder
  Representation for Speech", IEEE/ACM TASLP 2021, https://arxiv.org/abs/2007.06028
* Audio ALBERT: Chi et al., "Audio ALBERT: A Lite BERT for Self-supervised
  Learning of Audio Representation", SLT 2021, https://arxiv.org/abs/2005.08575

Checkpoints: the original toolkit's ``states-<step>.ckpt`` files (layouts in
:mod:`s3prl.upstream.mockingjay.layout`); the architecture in
:mod:`s3prl.upstream.mockingjay.transformer`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from s3prl.upstream.interface import UpstreamBase
from s3prl.util.checkpoint import CheckpointKeyError, load_state_dict_strict

from .layout import ParsedCheckpoint, read_checkpoint
from .transformer import TransformerConfig, TransformerEncoderModel

__all__ = ["UpstreamExpert", "split_into_chunks"]


def split_into_chunks(num_frames: int, max_len: int) -> list[tuple[int, int]]:
    """The original's chunking of a long sequence, for one sequence.

    The original toolkit (``TransformerBuilder._forward`` in s3prl
    ``s3prl/upstream/mockingjay/builder.py``) runs sequences longer than the
    trained ``task.sequence_length`` as ``torch.chunk(x, ceil(T / max_len),
    dim=1)``: pieces of ``ceil(T / ceil(T / max_len))`` frames (the last one
    shorter), each encoded independently (positions restart at 0), and
    concatenates the outputs.

    Args:
        num_frames: frames of the sequence (>= 1).
        max_len: trained maximum length; ``<= 0`` means no limit.

    Returns:
        ``[(start, length), ...]`` covering ``range(num_frames)`` in order.
    """
    if max_len <= 0 or num_frames <= max_len:
        return [(0, num_frames)]
    size = math.ceil(num_frames / math.ceil(num_frames / max_len))
    return [(s, min(size, num_frames - s)) for s in range(0, num_frames, size)]


class UpstreamExpert(UpstreamBase):
    """Mockingjay, TERA or Audio ALBERT from a released checkpoint.

    Args:
        ckpt: local ``states-<step>.ckpt`` file in a released layout (see
            :mod:`s3prl.upstream.mockingjay.layout`).
        family: name used in messages ("mockingjay", "tera", "audio_albert").

    Input features are computed from the waveform with the settings that the
    checkpoint's own ``audio`` config records, through
    :class:`s3prl.upstream.baseline.features.FeatureExtractor`:

    * the ``input`` schema (all released log-mel models): each wav is first
      scaled to ``target_level`` dB (``wav * 10^(level/20) / (rms + 1e-10)``,
      rms over the wav's own samples), then log mel (80 bins) of a centred
      400-point STFT every 160 samples (``1 + samples // 160`` frames,
      at least 201 samples), deltas and per-utterance CMVN as configured;
    * the ``kaldi`` schema (``tera_fbankBase_*``): Kaldi fbank with deltas and
      per-utterance CMVN (240 dims; ``1 + (samples - 400) // 160`` frames, at
      least 400 samples); no level scaling, as in the original.

    Hidden states: ``num_hidden_layers + 1`` tensors ``(batch, frames,
    hidden_size)`` in the original's order: the input projection's output
    (feature projection + position encoding + LayerNorm), then the output of
    each transformer layer (pre-LN models: each through its
    ``encoder.LayerNorm.<k>``). ``downsample_rate`` is the feature hop (160
    samples = 10 ms).

    Long inputs: like the original, a wav with more frames than the trained
    maximum ``task.sequence_length`` (1500 for the Base models, 500 for the
    Large one; 0 = no limit) is cut into ``ceil(T / max)`` equal chunks
    (``torch.chunk`` sizes, see :func:`split_into_chunks`) that are encoded
    independently (positions restart at 0 in each chunk, no attention across
    chunks) and concatenated. Unlike the original, which chunks the padded
    batch by its longest wav, the chunks are cut from each wav's own frames, so
    a wav gives the same result alone and in any batch.

    Padding: features, CMVN statistics, positions and attention use only each
    wav's own samples / frames (the original computes the STFT of the padded
    batch and so changes a short wav's last frames; its attention mask is
    additive -10000). Dropout is never applied.

    Legacy ``Settings`` checkpoints (2019-2020 code base): the feature settings
    are the ``online`` section (same fields as ``audio``); the trained maximum
    is ``transformer.max_input_length`` (default 0). With frame stacking
    (``transformer.downsample_rate = dr > 1``) the original concatenates every
    ``dr`` consecutive frames of each chunk (dropping the chunk's last
    ``frames % dr``), encodes them, repeats every output frame ``dr`` times and
    replicates the first / last frame to pad the ``frames % dr`` missing ones
    (``floor / ceil`` of half on the left / right); this is reproduced, so the
    output keeps the 10 ms frame rate (``downsample_rate`` 160) while the
    model's resolution is ``dr`` x 10 ms, and a wav needs at least ``dr``
    frames. The legacy wrapper returned the last layer only; here all
    ``num_hidden_layers + 1`` hidden states are returned, each tiled the same way.

    Raises:
        ValueError: unknown layout, a missing top-level entry (named), a config
            without feature settings (checkpoints trained on pre-extracted
            features). Other top-level entries (``Global_step``, optimizer, runner
            settings) are logged once, not refused.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): weights
            missing, unexpected, misshapen (also: feature dim not matching the
            config), non-floating, non-finite, or shared/aliased copies that differ
            (the file and the keys named).
    """

    def __init__(self, ckpt: str | Path, family: str = "mockingjay"):
        super().__init__()
        from s3prl.upstream.baseline.features import FeatureExtractor

        parsed = read_checkpoint(ckpt)
        self.family = family
        self.layout = parsed.layout
        cfg = parsed.config
        where = f"{parsed.path}: 'transformer' config"
        self.config = TransformerConfig.from_dict(cfg["transformer"], where)
        audio, self.max_input_length, self.stack = self._audio_and_max_len(parsed)
        self.target_level = None
        if "kaldi" not in audio:
            if "target_level" not in audio:
                raise ValueError(
                    f"{parsed.path}: the audio config has no 'target_level' (the dB level every "
                    "wav is scaled to before the STFT features)"
                )
            self.target_level = float(audio["target_level"])
        try:
            self.features = FeatureExtractor(audio, ignore_keys=("target_level",))
        except ValueError as err:
            raise ValueError(f"{parsed.path}: bad audio (feature) config: {err}") from None
        self.downsample_rate = int(self.features.downsample_rate)
        self.receptive_field = int(self.features.receptive_field)
        while self.stack > 1 and int(
            self.features.frame_count(torch.tensor([self.receptive_field]))[0]
        ) < self.stack:  # frame stacking needs at least `stack` frames
            self.receptive_field += 1
        self.hidden_sizes = [self.config.hidden_size] * (self.config.num_hidden_layers + 1)

        self.model = TransformerEncoderModel(self.config, self.features.output_dim * self.stack)
        self._load_weights(parsed)
        self.eval()

    # ------------------------------------------------------------------ #
    def _audio_and_max_len(self, parsed: ParsedCheckpoint) -> tuple[dict, int, int]:
        cfg = parsed.config
        dr = 1
        if parsed.layout == "settings":
            tcfg = cfg["transformer"]
            dr = int(tcfg.get("downsample_rate", 1))
            if dr < 1:
                raise ValueError(f"{parsed.path}: transformer.downsample_rate must be >= 1, got {dr}")
            audio = cfg.get("online")
            max_len = int(tcfg.get("max_input_length", 0))
        else:
            audio = cfg.get("audio")
            task = cfg.get("task")
            if not isinstance(task, dict) or "sequence_length" not in task:
                raise ValueError(
                    f"{parsed.path}: the upstream config lacks 'task.sequence_length' "
                    "(the trained maximum input length)"
                )
            max_len = int(task["sequence_length"])
        if not isinstance(audio, dict):
            raise ValueError(
                f"{parsed.path}: the checkpoint records no on-the-fly feature settings "
                f"('audio'{' / online' if parsed.layout == 'settings' else ''} section): it "
                "was trained on pre-extracted features that cannot be computed from a "
                "waveform (the original toolkit's wav wrapper refuses it as well)"
            )
        audio = dict(audio)
        kaldi = audio.get("kaldi")
        if isinstance(kaldi, dict):
            # The released pre-training configs list the options of every Kaldi
            # feature type (spectrogram, fbank, mfcc); the original reads only
            # ``kaldi[feat_type]`` (default fbank), so the others are dropped.
            feat_type = kaldi.get("feat_type", "fbank")
            audio["kaldi"] = {
                k: v
                for k, v in kaldi.items()
                if k in ("feat_type", feat_type)
                or k not in ("spectrogram", "fbank", "mfcc")
            }
        return audio, max_len, dr

    def _load_weights(self, parsed: ParsedCheckpoint) -> None:
        state = parsed.state_dict
        path = parsed.path
        aliases = self.model.alias_keys()

        def same(a: str, b: str) -> bool:
            x, y = state.get(a), state.get(b)
            if not (isinstance(x, Tensor) and isinstance(y, Tensor)):
                return True  # absent / not a tensor: load_state_dict_strict names it
            if x.shape != y.shape:
                return False
            if x.is_floating_point() and y.is_floating_point():  # NaN == NaN here: named later
                return bool(torch.isclose(x, y, rtol=0.0, atol=0.0, equal_nan=True).all())
            return bool(torch.equal(x, y))

        for alias, canonical in aliases.items():
            if not same(alias, canonical):
                raise CheckpointKeyError(f"checkpoint {path}: {alias!r} differs from {canonical!r}")
        w = state.get("input_representations.spec_transform.weight")
        if isinstance(w, Tensor) and (w.dim() != 2 or w.shape[1] != self.features.output_dim * self.stack):
            raise CheckpointKeyError(
                f"checkpoint {path}: input_representations.spec_transform.weight has shape "
                f"{tuple(w.shape)} but the checkpoint's audio config gives "
                f"{self.features.output_dim}-dim features"
                + (f" x {self.stack} stacked frames" if self.stack > 1 else "")
            )
        if self.config.share_layer:
            # Audio ALBERT: the saved state lists the one shared layer under
            # every index; all copies must be identical.
            first = "encoder.layer.0."
            for i in range(1, self.config.num_hidden_layers):
                pre = f"encoder.layer.{i}."
                for key in [k for k in state if k.startswith(pre)]:
                    ref = first + key[len(pre):]
                    if not same(key, ref):
                        raise CheckpointKeyError(
                            f"checkpoint {path}: share_layer is set but {key!r} differs from {ref!r}"
                        )
        cfg = self.config
        load_state_dict_strict(
            self.model,
            state,
            where=path,
            require_ignored=aliases,
            what=(
                f"its 'transformer' config ({cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, "
                f"share_layer={cfg.share_layer}, pre_layer_norm={cfg.pre_layer_norm})"
            ),
        )

    # ------------------------------------------------------------------ #
    def _scale_to_level(self, wavs: Tensor, wavs_len: Tensor) -> Tensor:
        """The original's per-wav dB normalisation, over each wav's own samples."""
        mask = torch.arange(wavs.size(1), device=wavs.device)[None, :] < wavs_len[:, None]
        power = (wavs.pow(2) * mask).sum(dim=1) / wavs_len.to(wavs.dtype)
        scale = (10.0 ** (self.target_level / 20.0)) / (power.sqrt() + 1e-10)
        return wavs * scale[:, None]

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``wavs`` ``(batch, samples)``, ``wavs_len`` ``(batch,)`` ->
        ``num_hidden_layers + 1`` tensors ``(batch, frames, hidden_size)`` and
        ``(batch,)`` frames."""
        if self.target_level is not None:
            wavs = self._scale_to_level(wavs, wavs_len)
        feats, frames_len = self.features(wavs, wavs_len)
        lens = frames_len.tolist()
        dr = self.stack
        segments = [
            (i, start, n // dr)  # (wav, first frame, stacked frames)
            for i, total in enumerate(lens)
            for start, n in split_into_chunks(total, self.max_input_length)
        ]
        if dr == 1 and len(segments) == len(lens):
            return self.model(feats, frames_len), frames_len
        if any(m == 0 for _, _, m in segments):
            raise ValueError(
                f"a chunk of fewer than {dr} frames cannot be frame-stacked "
                f"(trained maximum {self.max_input_length} frames)"
            )
        dim = feats.size(2) * dr
        seg_max = max(m for _, _, m in segments)
        packed = feats.new_zeros((len(segments), seg_max, dim))
        for j, (i, start, m) in enumerate(segments):
            packed[j, :m] = feats[i, start : start + m * dr].reshape(m, dim)
        seg_len = torch.tensor([m for _, _, m in segments], device=feats.device)
        seg_states = self.model(packed, seg_len)
        out_len = [sum(m for k, _, m in segments if k == i) * dr for i in range(len(lens))]
        if dr > 1:
            out_len = [n + total % dr for n, total in zip(out_len, lens)]
        out = [h.new_zeros((len(lens), max(out_len), h.size(2))) for h in seg_states]
        for i, total in enumerate(lens):
            idx = [j for j, seg in enumerate(segments) if seg[0] == i]
            for o, h in zip(out, seg_states):
                y = torch.cat([h[j, : segments[j][2]] for j in idx])
                if dr > 1:
                    # the original's tile_representations + ReplicationPad1d
                    y = y.repeat_interleave(dr, dim=0)
                    left = (total % dr) // 2
                    right = total % dr - left
                    y = torch.cat([y[:1].expand(left, -1), y, y[-1:].expand(right, -1)])
                o[i, : y.size(0)] = y
        return out, torch.tensor(out_len, dtype=torch.long, device=frames_len.device)
