"""MOS predictors of s3prl 0.4.18 (``mos_wav2vec2``, ``mos_tera``, ``mos_apc``): a mean-opinion-
score head on top of one of our own upstreams (wav2vec 2.0, TERA, APC).

Paper: Tseng, Huang, Kao, Lin, Lee, "Utilizing Self-supervised Representations for MOS
Prediction", Interspeech 2021, https://arxiv.org/abs/2104.03017. Facts from s3prl 0.4.18
``s3prl/upstream/mos_prediction/{hubconf,expert,model,utility}.py`` and
``s3prl/downstream/mos_prediction/{config.yaml,expert.py}``.

Checkpoint (``{wav2vec2,tera,apc}-dev-SRCC-best.ckpt``, saved by s3prl's downstream runner)::

    {"Upstream": state_dict of s3prl's upstream expert (fine-tuned):
         wav2vec2: "model.<fairseq Wav2Vec2Model key>"
         tera:     "transformer.model.<TERA Transformer key>", "transformer.extracter.<buffers>"
         apc:      "model.rnn_layers.{i}.*", "model.postnet.*"
     "Downstream": {"connector.{weight,bias}" (Linear(upstream dim, projector_dim)),
                    "model.mean_net_linear.*" (Linear(projector_dim, 1)),
                    "model.mean_net_pooling.W.*" (Linear(projector_dim, 1), attention pooling),
                    "model.bias_net_linear.*", "model.bias_net_pooling.W.*",
                    "model.judge_embbeding.weight" (5000 judges: training only)},
     "Config": {"downstream_expert": {"modelrc": {"projector_dim": 256, "clipping": True,
                                                  "attention_pooling": True, ...}}, ...},
     "Args": argparse.Namespace(upstream=..., upstream_ckpt=..., ...),
     "Featurizer" (layer weights, when the runner saved them: not read, as in s3prl),
     "Optimizer", "Step", "Epoch", ... (training state, not read)}

The checkpoint holds the upstream's weights but not its architecture: s3prl builds the upstream
with its default hub entry (``wav2vec2``, ``tera``, ``apc``: their released checkpoints give the
architecture and front end) and then loads ``Upstream`` over it. The same is done here through our
families' own loading code; the architecture checkpoint is, in order: the ``upstream_ckpt``
option, ``Args.upstream_ckpt`` of the checkpoint when it names an existing local file (s3prl's
runner option ``-k``), else the default entry's release (downloaded once, as s3prl does).

Forward of one wav (s3prl's ``UpstreamExpert.forward``):

1. segments of 1 s (16000 samples) every 0.5 s (``unfold_segments``): a wav of ``n <= 16000``
   samples is zero padded to one segment; a longer one is zero padded to
   ``(n // 8000 + 1) * 8000`` samples, giving ``n // 8000`` segments;
2. the upstream on every segment; the hidden states averaged with equal weights (s3prl builds a
   fresh ``Featurizer``, whose layer weights are zeros, softmax 1/L each, and never loads
   trained ones) and cut to ``round(16000 / stride)`` frames (``Featurizer.tolist``: TERA's 101
   centred frames become 100);
3. the head: ``connector`` -> with attention pooling: ``softmax_t(W x_t)``-weighted sum over
   frames -> ``mean_net_linear``; without: ``mean_net_linear`` per frame, mean over frames ->
   with clipping: ``tanh(s) * 2 + 3`` (scores in [1, 5]);
4. the wav's score: the mean of its segment scores.

Outputs: s3prl returns only ``{"scores": (batch,)}``. Here the segment scores are the one
hidden state, ``(batch, segments, 1)`` at a stride of 8000 samples (each frame covers 1 s from its
start), and ``"scores"`` (``(batch,)``, the s3prl output) is added to the standard dict. Each
wav is segmented on its own samples and every segment has exactly 16000 samples, so batching
never changes a wav's result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase
from s3prl.util.checkpoint import (
    CheckpointKeyError,
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

__all__ = ["MosHead", "UpstreamExpert", "segment_starts", "SEGMENT_SAMPLES", "SEGMENT_STEP", "UPSTREAMS"]

#: s3prl's ``segments_durations = 1`` s at 16 kHz, hop half of it
SEGMENT_SAMPLES, SEGMENT_STEP = 16000, 8000
#: the upstream names s3prl 0.4.18's MOS entries use
UPSTREAMS = ("wav2vec2", "tera", "apc")
#: ``Downstream`` entries of the training-time judge-bias branch (not used for prediction)
_BIAS_NET = ("model.bias_net_linear.weight", "model.bias_net_linear.bias", "model.judge_embbeding.weight")


def segment_starts(num_samples: int) -> list[int]:
    """Start samples of the 1 s segments of a wav of ``num_samples`` samples (s3prl's
    ``unfold_segments``): ``[0]`` from 1 up to 16000 samples, else every 8000 up to
    ``num_samples // 8000`` segments; none for an empty wav (which the interface refuses)."""
    if num_samples <= 0:
        return []
    if num_samples <= SEGMENT_SAMPLES:
        return [0]
    return [i * SEGMENT_STEP for i in range(num_samples // SEGMENT_STEP)]


class _Pooling(nn.Module):
    """Self-attention pooling (Safari et al., 2020): ``sum_t softmax_t(W x_t) x_t``."""

    def __init__(self, dim: int):
        super().__init__()
        self.W = nn.Linear(dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return (torch.softmax(self.W(x).squeeze(-1), dim=-1).unsqueeze(-1) * x).sum(dim=1)


class _MeanNet(nn.Module):
    def __init__(self, dim: int, attention_pooling: bool):
        super().__init__()
        self.mean_net_linear = nn.Linear(dim, 1)
        self.mean_net_pooling = _Pooling(dim) if attention_pooling else None


class MosHead(nn.Module):
    """The segment-score head (parameter names as in ``Downstream``, without the training-only
    judge-bias branch).

    Args:
        upstream_dim: width of the averaged hidden states.
        projector_dim: ``connector`` output width (256 in the released config).
        clipping: squash the score into [1, 5] with ``tanh(s) * 2 + 3``.
        attention_pooling: pool frames by self-attention before the linear layer (else the
            per-frame linear outputs are averaged).
    """

    def __init__(self, upstream_dim: int, projector_dim: int, clipping: bool, attention_pooling: bool):
        super().__init__()
        self.connector = nn.Linear(upstream_dim, projector_dim)
        self.model = _MeanNet(projector_dim, attention_pooling)
        self.clipping = bool(clipping)

    def forward(self, features: Tensor) -> Tensor:
        """``(segments, frames, upstream_dim)`` -> ``(segments,)`` scores."""
        x = self.connector(features)
        if self.model.mean_net_pooling is not None:
            score = self.model.mean_net_linear(self.model.mean_net_pooling(x)).squeeze(-1)
        else:
            score = self.model.mean_net_linear(x).squeeze(-1).mean(dim=-1)
        return torch.tanh(score) * 2 + 3 if self.clipping else score


def _strip(state: Mapping, prefix: str, where: str, upstream: str) -> dict:
    bad = sorted(str(k) for k in state if not str(k).startswith(prefix))
    if bad:
        raise CheckpointKeyError(
            f"checkpoint {where}: 'Upstream' keys of s3prl's {upstream} expert start with {prefix!r}; "
            f"found {bad[:5]}"
        )
    return {str(k)[len(prefix):]: v for k, v in state.items()}


def _load_wav2vec2(upstream, state: Mapping, where: str) -> None:
    from s3prl.upstream.wav2vec2.loading import load_weights, rename_fairseq_keys

    sd = rename_fairseq_keys(_strip(state, "model.", where, "wav2vec2"), upstream.config.pos_conv_depth)
    load_weights(upstream.model, sd, where, what="the wav2vec2 architecture of the upstream checkpoint")


def _load_apc(upstream, state: Mapping, where: str) -> None:
    from s3prl.upstream.apc.layout import load_weights, training_head_keys

    sd = _strip(state, "model.", where, "apc")
    load_weights(upstream.model, sd, training_head_keys(upstream.vq_groups), "APC", where)


def _load_tera(upstream, state: Mapping, where: str) -> None:
    from s3prl.upstream.mockingjay.layout import ParsedCheckpoint

    # the torchaudio front end's constant buffers (window, mel banks, pseudo wavs): not weights
    # (s3prl 0.4.18 itself overwrites "transformer.extracter._melscale.fb" before loading)
    sd = {k: v for k, v in state.items() if not str(k).startswith("transformer.extracter.")}
    sd = _strip(sd, "transformer.model.", where, "tera")
    upstream._load_weights(ParsedCheckpoint(upstream.layout, {}, sd, Path(where)))


_LOADERS = {"wav2vec2": _load_wav2vec2, "tera": _load_tera, "apc": _load_apc}


class UpstreamExpert(UpstreamBase):
    """A MOS predictor of s3prl 0.4.18 (see the module docstring).

    Args:
        ckpt: local checkpoint in the downstream-runner layout.
        upstream: ``"wav2vec2"``, ``"tera"`` or ``"apc"`` (set by the entry).
        upstream_ckpt: checkpoint (path or URL) of the upstream family giving the architecture and
            front end; default: ``Args.upstream_ckpt`` when it is an existing local file, else the
            family's default release (downloaded once).
        segment_batch: segments per upstream forward pass (memory bound only; results do not
            depend on it).

    Output: one hidden state ``(batch, segments, 1)`` (segment scores, stride 8000 samples) and
    ``"scores"`` ``(batch,)``. Any wav of at least one sample is accepted (segments are zero
    padded to 1 s, as in s3prl).

    Raises:
        ValueError: ``upstream`` unknown; the checkpoint lacks ``Upstream`` / ``Downstream`` /
            ``Config`` (named) or ``Config.downstream_expert.modelrc.projector_dim``; the
            upstream's hidden states differ in width.
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): ``Upstream`` or
            ``Downstream`` weights missing, unexpected or misshapen (the file and keys named).
    """

    receptive_field = 1
    downsample_rate = SEGMENT_STEP
    max_padding_waste = None  # each wav is segmented on its own samples anyway

    def __init__(self, ckpt: str | os.PathLike, upstream: str, upstream_ckpt: str | os.PathLike | None = None,
                 segment_batch: int = 32):
        super().__init__()
        import s3prl.hub as hub

        if upstream not in _LOADERS:
            raise ValueError(f"unknown MOS upstream {upstream!r}; expected one of {list(UPSTREAMS)}")
        where = str(ckpt)
        data = load_checkpoint(ckpt)
        if not isinstance(data, Mapping):
            raise ValueError(f"MOS checkpoint {where} holds a {type(data).__name__}, not s3prl's runner dict")
        missing = [k for k in ("Upstream", "Downstream", "Config") if k not in data]
        if missing:
            raise ValueError(
                f"MOS checkpoint {where} lacks {missing} (found {sorted(map(str, data))}); expected "
                "s3prl's downstream-runner layout with 'Upstream', 'Downstream' and 'Config'"
            )
        note_unused_entries(where, [k for k in data if k not in ("Upstream", "Downstream", "Config", "Args")])
        try:
            modelrc = dict(to_plain(data["Config"])["downstream_expert"]["modelrc"])
            projector_dim = int(modelrc["projector_dim"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"MOS checkpoint {where}: Config has no downstream_expert.modelrc.projector_dim"
            ) from None
        if upstream_ckpt is None:
            args = to_plain(data.get("Args"))
            named = args.get("upstream_ckpt") if isinstance(args, Mapping) else None
            if isinstance(named, str) and Path(named).expanduser().is_file():
                upstream_ckpt = named
        self.upstream = hub.load(upstream) if upstream_ckpt is None else hub.load(upstream, ckpt=str(upstream_ckpt))
        self.upstream_name = upstream
        _LOADERS[upstream](self.upstream, data["Upstream"], where)
        widths = set(self.upstream.hidden_sizes)
        if len(widths) != 1:
            raise ValueError(f"{upstream}: hidden states of different widths {self.upstream.hidden_sizes}")
        attention = bool(modelrc.get("attention_pooling", False))
        self.head = MosHead(widths.pop(), projector_dim, bool(modelrc.get("clipping", False)), attention)
        ignored = list(_BIAS_NET) + (["model.bias_net_pooling.W.weight", "model.bias_net_pooling.W.bias"]
                                     if attention else [])
        load_state_dict_strict(self.head, data["Downstream"], where=where, require_ignored=ignored,
                               what=f"the MOS head its Config describes (projector_dim {projector_dim}, "
                               f"attention_pooling={attention})")
        self.frames_per_segment = round(SEGMENT_SAMPLES / self.upstream.downsample_rate)
        self.segment_batch = int(segment_batch)
        self.hidden_sizes = [1]
        self.eval()

    def segment_scores(self, segments: Tensor) -> Tensor:
        """``(S, 16000)`` segments -> ``(S,)`` scores."""
        out = []
        for chunk in segments.split(self.segment_batch):
            lens = torch.full((chunk.size(0),), SEGMENT_SAMPLES, dtype=torch.long, device=chunk.device)
            hs, _ = self.upstream.forward_padded(chunk, lens)
            feats = torch.stack(list(hs)).mean(dim=0)[:, : self.frames_per_segment]
            out.append(self.head(feats))
        return torch.cat(out)

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        """``(batch, samples)``, ``(batch,)`` -> ``[(batch, segments, 1)]`` segment scores and
        ``(batch,)`` segment counts."""
        pieces, counts = [], []
        for wav, n in zip(wavs, wavs_len.tolist()):
            starts = segment_starts(n)
            counts.append(len(starts))
            if not starts:
                continue
            total = starts[-1] + SEGMENT_SAMPLES
            x = F.pad(wav[:n], (0, max(0, total - n)))
            pieces += [x[s : s + SEGMENT_SAMPLES] for s in starts]
        if not pieces:
            return [wavs.new_zeros((len(counts), 0, 1))], torch.zeros(len(counts), dtype=torch.long,
                                                                       device=wavs.device)
        scores = self.segment_scores(torch.stack(pieces))
        out = scores.new_zeros((len(counts), max(counts), 1))
        for i, part in enumerate(scores.split(counts)):
            out[i, : part.numel(), 0] = part
        return [out], torch.tensor(counts, dtype=torch.long, device=wavs.device)

    def forward(self, wavs: Sequence[Tensor]) -> dict[str, object]:
        """The standard dict (see :class:`~s3prl.upstream.interface.UpstreamBase`) plus
        ``"scores"``: ``(batch,)`` predicted MOS, the mean of each wav's segment scores."""
        out = super().forward(wavs)
        seg, n = out["hidden_states"][0][..., 0], out["hidden_states_len"]
        out["scores"] = seg.sum(dim=1) / n.to(seg.dtype)
        return out
