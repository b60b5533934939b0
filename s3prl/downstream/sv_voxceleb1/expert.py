"""``sv_voxceleb1``: SUPERB automatic speaker verification (ASV) on VoxCeleb1.

Training: speaker classification of VoxCeleb1 dev utterances with an x-vector head and the
AM-softmax loss (:mod:`s3prl.downstream.sv_voxceleb1.model`). Scoring: every distinct
utterance of a trial list is embedded once; a trial's score is the cosine similarity of its
two embeddings. Metrics: EER and minDCF (p_target 0.01)
(:mod:`s3prl.downstream.metrics`); the dev EER selects ``dev-best.ckpt``. Data layout and
error rules: :mod:`s3prl.downstream.sv_voxceleb1.dataset`. Config keys follow s3prl 0.4.18's
``downstream/sv_voxceleb1/configs/amsoftmax.yaml``.

Inference (``-m inference``): :meth:`DownstreamExpert.predict` gives each wav's embedding;
the optional hook :meth:`DownstreamExpert.inference_postprocess` then writes trial scores.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..asr.dataset import make_dataloader
from ..metrics import eer, min_dcf
from .dataset import EpochView, SpeakerTrainDataset, TrialDataset, as_path, collate
from .model import AMSoftmaxLoss, SoftmaxLoss, XVector

TASK = "sv_voxceleb1"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class DownstreamExpert(nn.Module):
    """SUPERB ASV downstream (see the module docstring).

    Args:
        upstream_dim: feature size of the featurizer output.
        upstream_rate: featurizer stride in samples (unused).
        downstream_expert: the config's ``downstream_expert`` (``datarc``, ``modelrc``).
        expdir: experiment folder (``<split>-trial-scores.txt`` written there).

    The number of training speakers (AM-softmax classes) is read from the training folder when
    the expert is built, so ``datarc.file_path`` must hold ``dev/wav`` then (also for
    ``-m evaluate`` / ``-m inference``, as in s3prl).

    Raises:
        FileNotFoundError / ValueError: see :mod:`~s3prl.downstream.sv_voxceleb1.dataset`;
            ``ValueError`` for an unsupported ``modelrc`` choice.
    """

    def __init__(self, upstream_dim: int, upstream_rate: int, downstream_expert: dict,
                 expdir: str, **kwargs):
        super().__init__()
        self.datarc = dict(downstream_expert["datarc"])
        self.modelrc = dict(downstream_expert["modelrc"])
        self.expdir = Path(expdir)
        root = Path(self.datarc["file_path"])
        self.train_root = root / "dev" / "wav"
        self.test_root = root / "test" / "wav"
        vad = dict(self.datarc.get("vad_config") or {})
        self.train_dataset = SpeakerTrainDataset(
            self.train_root, as_path(self.datarc.get("train_meta_data")),
            min_samples=int(vad.get("min_sec", 0)),
            max_timestep=self.datarc.get("max_timestep"), seed=self.datarc.get("seed"),
        )
        for key, expected in [("module", "XVector"), ("agg_module", "SP"),
                              ("utter_module", "UtteranceExtractor")]:
            if self.modelrc.get(key, expected) != expected:
                raise ValueError(f"sv_voxceleb1 modelrc.{key} must be {expected!r}, "
                                 f"got {self.modelrc[key]!r}")
        input_dim = int(self.modelrc["input_dim"])
        xcfg = dict((self.modelrc.get("module_config") or {}).get("XVector") or {})
        self.connector = nn.Linear(upstream_dim, input_dim)
        self.model = XVector(input_dim, int(xcfg.get("agg_dim", 1500)),
                             float(xcfg.get("dropout_p", 0.0)), bool(xcfg.get("batch_norm", False)))
        loss_name = self.modelrc.get("ObjectiveLoss", "AMSoftmaxLoss")
        loss_cfg = dict((self.modelrc.get("LossConfig") or {}).get(loss_name) or {})
        loss_cfg.pop("no_args", None)
        if loss_name == "AMSoftmaxLoss":
            self.objective = AMSoftmaxLoss(input_dim, len(self.train_dataset.speakers),
                                           **loss_cfg)
        elif loss_name == "SoftmaxLoss":
            self.objective = SoftmaxLoss(input_dim, len(self.train_dataset.speakers))
        else:
            raise ValueError(f"sv_voxceleb1 modelrc.ObjectiveLoss must be AMSoftmaxLoss or "
                             f"SoftmaxLoss, got {loss_name!r}")
        # float64: a float32 copy of the best score would make an equal later score "better"
        self.register_buffer("best_score", torch.full((1,), math.inf, dtype=torch.float64))
        self._eval_datasets: dict[str, TrialDataset] = {}

    # data
    def trial_dataset(self, split: str) -> TrialDataset:
        """Distinct utterances of the ``dev`` (``dev_meta_data``, paths under dev/wav) or
        ``test`` trials (``test_meta_data``, default ``<file_path>/veri_test2.txt``, paths under
        test/wav)."""
        if split not in self._eval_datasets:
            if split == "dev":
                trials = self.datarc.get("dev_meta_data")
                if not trials:
                    raise ValueError("sv_voxceleb1: split 'dev' needs datarc.dev_meta_data "
                                     "(a trial list over dev/wav)")
                self._eval_datasets[split] = TrialDataset(trials, self.train_root)
            elif split == "test":
                trials = (self.datarc.get("test_meta_data")
                          or Path(self.datarc["file_path"]) / "veri_test2.txt")
                self._eval_datasets[split] = TrialDataset(trials, self.test_root)
            else:
                raise ValueError(f"sv_voxceleb1: unknown split {split!r}; expected train, dev "
                                 "or test")
        return self._eval_datasets[split]

    def get_dataloader(self, split: str, epoch: int = 0):
        """Batches ``(wavs, speaker_labels, keys)``: ``train`` shuffled and cropped to
        ``max_timestep`` (seeded by datarc ``seed`` or the global seed, and ``epoch``); ``dev`` /
        ``test`` give each distinct trial utterance once (labels -1)."""
        if split == "train":
            return make_dataloader(EpochView(self.train_dataset, epoch),
                                   self.datarc.get("train_batch_size", 10), True, epoch, self.datarc.get("seed"),
                                   self.datarc.get("num_workers", 0), collate)
        return make_dataloader(self.trial_dataset(split), self.datarc.get("eval_batch_size", 1),
                               False, epoch, None, self.datarc.get("num_workers", 0), collate)

    # model
    def embed(self, features: torch.Tensor, features_len: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings ``(batch, input_dim)`` of padded features."""
        return F.normalize(self.model.embed(self.connector(features), features_len).float(),
                           dim=-1)

    def forward(self, split: str, features: torch.Tensor, features_len: torch.Tensor,
                labels: torch.Tensor, keys: list[str], records: dict, **kwargs):
        """``train``: AM-softmax loss, ``records["loss"]``. ``dev``/``test``: embeddings into
        ``records["key"]`` / ``records["embedding"]``, loss 0."""
        if split == "train":
            out = self.model(self.connector(features), features_len)
            loss = self.objective(out.float(), labels.to(out.device))
            records["loss"].append(loss.item())
            return loss
        emb = self.embed(features, features_len).detach().cpu()
        records["key"] += list(keys)
        records["embedding"] += list(emb)
        return torch.zeros((), device=features.device)

    def score_trials(self, split: str, records: dict) -> tuple[list[int], list[float], list]:
        """Cosine score of every trial of ``split`` from the recorded embeddings.

        Raises:
            KeyError: a trial utterance has no recorded embedding (names it).
        """
        table = dict(zip(records["key"], records["embedding"]))
        labels, scores = [], []
        trials = self.trial_dataset(split).trials
        for label, a, b in trials:
            for key in (a, b):
                if key not in table:
                    raise KeyError(f"sv_voxceleb1 {split}: no embedding recorded for {key}")
            labels.append(label)
            scores.append(float(torch.dot(table[a], table[b])))
        return labels, scores, trials

    def log_records(self, split: str, records: dict, logger, global_step: int,
                    **kwargs) -> list[str]:
        """``train``: logs ``sv_voxceleb1/train-loss``. ``dev``/``test``: scores the trials,
        logs ``-EER`` and ``-minDCF`` (p_target 0.01), writes ``<split>-trial-scores.txt``
        (``score label path1 path2``); returns ``["dev-best.ckpt"]`` when the dev EER improved."""
        if split == "train":
            loss = sum(records["loss"]) / max(len(records["loss"]), 1)
            logger.add_scalar(f"{TASK}/train-loss", loss, global_step=global_step)
            return []
        labels, scores, trials = self.score_trials(split, records)
        value = eer(labels, scores)
        logger.add_scalar(f"{TASK}/{split}-EER", value, global_step=global_step)
        logger.add_scalar(f"{TASK}/{split}-minDCF", min_dcf(labels, scores, p_target=0.01),
                          global_step=global_step)
        self.expdir.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.expdir / f"{split}-trial-scores.txt",
                      "".join(f"{s:.6f} {lab} {a} {b}\n"
                              for s, (lab, a, b) in zip(scores, trials)))
        if split == "dev" and value < self.best_score.item():
            self.best_score.fill_(value)
            return ["dev-best.ckpt"]
        return []

    def predict(self, features: torch.Tensor, features_len: torch.Tensor) -> list[list[float]]:
        """One L2-normalised speaker embedding (list of floats) per utterance."""
        return self.embed(features, features_len).cpu().tolist()

    def inference_postprocess(self, paths: list[str], predictions: list, expdir: str) -> list[str]:
        """Optional runner hook after ``-m inference``: writes
        ``EXPDIR/inference-trial-scores.txt`` with :func:`score_embeddings` (trials from
        ``datarc.inference_trials``, else every pair of the inferred wavs). Returns the files
        written. The same from a finished ``inference.jsonl``:
        ``python -m s3prl.downstream.sv_voxceleb1.score_inference EXPDIR/inference.jsonl``."""
        out = Path(expdir) / "inference-trial-scores.txt"
        score_embeddings(paths, predictions, out, self.datarc.get("inference_trials"))
        return [str(out)]


def score_embeddings(paths: list[str], embeddings: list, out, trial_file=None) -> int:
    """Cosine scores of trials over embedded wavs, written to ``out`` (atomically).

    Args:
        paths: wav paths, as given to ``-m inference``.
        embeddings: one embedding (list of floats) per path.
        out: output file; lines ``score [label] path1 path2``.
        trial_file: lines ``[label] path1 path2`` (relative paths are taken from the trial
            file's folder; both wavs must be among ``paths``); ``None`` = every unordered pair
            of ``paths`` in input order.

    Returns:
        The number of trials scored.

    Raises:
        FileNotFoundError: the trial file is missing. KeyError: a trial names a wav that is not
            among ``paths`` (named, with ``file:line``).
    """
    table = {str(Path(p).resolve()): F.normalize(torch.tensor(e, dtype=torch.float64), dim=0)
             for p, e in zip(paths, embeddings)}
    lines = []
    if trial_file:
        trial_file = Path(trial_file)
        if not trial_file.is_file():
            raise FileNotFoundError(f"inference trial list not found: {trial_file}")
        for lineno, line in enumerate(trial_file.read_text().splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            label, pair = (fields[0], fields[1:]) if len(fields) == 3 else (None, fields)
            resolved = [str((trial_file.parent / p).resolve()) for p in pair]
            for p, r in zip(pair, resolved):
                if r not in table:
                    raise KeyError(f"{trial_file}:{lineno}: {p} was not among the inferred wavs")
            score = float(torch.dot(table[resolved[0]], table[resolved[1]]))
            lines.append(" ".join([f"{score:.6f}"] + ([label] if label else []) + pair))
    else:
        for a, b in itertools.combinations(paths, 2):
            score = float(torch.dot(table[str(Path(a).resolve())], table[str(Path(b).resolve())]))
            lines.append(f"{score:.6f} {a} {b}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out, "".join(ln + "\n" for ln in lines))
    return len(lines)
