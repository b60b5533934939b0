"""Speaker identification on VoxCeleb1 (SUPERB SID): accuracy over the list's speakers.

Dataset layout: :mod:`s3prl.downstream.voxceleb1.dataset`. Train is shuffled from
``(seed, epoch)`` and cut to ``max_timestep`` samples (random window); dev and test are read
in the list's order, whole.
"""

from __future__ import annotations

from functools import partial

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
from .dataset import index_voxceleb1

DATARC_KEYS = (
    "file_path",
    "meta_data",
    "num_workers",
    "train_batch_size",
    "eval_batch_size",
    "max_timestep",
    "seed",
)


def _crop(wav, item, rng, max_samples=None):
    return wav if max_samples is None else random_crop(wav, max_samples, rng)


class DownstreamExpert(UtteranceExpert):
    """VoxCeleb1 speaker identification expert.

    Args:
        upstream_dim: featurizer output size.
        upstream_rate: featurizer stride in samples (unused).
        downstream_expert: ``{"datarc": {...}, "modelrc": {...}}``; ``datarc.file_path`` (the
            folder holding ``wav/``), ``datarc.meta_data`` (``iden_split.txt``).
        expdir: experiment folder.

    Batches: ``(wavs, labels, names)``; ``labels`` index ``self.classes`` (speaker ids).

    Raises:
        FileNotFoundError: the list or a listed file is missing (named).
        ValueError: unknown config keys, an unknown split, a malformed list line.
    """

    task = "voxceleb1"

    def __init__(self, upstream_dim: int, upstream_rate: int = 160,
                 downstream_expert: dict = None, expdir: str = ".", **kwargs):
        super().__init__(upstream_dim, downstream_expert or {}, expdir)
        check_keys(self.datarc, DATARC_KEYS, "downstream_expert.datarc (voxceleb1)")
        self.items, speakers = index_voxceleb1(self.datarc["file_path"], self.datarc["meta_data"])
        for split, items in self.items.items():
            if not items:
                raise ValueError(
                    f"voxceleb1: {self.datarc['meta_data']} lists no {split} utterance"
                )
        self.seed = base_seed(self.datarc)
        self.build_head(speakers)

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, labels, names)`` of ``split`` (``train``, ``dev`` or ``test``)."""
        check_split(split, self.task)
        train = split == "train"
        max_samples = self.datarc.get("max_timestep") if train else None
        dataset = UtteranceDataset(
            self.items[split], self.task, split, partial(_crop, max_samples=max_samples)
        )
        seed = derive_seed(self.seed, epoch) if train else 0
        sampler = SeededSampler(len(dataset), seed, shuffle=train)
        batch_size = self.datarc.get("train_batch_size" if train else "eval_batch_size", 1)
        return make_dataloader(
            dataset, batch_size, sampler, num_workers=self.datarc.get("num_workers", 0)
        )
