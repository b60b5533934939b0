"""The shared utterance-level head, sampler and metric bookkeeping."""

import math

import numpy as np
import pytest
import torch

from s3prl.downstream.utterance import (
    AttentivePooling,
    MeanPooling,
    SeededSampler,
    UtteranceClassifier,
    UtteranceExpert,
    derive_seed,
    log_classification,
    write_lines_atomic,
)
from test.downstream_layouts import Logger, records


def test_mean_pooling_ignores_padding():
    feats = torch.randn(3, 7, 4)
    lens = torch.tensor([7, 2, 5])
    padded = feats.clone()
    padded[1, 2:] = 1e6  # garbage past the valid frames
    padded[2, 5:] = -3.0
    out = MeanPooling()(padded, lens)
    for b in range(3):
        expected = feats[b, : lens[b]].double().mean(0)
        assert torch.allclose(out[b].double(), expected, atol=1e-6)


def test_attentive_pooling_gives_no_weight_to_padding():
    pool = AttentivePooling(input_dim=4)
    feats = torch.randn(2, 6, 4)
    lens = torch.tensor([6, 3])
    garbage = feats.clone()
    garbage[1, 3:] = 50.0
    out = pool(garbage, lens)
    alone = pool(feats[1:2, :3], torch.tensor([3]))
    assert torch.allclose(out[1], alone[0], atol=1e-6)
    # hand computation of the first utterance
    logits = pool.W(torch.relu(pool.W_a(feats[0]))).squeeze(-1)
    weights = torch.softmax(logits, 0)
    assert torch.allclose(out[0], (weights[:, None] * feats[0]).sum(0), atol=1e-6)


def test_classifier_equals_hand_computation():
    head = UtteranceClassifier(5, 3, {"projector_dim": 4, "select": "UtteranceLevel",
                                      "UtteranceLevel": {"pooling": "MeanPooling"}})
    feats = torch.randn(2, 6, 5)
    lens = torch.tensor([6, 4])
    out = head(feats, lens)
    for b in range(2):
        proj = feats[b, : lens[b]] @ head.projector.weight.T + head.projector.bias
        pooled = proj.mean(0)
        logit = pooled @ head.model.linear.weight.T + head.model.linear.bias
        assert torch.allclose(out[b], logit, atol=1e-5)


def test_classifier_hiddens_and_errors():
    head = UtteranceClassifier(5, 3, {"projector_dim": 4, "UtteranceLevel": {"hiddens": [6]}})
    assert head.model.hiddens[0].out_features == 6 and head.model.linear.in_features == 6
    with pytest.raises(ValueError, match="projector_dim"):
        UtteranceClassifier(5, 3, {"select": "UtteranceLevel"})
    with pytest.raises(ValueError, match="select='DeepModel'"):
        UtteranceClassifier(5, 3, {"projector_dim": 4, "select": "DeepModel"})
    with pytest.raises(ValueError, match=r"unknown keys \['polling'\]"):
        UtteranceClassifier(5, 3, {"projector_dim": 4, "UtteranceLevel": {"polling": "x"}})
    with pytest.raises(ValueError, match="unknown pooling 'MaxPooling'"):
        UtteranceClassifier(5, 3, {"projector_dim": 4, "UtteranceLevel": {"pooling": "MaxPooling"}})
    with pytest.raises(ValueError, match=r"features_len must be in \[1, 6\]"):
        head(torch.randn(2, 6, 5), torch.tensor([0, 6]))


def test_seeded_sampler_reproducible_and_weighted():
    a = list(SeededSampler(10, 5, shuffle=True))
    assert a == list(SeededSampler(10, 5, shuffle=True))
    assert sorted(i for i, _ in a) == list(range(10))
    assert a != list(SeededSampler(10, 6, shuffle=True))
    assert list(SeededSampler(4, 5)) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    # weights: torch.multinomial with replacement, same generator stream
    w = [1.0, 0.0, 3.0]
    got = [i for i, _ in SeededSampler(3, 7, weights=w, num_samples=400)]
    ref = torch.multinomial(torch.tensor(w, dtype=torch.double), 400, True,
                            generator=torch.Generator().manual_seed(7)).tolist()
    assert got == ref and 1 not in got
    assert derive_seed(1, 2) != derive_seed(1, 3) and derive_seed(1, 2) == derive_seed(1, 2)


class _Expert(UtteranceExpert):
    task = "toy"


def test_log_classification_hand_computation(tmp_path):
    expert = _Expert(4, {"datarc": {}, "modelrc": {"projector_dim": 3}}, str(tmp_path))
    expert.build_head(["a", "b", "c"])
    rec = records()
    logger = Logger()
    bias = torch.tensor([0.5, 2.0, -1.0])
    with torch.no_grad():
        expert.head.model.linear.weight.zero_()
        expert.head.model.linear.bias.copy_(bias)
    labels = [torch.tensor([1, 0, 1]), torch.tensor([2, 1])]
    for i, lab in enumerate(labels):
        feats = torch.randn(len(lab), 5, 4)
        loss = expert("dev", feats, torch.full((len(lab),), 5), lab,
                      [f"u{i}{j}" for j in range(len(lab))], records=rec)
        logp = torch.log_softmax(bias, 0)
        assert math.isclose(loss.item(), -logp[lab].mean().item(), rel_tol=1e-5)
    save = expert.log_records("dev", rec, logger, global_step=7)
    # always predicts "b": right on 3 of the 5 utterances
    assert logger.values["toy/dev-acc"] == (pytest.approx(3 / 5), 7)
    logp = torch.log_softmax(bias, 0)
    batch_losses = [-logp[lab].mean().item() for lab in labels]
    assert logger.values["toy/dev-loss"][0] == pytest.approx(np.mean(batch_losses), rel=1e-5)
    assert save == ["dev-best.ckpt"] and expert.best_score.item() == pytest.approx(0.6)
    assert (tmp_path / "dev_predict.txt").read_text().splitlines() == [
        "u00 b", "u01 b", "u02 b", "u10 b", "u11 b"]
    assert (tmp_path / "dev_truth.txt").read_text().splitlines()[3] == "u10 c"
    # not better: no checkpoint; test never saves
    assert expert.log_records("dev", rec, logger, global_step=8) == []
    assert expert.log_records("test", rec, logger, global_step=8) == []
    assert "best_score" in expert.state_dict()
    assert expert.predict(torch.randn(2, 3, 4), torch.tensor([3, 1])) == ["b", "b"]
    with pytest.raises(ValueError, match="no dev utterance"):
        log_classification(expert, "toy", "dev", records(), logger, 9)


def test_write_lines_atomic_leaves_no_temporary(tmp_path):
    write_lines_atomic(tmp_path / "out.txt", ["a\n", "b\n"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]

    class Boom:
        def __iter__(self):
            yield "x\n"
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_lines_atomic(tmp_path / "out.txt", Boom())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert (tmp_path / "out.txt").read_text() == "a\nb\n"
