"""Intent classification on Fluent Speech Commands (SUPERB IC): accuracy = all three slots
right.

One head (:class:`~s3prl.downstream.utterance.UtteranceClassifier`) with one logit per value
of every slot (``action``, ``object``, ``location``, concatenated); the loss is the sum of the
three slots' cross-entropies, as in s3prl 0.4.18. Dataset layout:
:mod:`s3prl.downstream.fluent_commands.dataset`.
"""

from __future__ import annotations

import torch

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
from .dataset import SLOTS, index_fluent_commands

DATARC_KEYS = ("file_path", "num_workers", "train_batch_size", "eval_batch_size", "seed")


class DownstreamExpert(UtteranceExpert):
    """Fluent Speech Commands intent expert.

    Args:
        upstream_dim: featurizer output size.
        upstream_rate: featurizer stride in samples (unused).
        downstream_expert: ``{"datarc": {...}, "modelrc": {...}}``; ``datarc.file_path`` is
            the corpus folder (holding ``data/`` and ``wavs/``).
        expdir: experiment folder.

    Batches: ``(wavs, labels, names)``; ``labels`` ``(batch, 3)`` long, the value index of
    ``action``, ``object``, ``location``.

    Raises:
        FileNotFoundError: a csv or a listed wav is missing (named).
        ValueError: unknown config keys, an unknown split, a dev/test value unseen in train.
    """

    task = "fluent_commands"

    def __init__(self, upstream_dim: int, upstream_rate: int = 160,
                 downstream_expert: dict = None, expdir: str = ".", **kwargs):
        super().__init__(upstream_dim, downstream_expert or {}, expdir)
        check_keys(self.datarc, DATARC_KEYS, "downstream_expert.datarc (fluent_commands)")
        self.items, self.slot_values = index_fluent_commands(self.datarc["file_path"])
        self.values_per_slot = [len(self.slot_values[s]) for s in SLOTS]
        self.seed = base_seed(self.datarc)
        # one logit per (slot, value), slots concatenated
        self.build_head([f"{s}={v}" for s in SLOTS for v in self.slot_values[s]])

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, labels, names)`` of ``split`` (``train``, ``dev`` or ``test``)."""
        check_split(split, self.task)
        train = split == "train"
        dataset = UtteranceDataset(self.items[split], self.task, split)
        sampler = SeededSampler(len(dataset), derive_seed(self.seed, epoch), shuffle=train)
        batch_size = self.datarc.get("train_batch_size" if train else "eval_batch_size", 32)
        return make_dataloader(
            dataset, batch_size, sampler, num_workers=self.datarc.get("num_workers", 0)
        )

    def _slot_logits(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, self.values_per_slot, dim=-1))

    def _names(self, indices: list[int]) -> str:
        return ",".join(self.slot_values[s][i] for s, i in zip(SLOTS, indices))

    def forward(self, split, features, features_len, labels, filenames, records, **kwargs):
        """Sum over the three slots of the cross-entropy; records ``acc`` (1 when all three
        slots are right), the batch ``loss``, and ``action,object,location`` strings.

        ``labels``: ``(batch, 3)`` long. Returns the scalar loss.
        """
        logits = self.head(features, features_len)
        labels = torch.as_tensor(labels, dtype=torch.long, device=logits.device)
        loss = 0.0
        predicted = []
        for slot, slot_logits in enumerate(self._slot_logits(logits)):
            loss = loss + self.objective(slot_logits, labels[:, slot])
            predicted.append(slot_logits.argmax(dim=-1))
        predicted = torch.stack(predicted, dim=1)
        records["acc"] += (predicted == labels).all(dim=1).float().cpu().tolist()
        records["loss"].append(loss.item())
        records["filename"] += list(filenames)
        records["predict"] += [self._names(p) for p in predicted.cpu().tolist()]
        records["truth"] += [self._names(t) for t in labels.cpu().tolist()]
        return loss

    @torch.no_grad()
    def predict(self, features: torch.Tensor, features_len: torch.Tensor) -> list:
        """Per utterance ``{"action": ..., "object": ..., "location": ...}``."""
        logits = self.head(features, features_len)
        best = torch.stack([lg.argmax(dim=-1) for lg in self._slot_logits(logits)], dim=1)
        return [
            {s: self.slot_values[s][i] for s, i in zip(SLOTS, row)} for row in best.tolist()
        ]
