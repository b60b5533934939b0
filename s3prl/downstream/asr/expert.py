"""``asr``: SUPERB automatic speech recognition on LibriSpeech (characters, CTC).

Head: ``Linear(upstream_dim, project_dim)`` then a 2-layer BiLSTM and a linear layer to the
characters (:class:`~s3prl.downstream.asr.model.RNNs`), trained with CTC (blank = index 0).
Decoding: greedy best path, or a flashlight-text beam search (``decoder_args.decoder_type:
beam``). Metrics: WER and CER (:mod:`s3prl.downstream.metrics`), the dev WER selects
``dev-best.ckpt``. Dataset: :func:`s3prl.downstream.asr.dataset.read_librispeech` (layout,
error rules). Config keys follow s3prl 0.4's ``downstream/asr/config.yaml``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from ..metrics import cer, wer
from .dataset import (
    CharVocabulary,
    TranscribedDataset,
    collate_transcribed,
    make_dataloader,
    read_librispeech,
)
from .decoder import GreedyDecoder, build_decoder
from .model import RNNs

TASK = "asr"


def ctc_batch_loss(objective: nn.CTCLoss, log_probs: torch.Tensor, lengths: torch.Tensor,
                   labels: list[torch.Tensor]) -> torch.Tensor:
    """CTC loss of a padded batch: ``log_probs`` ``(batch, frames, vocab)`` float32 log-softmax,
    ``lengths`` ``(batch,)``, ``labels`` one 1-D long tensor per utterance."""
    targets = torch.cat([lab.to(log_probs.device) for lab in labels]) if labels else None
    target_len = torch.tensor([len(lab) for lab in labels], dtype=torch.long)
    return objective(log_probs.transpose(0, 1), targets, lengths.cpu().long(), target_len)


def write_pairs(path: Path, ids: list[str], texts: list[str]) -> None:
    """Write ``<id> <text>`` lines atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{i} {t}\n" for i, t in zip(ids, texts)), encoding="utf-8")
    tmp.replace(path)


class DownstreamExpert(nn.Module):
    """SUPERB ASR downstream (see the module docstring and the downstream contract).

    Args:
        upstream_dim: feature size of the featurizer output.
        upstream_rate: featurizer stride in samples (unused: CTC runs at the feature rate).
        downstream_expert: the config's ``downstream_expert`` section (``datarc``, ``modelrc``).
        expdir: experiment folder (``<split>-hyp.txt`` / ``<split>-ref.txt`` are written there).

    Splits: ``train``, ``dev``, ``test`` and any other ``datarc`` key holding a list of
    LibriSpeech subsets (e.g. ``dev-other``).
    """

    def __init__(self, upstream_dim: int, upstream_rate: int, downstream_expert: dict,
                 expdir: str, **kwargs):
        super().__init__()
        self.datarc = dict(downstream_expert["datarc"])
        self.modelrc = dict(downstream_expert["modelrc"])
        self.expdir = Path(expdir)
        dict_path = self.datarc.get("dict_path")
        self.vocab = CharVocabulary.from_file(dict_path) if dict_path else CharVocabulary()
        select = self.modelrc.get("select", "RNNs")
        if select != "RNNs":
            raise ValueError(f"asr modelrc.select must be 'RNNs', got {select!r}")
        project_dim = int(self.modelrc["project_dim"])
        self.projector = nn.Linear(upstream_dim, project_dim)
        self.model = RNNs(project_dim, len(self.vocab), **dict(self.modelrc.get("RNNs", {})))
        self.objective = nn.CTCLoss(blank=self.vocab.blank,
                                    zero_infinity=bool(self.datarc.get("zero_infinity", True)))
        self.greedy = GreedyDecoder(self.vocab.blank)
        self.decoder = build_decoder(self.datarc.get("decoder_args"), self.vocab.blank,
                                     self.vocab.index["|"], self.vocab.symbols)
        # float64: a float32 copy of the best score would make an equal later score "better"
        self.register_buffer("best_score", torch.full((1,), math.inf, dtype=torch.float64))
        self._datasets: dict[str, TranscribedDataset] = {}

    # data
    def _subsets(self, split: str) -> list[str]:
        value = self.datarc.get(split)
        if not isinstance(value, (list, tuple)) or not value:
            known = [k for k, v in self.datarc.items() if isinstance(v, (list, tuple)) and v]
            raise ValueError(f"asr: unknown split {split!r}; splits in datarc: {known}")
        return list(value)

    def dataset(self, split: str) -> TranscribedDataset:
        """The (cached) dataset of a split; raises as :func:`read_librispeech` does."""
        if split not in self._datasets:
            utts = read_librispeech(self.datarc["libri_root"], self._subsets(split))
            labels = [self.vocab.encode(u.transcript, where=u.path) for u in utts]
            self._datasets[split] = TranscribedDataset(utts, labels)
        return self._datasets[split]

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, labels, utt_ids)``; ``train`` is shuffled (seeded by datarc ``seed``
        or the global seed, and ``epoch``)."""
        train = split == "train"
        batch_size = self.datarc.get("train_batch_size" if train else "eval_batch_size", 1)
        return make_dataloader(self.dataset(split), batch_size, train, epoch,
                               self.datarc.get("seed"), self.datarc.get("num_workers", 0),
                               collate_transcribed)

    # model
    def _log_probs(self, features, features_len):
        logits, lengths = self.model(self.projector(features), features_len)
        return logits.float().log_softmax(dim=-1), lengths

    def forward(self, split: str, features: torch.Tensor, features_len: torch.Tensor,
                labels: list[torch.Tensor], utt_ids: list[str], records: dict, **kwargs):
        """CTC loss of a batch; appends ``loss``, ``hypothesis``, ``groundtruth``, ``utt_id``
        to ``records`` (greedy hypotheses on ``train``, ``decoder_args`` decoding otherwise)."""
        log_probs, lengths = self._log_probs(features, features_len)
        loss = ctc_batch_loss(self.objective, log_probs, lengths, labels)
        decoder = self.greedy if split == "train" else self.decoder
        hyps = decoder(log_probs.detach(), lengths)
        records["loss"].append(loss.item())
        records["hypothesis"] += [self.vocab.decode(h) for h in hyps]
        records["groundtruth"] += [self.vocab.decode(lab.tolist()) for lab in labels]
        records["utt_id"] += list(utt_ids)
        return loss

    def log_records(self, split: str, records: dict, logger, global_step: int,
                    **kwargs) -> list[str]:
        """Logs ``asr/<split>-{loss,wer,cer}``; on ``dev`` returns ``["dev-best.ckpt"]`` when the
        WER improved. Writes ``<split>-hyp.txt`` and ``<split>-ref.txt`` (not for train)."""
        results = {
            "loss": sum(records["loss"]) / max(len(records["loss"]), 1),
            "wer": wer(records["groundtruth"], records["hypothesis"]),
            "cer": cer(records["groundtruth"], records["hypothesis"]),
        }
        for key, value in results.items():
            logger.add_scalar(f"{TASK}/{split}-{key}", value, global_step=global_step)
        if split != "train":
            self.expdir.mkdir(parents=True, exist_ok=True)
            write_pairs(self.expdir / f"{split}-hyp.txt", records["utt_id"], records["hypothesis"])
            write_pairs(self.expdir / f"{split}-ref.txt", records["utt_id"], records["groundtruth"])
        save = []
        if split == "dev" and results["wer"] < self.best_score.item():
            self.best_score.fill_(results["wer"])
            save.append("dev-best.ckpt")
        return save

    def predict(self, features: torch.Tensor, features_len: torch.Tensor) -> list[str]:
        """Transcripts (``decoder_args`` decoding) of a padded batch of features."""
        log_probs, lengths = self._log_probs(features, features_len)
        return [self.vocab.decode(h) for h in self.decoder(log_probs, lengths)]
