"""Metrics of the sequence and speaker-verification downstream tasks, in one place.

* Edit-distance rates: :func:`wer` (word error rate), :func:`cer` (character error rate),
  :func:`per` (phone error rate), all from :func:`edit_distance` (Levenshtein distance,
  unit costs for substitution, deletion and insertion).
* CTC: :func:`ctc_greedy_decode` (best path: collapse repeats, then drop blanks).
* Verification: :func:`roc_points`, :func:`eer` (equal error rate), :func:`min_dcf`
  (minimum normalised detection cost, NIST SRE).

Conventions (the tests check them against ``jiwer`` and scikit-learn's ``roc_curve``):

* Rates are corpus level: the sum of the edit distances over all utterances divided by the
  total reference length, ``errors / max(reference_length, 1)``. With an all-empty reference
  set the rate is therefore the raw error count (what ``jiwer`` 4 returns), 0.0 when the
  hypotheses are empty too.
* Words and phones are whitespace-separated tokens (runs of spaces and leading/trailing spaces
  do not count). Characters for CER are those of the text after stripping it and collapsing
  every whitespace run to one space; that space is a character (as in ``jiwer.cer``).
* Scores for verification: higher means "same speaker"; label 1 = target (same speaker) trial,
  0 = non-target. Tied scores are one threshold: they are accepted or rejected together.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "edit_distance",
    "error_rate",
    "wer",
    "cer",
    "per",
    "ctc_greedy_decode",
    "roc_points",
    "eer",
    "min_dcf",
]


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two token sequences (unit costs).

    Args:
        ref: reference tokens (any hashable items: words, characters, phones, ids).
        hyp: hypothesis tokens.

    Returns:
        The least number of substitutions + deletions + insertions turning ``ref`` into
        ``hyp`` (Levenshtein, 1966; dynamic programming in O(len(ref) * len(hyp))).
    """
    ref = list(ref)
    hyp = list(hyp)
    if not ref:
        return len(hyp)
    if not hyp:
        return len(ref)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """Corpus-level token error rate: ``sum(edit_distance) / max(sum(len(ref)), 1)``.

    Args:
        refs: one token sequence per utterance.
        hyps: one token sequence per utterance, same length as ``refs``.

    Raises:
        ValueError: ``refs`` and ``hyps`` differ in length.
    """
    if len(refs) != len(hyps):
        raise ValueError(
            f"error rate: {len(refs)} references but {len(hyps)} hypotheses; "
            "give one hypothesis per reference"
        )
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    total = sum(len(r) for r in refs)
    return errors / max(total, 1)


def _as_list(texts: str | Sequence[str]) -> list[str]:
    return [texts] if isinstance(texts, str) else list(texts)


def _chars(text: str) -> list[str]:
    return list(" ".join(text.split()))


def wer(references: str | Sequence[str], hypotheses: str | Sequence[str]) -> float:
    """Word error rate of transcripts (corpus level, words = whitespace-separated tokens).

    Args:
        references: one string or a list of reference transcripts.
        hypotheses: the same number of hypothesis transcripts.

    Returns:
        ``(S + D + I) / N`` with ``N`` the total number of reference words (``N`` taken as 1
        when every reference is empty), as ``jiwer.wer``.
    """
    refs = [t.split() for t in _as_list(references)]
    hyps = [t.split() for t in _as_list(hypotheses)]
    return error_rate(refs, hyps)


def cer(references: str | Sequence[str], hypotheses: str | Sequence[str]) -> float:
    """Character error rate (corpus level; spaces between words count as characters).

    Each text is stripped and its whitespace runs collapsed to one space first.

    Returns:
        Character edit distance over the total number of reference characters (taken as 1
        when every reference is empty), as ``jiwer.cer`` on normalised text.
    """
    refs = [_chars(t) for t in _as_list(references)]
    hyps = [_chars(t) for t in _as_list(hypotheses)]
    return error_rate(refs, hyps)


def per(references: str | Sequence[str], hypotheses: str | Sequence[str]) -> float:
    """Phone error rate: :func:`wer`'s computation on space-separated phone strings.

    Example: ``per(["k ae t"], ["k ah t"]) == 1 / 3``.
    """
    return wer(references, hypotheses)


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None, blank: int = 0
) -> list[list[int]]:
    """Best-path CTC decoding: arg-max per frame, merge repeated labels, then remove blanks.

    This is the many-to-one map B of Graves et al. (2006), the one ``torch.nn.CTCLoss`` sums
    over: ``a a - a b b`` -> ``a a b`` (a blank between two equal labels keeps both).

    Args:
        log_probs: ``(batch, frames, vocab)`` float scores (log-probabilities or logits).
        lengths: ``(batch,)`` long, valid frames per utterance (frames past it are ignored);
            ``None`` = all frames valid.
        blank: index of the CTC blank.

    Returns:
        One list of label ids per utterance.

    Raises:
        ValueError: ``log_probs`` is not 3-D, or ``lengths`` does not match the batch.
    """
    if log_probs.dim() != 3:
        raise ValueError(
            f"ctc_greedy_decode: log_probs must be (batch, frames, vocab), got shape "
            f"{tuple(log_probs.shape)}"
        )
    batch, frames = log_probs.shape[:2]
    if lengths is None:
        lengths = torch.full((batch,), frames, dtype=torch.long)
    if lengths.shape != (batch,):
        raise ValueError(
            f"ctc_greedy_decode: lengths must have shape ({batch},), got {tuple(lengths.shape)}"
        )
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for path, n in zip(best, lengths.tolist()):
        merged = torch.unique_consecutive(path[: int(n)])
        out.append([int(t) for t in merged.tolist() if t != blank])
    return out


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Operating points of a verification system, one per distinct score threshold.

    A trial is accepted when its score is ``>= threshold``. Thresholds run from above the
    highest score (accept nothing) down to the lowest score (accept everything); tied scores
    share one threshold.

    Args:
        labels: ``(n,)`` 0/1 (1 = target trial), at least one of each.
        scores: ``(n,)`` float, higher = more likely a target.

    Returns:
        ``(p_fa, p_miss, thresholds)``: false-acceptance rate (non-targets accepted /
        non-targets), miss rate (targets rejected / targets), and the thresholds (the first is
        ``+inf``); each ``(k + 1,)`` for ``k`` distinct scores. ``p_fa`` rises, ``p_miss`` falls.

    Raises:
        ValueError: lengths differ, labels other than 0/1, no target or no non-target trial,
            or a NaN score.
    """
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got {sorted(set(labels.tolist()))}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    n_target = int((labels == 1).sum())
    n_nontarget = int((labels == 0).sum())
    if n_target == 0 or n_nontarget == 0:
        raise ValueError(
            f"need target and non-target trials, got {n_target} target and "
            f"{n_nontarget} non-target"
        )
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    y = labels[order]
    # last index of each run of equal scores (descending order)
    ends = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    accepted_targets = np.cumsum(y == 1)[ends]
    accepted_nontargets = np.cumsum(y == 0)[ends]
    p_fa = np.r_[0.0, accepted_nontargets / n_nontarget]
    p_miss = np.r_[1.0, 1.0 - accepted_targets / n_target]
    thresholds = np.r_[np.inf, s[ends]]
    return p_fa, p_miss, thresholds


def eer(labels, scores) -> float:
    """Equal error rate: where the miss and false-acceptance rates are equal.

    The ROC curve is the polyline through :func:`roc_points` (tied scores make one point, the
    line between points is the randomised mix of the two thresholds); the EER is where that
    polyline crosses ``p_miss == p_fa``. It equals the root of ``1 - x - tpr(x)`` on the linearly
    interpolated ROC, which is how s3prl 0.4's ``sv_voxceleb1/utils.py`` defines it.

    Args:
        labels: ``(n,)`` 0/1, 1 = target trial.
        scores: ``(n,)`` float, higher = same speaker.

    Returns:
        EER as a fraction in [0, 1] (0 = perfectly separated, 0.5 = chance, e.g. all scores tied).
    """
    p_fa, p_miss, _ = roc_points(labels, scores)
    diff = p_miss - p_fa  # starts at +1, ends at -1, non-increasing
    i = int(np.nonzero(diff <= 0)[0][0])
    if diff[i] == 0:
        return float(p_fa[i])
    # crossing inside the segment (i - 1, i): diff goes from > 0 to < 0
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(p_fa[i - 1] + t * (p_fa[i] - p_fa[i - 1]))


def min_dcf(
    labels, scores, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> float:
    """Minimum normalised detection cost function (NIST SRE).

    ``DCF(t) = c_miss * P_miss(t) * p_target + c_fa * P_fa(t) * (1 - p_target)``, divided by
    ``min(c_miss * p_target, c_fa * (1 - p_target))`` (the cost of the better trivial system),
    minimised over every threshold of :func:`roc_points` (accept-all and reject-all included).
    VoxCeleb / SUPERB report it with ``p_target = 0.01`` and unit costs.

    Returns:
        minDCF, a float in [0, 1].

    Raises:
        ValueError: ``p_target`` not in (0, 1), or bad labels/scores (see :func:`roc_points`).
    """
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    p_fa, p_miss, _ = roc_points(labels, scores)
    dcf = c_miss * p_miss * p_target + c_fa * p_fa * (1.0 - p_target)
    norm = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(dcf.min() / norm)
