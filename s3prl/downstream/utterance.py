"""Shared pieces of the utterance-level tasks (KS, SID, IC, ER).

One place for what ``speech_commands``, ``voxceleb1``, ``fluent_commands`` and ``emotion``
have in common:

- the head: a linear projector from the upstream (featurizer) size to ``projector_dim``, a
  pooling over the valid frames (``MeanPooling`` by default, ``AttentivePooling``), and a
  linear classifier (optionally after hidden layers): s3prl 0.4's
  ``downstream/model.py`` ``UtteranceLevel`` with its ``FrameLevel`` post-net, selected by
  the same ``modelrc`` keys (``projector_dim``, ``select: UtteranceLevel``,
  ``UtteranceLevel: {pooling: MeanPooling}``);
- a waveform dataset whose items are ``(path, label, name)``, read with
  :func:`s3prl.util.audio.load_audio`, with per-item randomness (random crops) drawn from a
  seed carried by the sampler, so the data of an epoch is reproducible in any worker;
- :class:`SeededSampler`: the order of an epoch from ``(seed, epoch)``; also weighted
  sampling with replacement (the class-balanced sampling s3prl uses for Speech Commands);
- the accuracy / loss bookkeeping and the prediction files every classification task writes.

Unreadable audio (the rule for every utterance-level task): reading is fatal. A file that
cannot be decoded raises ``RuntimeError`` naming the task, the split and the file, the first
time a batch needs it; fix or remove the file (and its line in the list). Files named by a
list of the official layout are checked for existence when the dataset is indexed, and a
missing one raises ``FileNotFoundError`` naming the expected path.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset, Sampler

from s3prl.util.audio import load_audio

__all__ = [
    "SPLITS",
    "MeanPooling",
    "AttentivePooling",
    "UtteranceLevel",
    "UtteranceClassifier",
    "UtteranceDataset",
    "SeededSampler",
    "derive_seed",
    "collate_utterances",
    "make_dataloader",
    "check_split",
    "check_keys",
    "base_seed",
    "log_classification",
    "write_lines_atomic",
    "random_crop",
    "UtteranceExpert",
]

logger = logging.getLogger(__name__)

#: The splits every utterance-level task serves.
SPLITS = ("train", "dev", "test")


def check_keys(section: dict, allowed: Sequence[str], where: str) -> None:
    """Raise ``ValueError`` naming the keys of ``section`` that are not in ``allowed``."""
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; expected some of {sorted(allowed)}")


def check_split(split: str, task: str, splits: Sequence[str] = SPLITS) -> None:
    """Raise ``ValueError`` naming ``split`` and the accepted ones when it is unknown."""
    if split not in splits:
        raise ValueError(f"{task}: unknown split {split!r}; expected one of {list(splits)}")


# --------------------------------------------------------------------------------------------
# head
# --------------------------------------------------------------------------------------------


def _valid_mask(features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
    """``(batch, frames)`` bool mask of the valid frames; checks ``features_len``."""
    if features.dim() != 3:
        raise ValueError(
            f"features must be (batch, frames, dim), got shape {tuple(features.shape)}"
        )
    if features_len.shape != (features.shape[0],):
        raise ValueError(
            f"features_len must be ({features.shape[0]},), got shape {tuple(features_len.shape)}"
        )
    lens = features_len.to(features.device).long()
    if int(lens.min()) < 1 or int(lens.max()) > features.shape[1]:
        raise ValueError(
            f"features_len must be in [1, {features.shape[1]}] (frames of the padded batch), "
            f"got {lens.tolist()}"
        )
    return torch.arange(features.shape[1], device=features.device)[None, :] < lens[:, None]


class MeanPooling(nn.Module):
    """Mean of the valid frames of each utterance (s3prl 0.4 ``MeanPooling``).

    ``forward(features, features_len)``: ``features`` ``(batch, frames, dim)`` float,
    ``features_len`` ``(batch,)`` long (valid frames, ``1 <= len <= frames``) ->
    ``(batch, dim)``. Frames past ``features_len`` never contribute, whatever they hold.

    Raises:
        ValueError: bad shapes or a length outside ``[1, frames]``.
    """

    def __init__(self, input_dim: Optional[int] = None, **kwargs):
        super().__init__()

    def forward(self, features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
        mask = _valid_mask(features, features_len).unsqueeze(-1).to(features.dtype)
        total = (features * mask).sum(dim=1)
        return total / mask.sum(dim=1)


class AttentivePooling(nn.Module):
    """Self-attentive pooling over the valid frames.

    Weights ``softmax_t(w^T act(W_a h_t))`` over the valid frames only (padded frames get
    ``-inf`` logits), output ``sum_t weight_t h_t`` (Safari et al., "Self-attention encoding
    and pooling for speaker recognition", 2020; s3prl 0.4 ``AttentivePooling``, which adds the
    boolean mask to the logits instead of masking them: here padding gets no weight at all).

    ``forward(features, features_len)``: ``(batch, frames, input_dim)``, ``(batch,)`` ->
    ``(batch, input_dim)``.
    """

    def __init__(self, input_dim: int, activation: str = "ReLU", **kwargs):
        super().__init__()
        self.W_a = nn.Linear(input_dim, input_dim)
        self.W = nn.Linear(input_dim, 1)
        self.act_fn = _activation(activation)

    def forward(self, features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
        mask = _valid_mask(features, features_len)
        logits = self.W(self.act_fn(self.W_a(features))).squeeze(-1)
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1).unsqueeze(-1)
        return (features * weights).sum(dim=1)


_POOLINGS = {"MeanPooling": MeanPooling, "AttentivePooling": AttentivePooling}


def _activation(name: str) -> nn.Module:
    act = getattr(nn, name, None)
    if not (isinstance(act, type) and issubclass(act, nn.Module)):
        raise ValueError(f"unknown activation {name!r} (a torch.nn class name, e.g. 'ReLU')")
    return act()


class UtteranceLevel(nn.Module):
    """Pooling over valid frames, then (optional hidden layers and) a linear classifier.

    s3prl 0.4 ``UtteranceLevel`` with its default ``FrameLevel`` post-net.

    Args:
        input_dim: size of the frames to pool.
        output_dim: number of logits.
        pooling: ``"MeanPooling"`` (default) or ``"AttentivePooling"``.
        activation: ``torch.nn`` activation name for the attentive pooling and the hidden
            layers.
        hiddens: sizes of hidden layers between the pooled vector and the classifier (s3prl's
            ``post_net: {select: FrameLevel, hiddens: [...]}``); default none.

    ``forward(features, features_len)``: ``(batch, frames, input_dim)`` float and
    ``(batch,)`` long -> logits ``(batch, output_dim)``.

    Raises:
        ValueError: unknown pooling or activation (named), or a ``post_net`` other than
            ``FrameLevel``.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        pooling: str = "MeanPooling",
        activation: str = "ReLU",
        hiddens: Optional[Sequence[int]] = None,
        post_net: Optional[dict] = None,
    ):
        super().__init__()
        if pooling not in _POOLINGS:
            raise ValueError(
                f"modelrc: unknown pooling {pooling!r}; expected one of {sorted(_POOLINGS)}"
            )
        if post_net is not None:
            post_net = dict(post_net)
            if post_net.pop("select", "FrameLevel") != "FrameLevel":
                raise ValueError("modelrc: UtteranceLevel.post_net.select must be FrameLevel")
            hiddens = post_net.pop("hiddens", hiddens)
            activation = post_net.pop("activation", activation)
            if post_net:
                raise ValueError(f"modelrc: unknown post_net keys {sorted(post_net)}")
        self.pooling = _POOLINGS[pooling](input_dim=input_dim, activation=activation)
        layers: list[nn.Module] = []
        dim = input_dim
        for size in hiddens or []:
            layers += [nn.Linear(dim, int(size)), _activation(activation)]
            dim = int(size)
        self.hiddens = nn.Sequential(*layers)
        self.linear = nn.Linear(dim, output_dim)

    def forward(self, features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
        pooled = self.pooling(features, features_len)
        return self.linear(self.hiddens(pooled))


class UtteranceClassifier(nn.Module):
    """The utterance-level head of every classification task: projector + ``UtteranceLevel``.

    Built from a task's ``modelrc`` (s3prl 0.4 key names)::

        projector_dim: 256          # Linear(upstream_dim, projector_dim) on every frame
        select: UtteranceLevel      # the only head of the utterance-level tasks
        UtteranceLevel:
          pooling: MeanPooling      # or AttentivePooling
          # activation: ReLU, hiddens: [..], post_net: {select: FrameLevel, hiddens: [..]}

    ``forward(features, features_len)``: ``(batch, frames, upstream_dim)`` float padded with
    anything past ``features_len`` (``(batch,)`` long) -> logits ``(batch, output_dim)``.

    Raises:
        ValueError: a missing ``projector_dim``, an unknown ``select`` or unknown keys in its
            section (named).
    """

    def __init__(self, upstream_dim: int, output_dim: int, modelrc: dict):
        super().__init__()
        modelrc = dict(modelrc or {})
        if "projector_dim" not in modelrc:
            raise ValueError("modelrc: missing key 'projector_dim'")
        select = modelrc.get("select", "UtteranceLevel")
        if select != "UtteranceLevel":
            raise ValueError(
                f"modelrc: select={select!r} is not available for utterance-level tasks; "
                "expected 'UtteranceLevel'"
            )
        conf = dict(modelrc.get(select) or {})
        allowed = {"pooling", "activation", "hiddens", "post_net"}
        unknown = sorted(set(conf) - allowed)
        if unknown:
            raise ValueError(
                f"modelrc.{select}: unknown keys {unknown}; expected some of {sorted(allowed)}"
            )
        projector_dim = int(modelrc["projector_dim"])
        self.projector = nn.Linear(upstream_dim, projector_dim)
        self.model = UtteranceLevel(projector_dim, output_dim, **conf)

    def forward(self, features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
        return self.model(self.projector(features), features_len)


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (``numpy.random.SeedSequence``): distinct inputs, distinct
    streams."""
    state = np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def base_seed(datarc: dict) -> int:
    """The data seed of a task: ``datarc["seed"]`` when set, else the global torch seed
    (``torch.initial_seed()``, what ``torch.manual_seed`` / the runner's ``--seed`` set)."""
    seed = datarc.get("seed")
    return int(seed) if seed is not None else int(torch.initial_seed())


class SeededSampler(Sampler):
    """Indices of one epoch, each paired with a per-item seed, both from one seed.

    Yields ``(index, item_seed)`` tuples; the dataset draws its per-item randomness (random
    crops) from ``item_seed``, so an epoch is the same in any number of data workers and after
    a resume.

    Args:
        num_items: dataset size.
        seed: the seed of this epoch (e.g. ``derive_seed(base, epoch)``).
        shuffle: random permutation (else ``0 .. num_items-1`` in order).
        weights: per-item sampling weights; then ``num_samples`` draws with replacement
            (``torch.multinomial``), as ``torch.utils.data.WeightedRandomSampler``.
        num_samples: draws with ``weights`` (default ``num_items``).

    Without ``shuffle`` and ``weights`` the item seed is the index itself.
    """

    def __init__(
        self,
        num_items: int,
        seed: int,
        shuffle: bool = False,
        weights: Optional[Sequence[float]] = None,
        num_samples: Optional[int] = None,
    ):
        self.num_items = int(num_items)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        self.num_samples = int(num_samples) if num_samples is not None else self.num_items

    def __len__(self) -> int:
        return self.num_samples if self.weights is not None else self.num_items

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        if self.weights is not None:
            if self.num_samples == 0:
                return iter([])
            order = torch.multinomial(self.weights, self.num_samples, True, generator=gen)
        elif self.shuffle:
            order = torch.randperm(self.num_items, generator=gen)
        else:
            return iter([(i, i) for i in range(self.num_items)])
        item_seeds = torch.randint(0, 2**62, (len(order),), generator=gen)
        return iter(list(zip(order.tolist(), item_seeds.tolist())))


class UtteranceDataset(Dataset):
    """Waveforms with labels: ``items`` is a list of ``(path, label, name)``.

    ``dataset[i]`` or ``dataset[(i, item_seed)]`` (what :class:`SeededSampler` yields) ->
    ``(wav, label, name)``: ``wav`` a 1-D float32 tensor (16 kHz mono), ``label`` as stored,
    ``name`` a string id of the utterance. ``transform(wav, item, rng)`` may crop
    (``rng``: a ``numpy.random.Generator`` seeded from ``item_seed``).

    Args:
        items: ``(path, label, name)`` per utterance.
        task, split: named in errors.
        transform: ``f(wav, item, rng) -> wav`` or None.
        preload: read every wav once at construction and keep it in memory.
        gain_db: gain applied after reading (s3prl's Speech Commands reads with ``-3`` dB).

    Raises:
        RuntimeError: an unreadable file (names the task, split and file).
    """

    def __init__(
        self,
        items: Sequence[tuple],
        task: str,
        split: str,
        transform: Optional[Callable] = None,
        preload: bool = False,
        gain_db: float = 0.0,
    ):
        self.items = list(items)
        self.task = task
        self.split = split
        self.transform = transform
        self.gain = float(10.0 ** (gain_db / 20.0))
        self._cache = [self._read(it[0]) for it in self.items] if preload else None

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, path) -> torch.Tensor:
        try:
            wav = load_audio(path)
        except RuntimeError as err:
            raise RuntimeError(
                f"{self.task} ({self.split}): unreadable audio file {path} ({err}); fix the file "
                "or remove it from the dataset"
            ) from err
        if wav.numel() == 0:
            raise RuntimeError(f"{self.task} ({self.split}): empty audio file {path}")
        return wav * self.gain if self.gain != 1.0 else wav

    def __getitem__(self, key: Union[int, tuple]):
        index, item_seed = (key if isinstance(key, tuple) else (key, key))
        item = self.items[index]
        wav = self._cache[index] if self._cache is not None else self._read(item[0])
        if self.transform is not None:
            wav = self.transform(wav, item, np.random.default_rng(item_seed))
        return wav, item[1], item[2]


def random_crop(wav: torch.Tensor, max_samples: int, rng: np.random.Generator) -> torch.Tensor:
    """``wav`` itself when at most ``max_samples`` long, else a window of ``max_samples``
    starting at a uniform random offset in ``[0, len - max_samples]``."""
    excess = wav.shape[0] - int(max_samples)
    if excess <= 0:
        return wav
    start = int(rng.integers(0, excess + 1))
    return wav[start : start + int(max_samples)]


def collate_utterances(samples):
    """``[(wav, label, name), ...]`` -> ``(wavs, labels, names)``: list of 1-D tensors, a long
    tensor ``(batch,)`` (or ``(batch, slots)`` for tuple labels), list of str."""
    wavs, labels, names = zip(*samples)
    return list(wavs), torch.as_tensor(labels, dtype=torch.long), list(names)


def make_dataloader(
    dataset: UtteranceDataset,
    batch_size: int,
    sampler: SeededSampler,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` in the order of ``sampler``, batches
    ``(wavs, labels, names)``."""
    return DataLoader(
        dataset,
        batch_size=int(batch_size),
        sampler=sampler,
        num_workers=int(num_workers),
        drop_last=drop_last,
        collate_fn=collate_utterances,
    )


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def write_lines_atomic(path: Union[str, os.PathLike], lines: Sequence[str]) -> None:
    """Write ``lines`` (each ending in a newline) to ``path`` through a temporary file in the
    same folder, renamed into place: the folder never holds a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def log_classification(
    expert: nn.Module,
    task: str,
    split: str,
    records: dict,
    logger_,
    global_step: int,
    metrics: Sequence[str] = ("acc", "loss"),
) -> list[str]:
    """Reduce classification records, report them, write the prediction files.

    ``records["acc"]``: one 0/1 float per utterance; ``records["loss"]``: one loss per batch;
    each metric is the plain mean of its list, reported as
    ``logger_.add_scalar(f"{task}/{split}-{metric}", value, global_step=global_step)``.
    For dev/test, ``records["filename"]``, ``records["predict"]``, ``records["truth"]``
    (strings) go to ``EXPDIR/<split>_predict.txt`` and ``<split>_truth.txt`` (``name label`` per line, s3prl's
    files). On ``dev``, an accuracy above ``expert.best_score`` updates it and returns
    ``["dev-best.ckpt"]``.

    Raises:
        ValueError: empty records (no utterance was evaluated).
    """
    if not records.get("acc"):
        raise ValueError(f"{task}: no {split} utterance in the records; nothing to log")
    values = {}
    for key in metrics:
        vals = records.get(key, [])
        if len(vals) == 0:
            continue
        values[key] = float(np.mean(np.asarray(vals, dtype=np.float64)))
        logger_.add_scalar(f"{task}/{split}-{key}", values[key], global_step=global_step)
    logger.info("%s %s at step %d: %s", task, split, global_step, values)
    expdir = getattr(expert, "expdir", None)
    if expdir and split != "train" and records.get("filename"):
        for kind in ("predict", "truth"):
            lines = [f"{n} {p}\n" for n, p in zip(records["filename"], records[kind])]
            write_lines_atomic(Path(expdir) / f"{split}_{kind}.txt", lines)
    save = []
    if split == "dev" and values["acc"] > float(expert.best_score):
        expert.best_score.fill_(values["acc"])
        save.append("dev-best.ckpt")
    return save


# --------------------------------------------------------------------------------------------
# expert base
# --------------------------------------------------------------------------------------------


class UtteranceExpert(nn.Module):
    """Base of the single-label utterance classification experts (KS, SID, ER).

    A subclass builds its datasets and calls :meth:`build_head` with its class names; this
    base provides ``forward`` (cross-entropy, accuracy records), ``log_records`` (accuracy and
    loss, ``dev-best.ckpt`` on a better dev accuracy) and ``predict`` (class names).

    Attributes:
        task: name used in the logged tags (``<task>/<split>-acc``).
        classes: class names, index = label.
        best_score: buffer ``(1,)``, the best dev accuracy so far (kept in the state dict, so a
            resumed run compares with the right value).
    """

    task = "utterance"

    def __init__(self, upstream_dim: int, downstream_expert: dict, expdir: str):
        super().__init__()
        self.upstream_dim = int(upstream_dim)
        self.datarc = dict(downstream_expert.get("datarc") or {})
        self.modelrc = dict(downstream_expert.get("modelrc") or {})
        self.expdir = expdir
        self.register_buffer("best_score", torch.zeros(1))

    def build_head(self, classes: Sequence[str]) -> None:
        """Create ``self.head`` (:class:`UtteranceClassifier`) with one logit per class."""
        self.classes = list(classes)
        self.head = UtteranceClassifier(self.upstream_dim, len(self.classes), self.modelrc)
        self.objective = nn.CrossEntropyLoss()

    def forward(
        self,
        split: str,
        features: torch.Tensor,
        features_len: torch.Tensor,
        labels: torch.Tensor,
        filenames: Sequence[str],
        records: dict,
        **kwargs,
    ) -> torch.Tensor:
        """Cross-entropy of the head's logits; appends per-utterance ``acc`` (0/1),
        ``filename``, ``predict``, ``truth`` and the batch ``loss`` to ``records``.

        Args:
            features: ``(batch, frames, upstream_dim)`` float, padded.
            features_len: ``(batch,)`` long, valid frames.
            labels: ``(batch,)`` long class indices (or a list of ints).
            filenames: utterance names.

        Returns:
            the scalar mean loss over the batch.
        """
        logits = self.head(features, features_len)
        labels = torch.as_tensor(labels, dtype=torch.long, device=logits.device)
        loss = self.objective(logits, labels)
        predicted = logits.argmax(dim=-1)
        records["acc"] += (predicted == labels).float().cpu().tolist()
        records["loss"].append(loss.item())
        records["filename"] += list(filenames)
        records["predict"] += [self.classes[i] for i in predicted.cpu().tolist()]
        records["truth"] += [self.classes[i] for i in labels.cpu().tolist()]
        return loss

    def log_records(self, split: str, records: dict, logger, global_step: int, **kwargs):
        """Mean accuracy and loss as ``<task>/<split>-acc`` / ``-loss``; prediction files;
        returns ``["dev-best.ckpt"]`` when the dev accuracy improved (see
        :func:`log_classification`)."""
        return log_classification(self, self.task, split, records, logger, global_step)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, features_len: torch.Tensor) -> list:
        """The predicted class name of each utterance."""
        logits = self.head(features, features_len)
        return [self.classes[i] for i in logits.argmax(dim=-1).cpu().tolist()]
