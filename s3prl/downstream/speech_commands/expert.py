"""Keyword spotting on Speech Commands v0.01 (SUPERB KS): 12 classes, accuracy.

Dataset layout and class rules: :mod:`s3prl.downstream.speech_commands.dataset`. Sampling
follows s3prl 0.4.18: train and dev draw ``len(split)`` items with replacement, weighted by
``len(split) / count(class)`` (class-balanced); test is read once in order. The dev draw uses
a fixed seed (0), the same at every evaluation, so a dev score can be reproduced from a
checkpoint; the train draw of epoch ``e`` uses ``(seed, e)``.
"""

from __future__ import annotations

from collections import Counter

from ..utterance import (
    SeededSampler,
    UtteranceDataset,
    UtteranceExpert,
    base_seed,
    check_keys,
    check_split,
    derive_seed,
    make_dataloader,
    random_crop,
)
from .dataset import (
    CLASSES,
    GAIN_DB,
    SILENCE,
    SILENCE_SAMPLES,
    index_test_root,
    index_train_root,
)

DATARC_KEYS = (
    "speech_commands_root",
    "speech_commands_test_root",
    "num_workers",
    "batch_size",
    "seed",
)
#: Seed of the (fixed) balanced dev draw.
DEV_SEED = 0


def _crop_silence(wav, item, rng):
    """``_silence_`` items are a random 1 s window of a background-noise recording."""
    if item[1] == CLASSES.index(SILENCE):
        return random_crop(wav, SILENCE_SAMPLES, rng)
    return wav


def _balanced_weights(items) -> list[float]:
    counts = Counter(label for _, label, _ in items)
    return [len(items) / counts[label] for _, label, _ in items]


class DownstreamExpert(UtteranceExpert):
    """Speech Commands keyword spotting expert (see the module docstring).

    Args:
        upstream_dim: featurizer output size.
        upstream_rate: featurizer stride in samples (unused: the head pools over time).
        downstream_expert: ``{"datarc": {...}, "modelrc": {...}}`` (``config.yaml``).
        expdir: experiment folder (prediction files are written there).

    Batches: ``(wavs, labels, names)``; ``labels`` ``(batch,)`` long indices into
    :data:`CLASSES`.

    Raises:
        FileNotFoundError: a file or folder of the official layout is missing (named).
        ValueError: unknown ``datarc`` / ``modelrc`` keys, an unknown split.
    """

    task = "speech_commands"

    def __init__(self, upstream_dim: int, upstream_rate: int = 160,
                 downstream_expert: dict = None, expdir: str = ".", **kwargs):
        super().__init__(upstream_dim, downstream_expert or {}, expdir)
        check_keys(self.datarc, DATARC_KEYS, "downstream_expert.datarc (speech_commands)")
        index = index_train_root(self.datarc["speech_commands_root"])
        test_root = self.datarc.get("speech_commands_test_root")
        test_items = index_test_root(test_root) if test_root else index["testing_list"]
        self.items = {
            "train": index["train"] + index["silence"],
            "dev": index["dev"] + index["silence"],
            "test": test_items,
        }
        self.seed = base_seed(self.datarc)
        self.build_head(CLASSES)

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, labels, names)`` of ``split`` (``train``, ``dev`` or ``test``)."""
        check_split(split, self.task)
        items = self.items[split]
        dataset = UtteranceDataset(items, self.task, split, _crop_silence, gain_db=GAIN_DB)
        if split == "test":
            sampler = SeededSampler(len(items), 0)
        else:
            seed = derive_seed(self.seed, epoch) if split == "train" else DEV_SEED
            sampler = SeededSampler(len(items), seed, weights=_balanced_weights(items))
        return make_dataloader(
            dataset,
            self.datarc.get("batch_size", 32),
            sampler,
            num_workers=self.datarc.get("num_workers", 0),
            drop_last=split == "train",
        )
