"""Metrics of the sequence / verification tasks against independent computations.

WER/CER/PER against ``jiwer``; the edit distance against ``editdistance``; EER and minDCF
against scikit-learn's ``roc_curve`` (+ scipy's root finder for the EER, the formula of s3prl
0.4's ``sv_voxceleb1/utils.py``); CTC greedy decoding against ``torch.nn.functional.ctc_loss``.
"""

import random

import editdistance
import jiwer
import numpy as np
import pytest
import torch
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import roc_curve

from s3prl.downstream import metrics

TEXT_CASES = [
    (["THE CAT SAT"], ["THE CAT SAT"]),
    (["THE CAT SAT"], ["THE BAT SAT ON"]),
    (["A B C D", "E F"], ["A C D", "E F G H"]),
    (["OPEN THE DOOR", "CLOSE IT"], ["", "CLOSE IT"]),  # empty hypothesis
    (["OPEN THE DOOR", ""], ["OPEN THE DOOR", "X Y"]),  # empty reference among others
    ([""], ["A B C"]),  # every reference empty: raw error count
    (["", ""], ["A", "B C"]),
    ([""], [""]),
    (["HELLO WORLD"], ["HELO WORLD"]),
    (["IT'S A TEST"], ["ITS A TEST"]),
]


@pytest.mark.parametrize("refs,hyps", TEXT_CASES)
def test_wer_cer_equal_jiwer(refs, hyps):
    assert metrics.wer(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps), abs=1e-12)
    assert metrics.cer(refs, hyps) == pytest.approx(jiwer.cer(refs, hyps), abs=1e-12)


def test_wer_hand_values_and_whitespace_convention():
    # 1 substitution + 1 insertion over 3 reference words
    assert metrics.wer("THE CAT SAT", "THE BAT SAT ON") == pytest.approx(2 / 3)
    assert metrics.wer([""], ["A B C"]) == 3.0
    assert metrics.wer([""], [""]) == 0.0
    # documented normalisation: whitespace runs collapse (jiwer.cer would count the extra space)
    assert metrics.cer(["A  B "], ["A B"]) == 0.0
    assert metrics.cer(["AB"], ["A B"]) == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        metrics.wer(["A", "B"], ["A"])


def test_per_is_word_edit_distance_on_phones():
    refs = ["k ae t", "d ao g z", "s IH t"]
    hyps = ["k ah t", "d ao g", "s IH t t"]
    # 1 sub + 1 del + 1 ins over 10 phones
    assert metrics.per(refs, hyps) == pytest.approx(3 / 10)
    assert metrics.per(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps))
    # multi-character phone names are single tokens: "t#" vs "t" is one substitution
    assert metrics.per(["h i t# 3"], ["h i t 3"]) == pytest.approx(1 / 4)


def test_edit_distance_equals_editdistance_package():
    rng = random.Random(0)
    for _ in range(200):
        a = [rng.randrange(4) for _ in range(rng.randrange(0, 12))]
        b = [rng.randrange(4) for _ in range(rng.randrange(0, 12))]
        assert metrics.edit_distance(a, b) == editdistance.eval(a, b)


def _peaked_log_probs(path, vocab, eps=1e-3):
    """(1, T, vocab) log-probabilities putting 1 - eps on the given frame labels."""
    probs = torch.full((len(path), vocab), eps / (vocab - 1), dtype=torch.float64)
    probs[torch.arange(len(path)), torch.tensor(path)] = 1 - eps
    return probs.log()[None]


def test_ctc_greedy_hand_cases():
    # blank = 0: "a a - a b b -" -> a a b ; repeats merge, a blank separates equal labels
    lp = _peaked_log_probs([1, 1, 0, 1, 2, 2, 0], vocab=3)
    assert metrics.ctc_greedy_decode(lp) == [[1, 1, 2]]
    assert metrics.ctc_greedy_decode(_peaked_log_probs([0, 0, 0], 3)) == [[]]
    # lengths cut the padded frames; blank index other than 0
    lp = torch.cat([_peaked_log_probs([2, 1, 1, 0], 3), _peaked_log_probs([1, 2, 2, 2], 3)])
    out = metrics.ctc_greedy_decode(lp, torch.tensor([4, 2]), blank=2)
    assert out == [[1, 0], [1]]
    with pytest.raises(ValueError, match="batch, frames, vocab"):
        metrics.ctc_greedy_decode(torch.zeros(3, 4))


def test_ctc_greedy_matches_torch_ctc_definition():
    """On peaked outputs the greedy label sequence is the one torch's CTC loss scores best.

    With probability 1 - eps on one label per frame, ctc_loss(target) is about -T*log(1-eps)
    only for the target that the frame path maps to under CTC's collapse map; any other target
    needs at least one frame off the path, total probability <= T * eps (+ higher orders).
    """
    g = torch.Generator().manual_seed(0)
    vocab, frames = 4, 12
    for _ in range(30):
        path = torch.randint(0, vocab, (frames,), generator=g).tolist()
        lp = _peaked_log_probs(path, vocab)
        (decoded,) = metrics.ctc_greedy_decode(lp)
        if not decoded:
            continue
        # alternatives: no merging of repeats (blank removal only), and merging across blanks
        no_merge = [t for t in path if t != 0]
        merged_across = [t for i, t in enumerate(no_merge) if i == 0 or t != no_merge[i - 1]]
        losses = {}
        for name, target in [("greedy", decoded), ("no_merge", no_merge), ("across", merged_across)]:
            if len(target) > frames:
                continue
            losses[name] = torch.nn.functional.ctc_loss(
                lp.transpose(0, 1), torch.tensor([target]), torch.tensor([frames]),
                torch.tensor([len(target)]), blank=0, reduction="sum",
            ).item()
        assert losses["greedy"] < -frames * np.log(1 - 1e-3) + 1e-6
        for name, value in losses.items():
            target = {"no_merge": no_merge, "across": merged_across}.get(name)
            if target is not None and target != decoded:
                assert value > -np.log(2 * frames * 1e-3)


def _reference_eer(labels, scores):
    fpr, tpr, _ = roc_curve(labels, scores)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)


def _reference_min_dcf(labels, scores, p_target=0.01):
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    cost = (1 - tpr) * p_target + fpr * (1 - p_target)
    return cost.min() / min(p_target, 1 - p_target)


def _synthetic_scores(seed, n_target, n_nontarget, shift, decimals=None):
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(shift, 1, n_target), rng.normal(0, 1, n_nontarget)]
    if decimals is not None:  # rounding makes many ties, also across classes
        scores = np.round(scores, decimals)
    labels = np.r_[np.ones(n_target, int), np.zeros(n_nontarget, int)]
    perm = rng.permutation(labels.size)
    return labels[perm], scores[perm]


@pytest.mark.parametrize(
    "seed,n_target,n_nontarget,shift,decimals",
    [(0, 50, 500, 2.0, None), (1, 300, 300, 1.0, None), (2, 100, 900, 1.5, 1),
     (3, 40, 60, 0.5, 0), (4, 500, 2000, 3.0, 2)],
)
def test_eer_min_dcf_equal_sklearn(seed, n_target, n_nontarget, shift, decimals):
    labels, scores = _synthetic_scores(seed, n_target, n_nontarget, shift, decimals)
    assert metrics.eer(labels, scores) == pytest.approx(_reference_eer(labels, scores), abs=1e-9)
    assert metrics.min_dcf(labels, scores) == pytest.approx(
        _reference_min_dcf(labels, scores), abs=1e-9
    )
    assert metrics.min_dcf(labels, scores, p_target=0.05) == pytest.approx(
        _reference_min_dcf(labels, scores, 0.05), abs=1e-9
    )


def test_eer_min_dcf_known_answers():
    labels = [1, 1, 1, 0, 0, 0, 0]
    assert metrics.eer(labels, [3, 2, 2, 1, 0, 0, -1]) == 0.0  # separated
    assert metrics.min_dcf(labels, [3, 2, 2, 1, 0, 0, -1]) == 0.0
    assert metrics.eer(labels, [5] * 7) == pytest.approx(0.5)  # all tied: chance
    assert metrics.min_dcf(labels, [5] * 7) == pytest.approx(1.0)  # best trivial system
    assert metrics.eer(labels, [-3, -2, -2, -1, 0, 0, 1]) == pytest.approx(1.0)  # reversed
    # hand case: thresholds 0.9 (fa 0, miss 1/2), 0.6 (fa 1/2, miss 1/2) -> EER 1/2
    assert metrics.eer([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1]) == pytest.approx(0.5)
    # one target tied with one of two non-targets at the top: ROC (0,0)->(1/2,1)
    # miss = 1 - 2 fa crosses fa at 1/3
    assert metrics.eer([1, 0, 0], [1.0, 1.0, 0.0]) == pytest.approx(1 / 3)


def test_verification_bad_input():
    with pytest.raises(ValueError, match="target and non-target"):
        metrics.eer([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.eer([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="2 labels but 3 scores"):
        metrics.min_dcf([1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="p_target"):
        metrics.min_dcf([1, 0], [0.1, 0.2], p_target=0)
