"""The example downstream task: utterance classification of pseudo data.

Runs with no dataset at all (``-u example -d example``, ``-u fbank -d example``)
and is the template of new tasks (``docs/how_to_add_downstream.rst``): copy
this folder, read your dataset in ``get_dataloader`` and change the head.

Pseudo data: utterance ``i`` of a split has class ``i % num_classes`` and is
white noise whose level depends on the class (``0.05 * 3**class``), with a
random duration in ``[min_seconds, max_seconds]``; everything is drawn from
``datarc.seed``, the split and ``i``, so every run sees the same data. The
level is learnable from features that keep the energy (``fbank_no_cmvn``,
``example``); with per-utterance CMVN (``fbank``) mean pooling sees nothing.

Head: linear projector -> dropout (``modelrc.dropout``, default 0) -> mean pooling over valid frames -> linear classifier,
cross-entropy loss; metric: accuracy (``example/<split>-acc``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000


class PseudoDataset(Dataset):
    """Deterministic pseudo utterances: ``(wav, label)`` with ``wav`` 1-D float32 at 16 kHz."""

    def __init__(self, split: str, size: int, num_classes: int, min_seconds: float,
                 max_seconds: float, seed: int):
        self.split = split
        self.size = int(size)
        self.num_classes = int(num_classes)
        self.min_samples = int(min_seconds * SAMPLE_RATE)
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.seed = int(seed) * 1000 + SPLITS.index(split) * 100003

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        g = torch.Generator().manual_seed(self.seed + index)
        label = index % self.num_classes
        n = int(torch.randint(self.min_samples, self.max_samples + 1, (1,), generator=g))
        wav = torch.randn(n, generator=g) * (0.05 * 3.0**label)
        return wav, label


def collate(items):
    wavs = [w for w, _ in items]
    labels = torch.tensor([y for _, y in items], dtype=torch.long)
    return wavs, labels


class MeanPooling(nn.Module):
    """Mean over the valid frames: ``(batch, frames, dim), (batch,) -> (batch, dim)``."""

    def forward(self, xs: Tensor, xs_len: Tensor) -> Tensor:
        mask = torch.arange(xs.size(1), device=xs.device)[None, :] < xs_len[:, None]
        summed = (xs * mask[:, :, None].to(xs.dtype)).sum(dim=1)
        return summed / xs_len.clamp(min=1)[:, None].to(xs.dtype)


class DownstreamExpert(nn.Module):
    """Example task (see the module docstring).

    Args:
        upstream_dim: featurizer output size.
        upstream_rate: featurizer stride in samples (unused by this head).
        downstream_expert: the config's ``downstream_expert`` section
            (``datarc``, ``modelrc``).
        expdir: experiment folder.
    """

    def __init__(self, upstream_dim: int, upstream_rate: int, downstream_expert: dict,
                 expdir: str, **kwargs):
        super().__init__()
        self.datarc = dict(downstream_expert["datarc"])
        self.modelrc = dict(downstream_expert.get("modelrc") or {})
        self.expdir = expdir
        num_classes = int(self.datarc["num_classes"])
        if self.modelrc.get("pooling", "mean") != "mean":
            raise ValueError(f"example: modelrc.pooling must be 'mean', got {self.modelrc['pooling']!r}")
        dim = int(self.modelrc.get("projector_dim", 32))
        self.projector = nn.Linear(upstream_dim, dim)
        self.dropout = nn.Dropout(float(self.modelrc.get("dropout", 0.0)))
        self.pooling = MeanPooling()
        self.classifier = nn.Linear(dim, num_classes)
        self.register_buffer("best_score", torch.zeros(1))

    def _dataset(self, split: str) -> PseudoDataset:
        if split not in SPLITS:
            raise ValueError(f"example: unknown split {split!r} (train, dev, test)")
        d = self.datarc
        return PseudoDataset(split, d[f"{split}_size"], d["num_classes"], d["min_seconds"],
                             d["max_seconds"], d["seed"])

    def get_dataloader(self, split: str, epoch: int = 0) -> DataLoader:
        """Batches ``(wavs, labels)``; ``train`` is shuffled by a ``RandomSampler`` whose
        generator is seeded from ``datarc.seed`` and ``epoch``."""
        dataset = self._dataset(split)
        d = self.datarc
        if split == "train":
            # The shuffling generator belongs to the sampler; the loader gets a second one,
            # which only seeds the workers (a DataLoader draws from its generator, or from
            # torch's global RNG without one, each time an iterator starts).
            seed = int(d["seed"]) * 7919 + int(epoch)
            sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
            return DataLoader(dataset, batch_size=int(d["batch_size"]), sampler=sampler,
                              generator=torch.Generator().manual_seed(seed + 104729),
                              num_workers=int(d.get("num_workers", 0)), collate_fn=collate)
        return DataLoader(dataset, batch_size=int(d.get("eval_batch_size", d["batch_size"])),
                          shuffle=False, num_workers=int(d.get("num_workers", 0)), collate_fn=collate)

    def _logits(self, features: Tensor, features_len: Tensor) -> Tensor:
        hidden = self.dropout(self.projector(features))
        return self.classifier(self.pooling(hidden, features_len))

    def forward(self, split: str, features: Tensor, features_len: Tensor, labels: Tensor,
                records: dict, **kwargs) -> Tensor:
        """Cross-entropy loss of a batch; appends ``acc`` (0/1 per utterance) and ``loss``."""
        logits = self._logits(features, features_len).float()
        labels = labels.to(logits.device)
        loss = F.cross_entropy(logits, labels)
        records["acc"] += (logits.argmax(dim=-1) == labels).float().tolist()
        records["loss"].append(float(loss.detach()))
        return loss

    def log_records(self, split: str, records: dict, logger, global_step: int, **kwargs) -> list:
        """Logs ``example/<split>-acc`` and ``-loss``; returns ``["dev-best.ckpt"]`` when the
        dev accuracy beats the best so far."""
        names = []
        if not records.get("acc"):
            return names
        acc = sum(records["acc"]) / len(records["acc"])
        logger.add_scalar(f"example/{split}-acc", acc, global_step=global_step)
        if records.get("loss"):
            logger.add_scalar(f"example/{split}-loss", sum(records["loss"]) / len(records["loss"]),
                              global_step=global_step)
        if split == "dev" and acc > float(self.best_score):
            self.best_score.fill_(acc)
            names.append("dev-best.ckpt")
        return names

    def predict(self, features: Tensor, features_len: Tensor) -> list:
        """Class index of each utterance."""
        return self._logits(features, features_len).argmax(dim=-1).tolist()


