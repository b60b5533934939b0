"""``ctc``: SUPERB phoneme recognition (PR) on LibriSpeech with a pronunciation lexicon.

Phone transcripts come from the word transcripts through the lexicon
(:mod:`s3prl.downstream.ctc.lexicon`, LibriSpeech ``librispeech-lexicon.txt`` format, CMU phones
without stress by default). Head: ``Linear(upstream_dim, project_dim)`` then a frame-level
linear layer (optional hidden layers) to the phones, trained with CTC (blank = index 0), greedy
decoding. Metric: PER (:func:`s3prl.downstream.metrics.per`); the dev PER selects
``dev-best.ckpt``. Config keys follow s3prl 0.4.18's ``downstream/ctc/libriphone.yaml``
(``corpus``, ``text``, ``model``, ``save_best_on``, ``metric_higher_better``, ``metric``).

Words missing from the lexicon: an utterance with any such word is dropped from its split
(a partial phone transcript would teach wrong alignments); each split logs a warning with the
number of dropped utterances and distinct missing words (and keeps it in ``oov_report``). A
split left empty raises ``ValueError``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

from ..asr.dataset import (
    TranscribedDataset,
    collate_transcribed,
    make_dataloader,
    read_librispeech,
)
from ..asr.expert import ctc_batch_loss, write_pairs
from ..metrics import ctc_greedy_decode, per
from .lexicon import PhoneVocabulary, read_lexicon, transcript_to_phones

TASK = "ctc"
logger = logging.getLogger(__name__)


class FrameLevel(nn.Module):
    """Frame-wise MLP: ``hiddens`` Linear+activation layers then a Linear to ``output_dim``
    (s3prl 0.4 ``downstream/model.py``'s ``FrameLevel``; no hiddens = linear head)."""

    def __init__(self, input_dim: int, output_dim: int, hiddens=None, activation="ReLU"):
        super().__init__()
        layers = []
        for size in hiddens or []:
            layers += [nn.Linear(input_dim, int(size)), getattr(nn, activation)()]
            input_dim = int(size)
        layers.append(nn.Linear(input_dim, output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, frames, input_dim)`` -> ``(batch, frames, output_dim)``."""
        return self.net(x)


class DownstreamExpert(nn.Module):
    """SUPERB phoneme recognition downstream (see the module docstring).

    Args:
        upstream_dim: feature size of the featurizer output.
        upstream_rate: featurizer stride in samples (unused: CTC at the feature rate).
        downstream_expert: the config's ``downstream_expert`` section (``corpus``, ``text``,
            ``model``, ``metric``...).
        expdir: experiment folder (``<split>-hyp.txt`` / ``<split>-ref.txt`` written there).

    Raises:
        FileNotFoundError: a lexicon or vocabulary file is missing (names it).
        ValueError: unsupported ``corpus.name``, ``text.mode``, ``model.select`` or metric.
    """

    def __init__(self, upstream_dim: int, upstream_rate: int, downstream_expert: dict,
                 expdir: str, **kwargs):
        super().__init__()
        self.corpus = dict(downstream_expert["corpus"])
        self.text = dict(downstream_expert.get("text", {}))
        modelrc = dict(downstream_expert["model"])
        self.expdir = Path(expdir)
        if self.corpus.get("name", "libriphone") != "libriphone":
            raise ValueError(f"ctc corpus.name must be 'libriphone', got {self.corpus['name']!r}")
        if self.text.get("mode", "word") != "word":
            raise ValueError(f"ctc text.mode must be 'word' (phones), got {self.text['mode']!r}")
        self.metrics = list(downstream_expert.get("metric", ["per"]))
        if self.metrics != ["per"]:
            raise ValueError(f"ctc metric must be [per], got {self.metrics}")
        self.save_best_on = list(downstream_expert.get("save_best_on", ["dev"]))
        if downstream_expert.get("metric_higher_better", False):
            raise ValueError("ctc metric_higher_better must be false (PER: lower is better)")

        remove_stress = bool(self.text.get("remove_stress", True))
        self.lexicon = read_lexicon(self.corpus["lexicon"], remove_stress=remove_stress)
        vocab_file = self.text.get("vocab_file")
        self.vocab = (PhoneVocabulary.from_file(vocab_file, remove_stress) if vocab_file
                      else PhoneVocabulary.from_lexicon(self.lexicon))

        select = modelrc.get("select", "FrameLevel")
        if select != "FrameLevel":
            raise ValueError(f"ctc model.select must be 'FrameLevel', got {select!r}")
        project_dim = int(modelrc["project_dim"])
        self.projector = nn.Linear(upstream_dim, project_dim)
        self.model = FrameLevel(project_dim, len(self.vocab), **dict(modelrc.get(select) or {}))
        self.objective = nn.CTCLoss(blank=self.vocab.blank,
                                    zero_infinity=bool(modelrc.get("zero_infinity", True)))
        # float64: a float32 copy of the best score would make an equal later score "better"
        self.register_buffer("best_score", torch.full((1,), math.inf, dtype=torch.float64))
        self.oov_report: dict[str, dict] = {}
        self._datasets: dict[str, TranscribedDataset] = {}

    def dataset(self, split: str) -> TranscribedDataset:
        """Dataset of a split, utterances with out-of-lexicon words dropped (logged)."""
        if split in self._datasets:
            return self._datasets[split]
        subsets = self.corpus.get(split)
        if not isinstance(subsets, (list, tuple)) or not subsets:
            raise ValueError(f"ctc: unknown split {split!r}; expected train, dev or test "
                             "(corpus.<split> = list of LibriSpeech subsets)")
        kept, labels, missing_words, dropped = [], [], set(), 0
        for utt in read_librispeech(self.corpus["path"], list(subsets)):
            phones, missing = transcript_to_phones(utt.transcript, self.lexicon)
            if phones is None:
                dropped += 1
                missing_words.update(missing)
                continue
            kept.append(utt)
            labels.append(self.vocab.encode(phones, where=f"{utt.utt_id}, {utt.path}"))
        total = len(kept) + dropped
        self.oov_report[split] = {"utterances": total, "dropped": dropped,
                                  "missing_words": sorted(missing_words)}
        if dropped:
            shown = ", ".join(sorted(missing_words)[:10])
            logger.warning(
                "ctc %s: dropped %d of %d utterances with words missing from the lexicon "
                "(%d distinct words: %s%s)", split, dropped, total, len(missing_words), shown,
                ", ..." if len(missing_words) > 10 else "",
            )
        if not kept:
            raise ValueError(f"ctc {split}: every utterance has a word missing from the lexicon "
                             f"{self.corpus['lexicon']}")
        self._datasets[split] = TranscribedDataset(kept, labels)
        return self._datasets[split]

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, phone_ids, utt_ids)``; ``train`` shuffled (corpus ``seed`` or the
        global seed, and ``epoch``)."""
        return make_dataloader(self.dataset(split), self.corpus.get("batch_size", 16),
                               split == "train", epoch, self.corpus.get("seed"),
                               self.corpus.get("num_workers", 0), collate_transcribed)

    def _log_probs(self, features):
        return self.model(self.projector(features)).float().log_softmax(dim=-1)

    def forward(self, split: str, features: torch.Tensor, features_len: torch.Tensor,
                labels: list[torch.Tensor], utt_ids: list[str], records: dict, **kwargs):
        """CTC loss; appends ``loss``, ``hypothesis``/``groundtruth`` (phone strings) and
        ``utt_id`` to ``records``."""
        log_probs = self._log_probs(features)
        loss = ctc_batch_loss(self.objective, log_probs, features_len, labels)
        hyps = ctc_greedy_decode(log_probs.detach(), features_len, blank=self.vocab.blank)
        records["loss"].append(loss.item())
        records["hypothesis"] += [self.vocab.decode(h) for h in hyps]
        records["groundtruth"] += [self.vocab.decode(lab.tolist()) for lab in labels]
        records["utt_id"] += list(utt_ids)
        return loss

    def log_records(self, split: str, records: dict, logger, global_step: int,
                    **kwargs) -> list[str]:
        """Logs ``ctc/<split>-{loss,per}``; returns ``["<split>-best.ckpt"]`` when the PER of a
        ``save_best_on`` split improved; writes ``<split>-hyp.txt`` / ``-ref.txt``."""
        loss = sum(records["loss"]) / max(len(records["loss"]), 1)
        value = per(records["groundtruth"], records["hypothesis"])
        logger.add_scalar(f"{TASK}/{split}-loss", loss, global_step=global_step)
        logger.add_scalar(f"{TASK}/{split}-per", value, global_step=global_step)
        if split != "train":
            self.expdir.mkdir(parents=True, exist_ok=True)
            write_pairs(self.expdir / f"{split}-hyp.txt", records["utt_id"], records["hypothesis"])
            write_pairs(self.expdir / f"{split}-ref.txt", records["utt_id"], records["groundtruth"])
        if split in self.save_best_on and value < self.best_score.item():
            self.best_score.fill_(value)
            return [f"{split}-best.ckpt"]
        return []

    def predict(self, features: torch.Tensor, features_len: torch.Tensor) -> list[str]:
        """Greedy phone strings of a padded batch of features."""
        ids = ctc_greedy_decode(self._log_probs(features), features_len, blank=self.vocab.blank)
        return [self.vocab.decode(h) for h in ids]
