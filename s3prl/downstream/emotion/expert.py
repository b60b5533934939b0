"""Emotion recognition on IEMOCAP (SUPERB ER): 4 classes, accuracy, leave-one-session-out.

Dataset layout and fold rule: :mod:`s3prl.downstream.emotion.dataset`. The fold is
``datarc.test_fold`` (``fold1`` .. ``fold5``); SUPERB reports the mean over the 5 folds (five
runs, ``-o downstream_expert.datarc.test_fold=fold2`` ...).
"""

from __future__ import annotations

from ..utterance import (
    SeededSampler,
    UtteranceDataset,
    UtteranceExpert,
    base_seed,
    check_keys,
    check_split,
    derive_seed,
    make_dataloader,
)
from .dataset import CLASSES, index_iemocap

DATARC_KEYS = (
    "root",
    "meta_data",
    "test_fold",
    "pre_load",
    "train_batch_size",
    "eval_batch_size",
    "num_workers",
    "valid_ratio",
    "seed",
)


class DownstreamExpert(UtteranceExpert):
    """IEMOCAP 4-class emotion expert.

    Args:
        upstream_dim: featurizer output size.
        upstream_rate: featurizer stride in samples (unused).
        downstream_expert: ``{"datarc": {...}, "modelrc": {...}}``; ``datarc.root`` holds
            ``Session1`` .. ``Session5``; ``test_fold``; ``pre_load`` (read every wav once, at
            the first use of a split, and keep it in memory).
        expdir: experiment folder.

    Batches: ``(wavs, labels, names)``; ``labels`` index ``CLASSES`` (``neu hap ang sad``).

    Raises:
        FileNotFoundError: a file or folder of the IEMOCAP layout is missing (named).
        ValueError: unknown config keys, a bad fold, an unknown split.
    """

    task = "emotion"

    def __init__(self, upstream_dim: int, upstream_rate: int = 160,
                 downstream_expert: dict = None, expdir: str = ".", **kwargs):
        super().__init__(upstream_dim, downstream_expert or {}, expdir)
        check_keys(self.datarc, DATARC_KEYS, "downstream_expert.datarc (emotion)")
        self.fold = self.datarc.get("test_fold") or "fold1"
        self.items = index_iemocap(
            self.datarc["root"],
            self.fold,
            self.datarc.get("valid_ratio", 0.2),
            self.datarc.get("meta_data"),
        )
        self.seed = base_seed(self.datarc)
        self._datasets = {}
        self.build_head(CLASSES)

    def _dataset(self, split: str) -> UtteranceDataset:
        if split not in self._datasets:
            self._datasets[split] = UtteranceDataset(
                self.items[split], self.task, split, preload=bool(self.datarc.get("pre_load"))
            )
        return self._datasets[split]

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, labels, names)`` of ``split`` (``train``, ``dev`` or ``test``)."""
        check_split(split, self.task)
        train = split == "train"
        dataset = self._dataset(split)
        sampler = SeededSampler(len(dataset), derive_seed(self.seed, epoch), shuffle=train)
        batch_size = self.datarc.get("train_batch_size" if train else "eval_batch_size", 4)
        return make_dataloader(
            dataset, batch_size, sampler, num_workers=self.datarc.get("num_workers", 0)
        )
