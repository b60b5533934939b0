"""``asr``, ``ctc`` and ``sv_voxceleb1`` under 2-process CPU DDP (gloo) and with the feature
cache, against a plain 1-process run with the same global batch.

The runner gives every rank the same global batch and keeps items ``rank::world``
(:func:`s3prl.downstream.runner._shard`), scaling each rank's loss so the averaged gradient is
the global batch's; evaluation runs on rank 0 only. So 2 processes must reach the weights of
1 process (up to float summation order), and log each dev metric once with the 1-process value.
Dropout is set to 0 here: each rank draws its own masks for its share of the batch, which no
1-process run reproduces.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("pytorch_lightning")

from s3prl.downstream import runner  # noqa: E402

from .test_downstream_sequence_runner import DEV_METRIC, overrides  # noqa: E402
from .test_downstream_sv import make_voxceleb  # noqa: E402
from .test_runner import REPO, _env, _weights  # noqa: E402

TASKS = ["asr", "ctc", "sv_voxceleb1"]


def _argv(task: str, base: Path, expdir: Path, steps: int, asr_dropout: float = 0.0) -> list[str]:
    root = make_voxceleb(base / "VoxCeleb1") if task == "sv_voxceleb1" else None
    # the example upstream: 3 hidden states, so the featurizer has weights to learn
    argv = ["-m", "train", "-u", "example", "-d", task, "-p", str(expdir), "--device", "cpu",
            *overrides(task, root), "-o", f"runner.total_steps={steps}"]
    if task == "asr":
        argv += ["-o", f"downstream_expert.modelrc.RNNs.dropout=[{asr_dropout},{asr_dropout}]"]
    return argv


def _rows(expdir: Path) -> list[dict]:
    with open(expdir / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict], tag: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[tag])) for r in rows if r.get(tag)]


def _assert_weights_close(ref: dict, got: dict) -> None:
    assert sorted(ref) == sorted(got) and "featurizer.weights" in ref
    assert any(k.startswith("expert.") for k in ref)
    for key in ref:
        assert torch.allclose(ref[key].float(), got[key].float(), atol=1e-5, rtol=0), (
            f"{key}: max diff {(ref[key].float() - got[key].float()).abs().max()}")


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_ddp_two_processes_equal_one(tmp_path, task):
    """4 steps (2 per epoch, so the second epoch's reshuffle is covered) with the global batch
    split 2 + 1 (asr, ctc: batch 3) or 2 + 2 (sv: batch 4) over 2 gloo processes."""
    for name, extra in (("one", []), ("two", ["--devices", "2"])):
        argv = _argv(task, tmp_path, tmp_path / name, steps=4) + extra
        proc = subprocess.run([sys.executable, str(REPO / "run_benchmark.py"), *argv],
                              cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    ref, got = _weights(one / "states-4.ckpt"), _weights(two / "states-4.ckpt")
    _assert_weights_close(ref, got)
    assert not torch.equal(ref["featurizer.weights"], torch.zeros_like(ref["featurizer.weights"]))
    # the dev metric: logged once per eval step (rank 0 only), equal to the 1-process value
    tag = DEV_METRIC[task]
    a, b = _column(_rows(one), tag), _column(_rows(two), tag)
    assert [s for s, _ in a] == [s for s, _ in b] == [2, 4]
    for (_, x), (_, y) in zip(a, b):
        assert y == pytest.approx(x, abs=1e-6)
    # rank 0 logs its share of the train loss, so only steps, not values, are compared
    assert [s for s, _ in _column(_rows(two), "runner/train-loss")] == [2, 4]
    # the task's dev outputs (transcripts / trial scores) are written by rank 0, as 1 process does
    if task == "sv_voxceleb1":
        sa = (one / "dev-trial-scores.txt").read_text().split("\n")
        sb = (two / "dev-trial-scores.txt").read_text().split("\n")
        assert [x.split()[1:] for x in sa] == [x.split()[1:] for x in sb] and len(sa) > 2
        for x, y in zip(sa[:-1], sb[:-1]):
            assert float(y.split()[0]) == pytest.approx(float(x.split()[0]), abs=1e-5)
    else:
        assert (one / "dev-hyp.txt").read_text() == (two / "dev-hyp.txt").read_text()
    assert not list(two.glob(".*.tmp"))


@pytest.mark.parametrize("task", TASKS)
def test_cache_features_equals_uncached(tmp_path, task):
    """2 steps, evaluated once: same train losses, dev metric and weights with
    ``--cache-features`` as without; the second cached run reads every utterance from the cache."""
    cache = tmp_path / "cache"
    runs = {}
    cached = ["--cache-features", str(cache)]
    for name, extra in (("plain", []), ("cached", cached), ("reread", cached)):
        argv = _argv(task, tmp_path, tmp_path / name, steps=2)
        argv += ["-o", "runner.save_step=2", *extra]
        assert runner.main(argv) == 0
        runs[name] = _rows(tmp_path / name)
        if name == "cached":
            files = {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")}
    # every train and dev utterance once; the third run only read them
    assert len(files) > 4 and not list(cache.rglob("*.tmp"))
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.safetensors")} == files
    for name in ("cached", "reread"):
        for tag in ("runner/train-loss", DEV_METRIC[task]):
            a, b = _column(runs["plain"], tag), _column(runs[name], tag)
            assert [s for s, _ in a] == [s for s, _ in b] == [2], tag
            assert b[0][1] == pytest.approx(a[0][1], abs=1e-5), (name, tag)
        _assert_weights_close(_weights(tmp_path / "plain" / "states-2.ckpt"),
                              _weights(tmp_path / name / "states-2.ckpt"))


def test_ddp_ranks_draw_their_own_dropout_masks(tmp_path):
    """Under DDP each rank's training batch seeds the global RNG from (seed, epoch, batch index,
    rank): two ranks draw different dropout masks for the same utterances, the same rank the same
    masks whatever the global RNG held before (so a resume is exact); 1 process keeps its stream."""
    from types import SimpleNamespace

    args, config, _ = runner.resolve(["-m", "train", "-p", str(tmp_path), "-u", "example",
                                      "-d", "example", "-o", "downstream_expert.modelrc.dropout=0.5"])
    module = runner._lightning_module_class()(args, config, *runner.build_parts(args, config, tmp_path))
    module.train()
    g = torch.Generator().manual_seed(0)
    data = {"batch": [[torch.randn(4000, generator=g), torch.randn(3000, generator=g)],
                      torch.tensor([0, 1])], "scale": 1.0}

    def loss(rank, world, prior_seed, batch_idx=3):
        module._trainer = SimpleNamespace(world_size=world, current_epoch=1, global_rank=rank)
        torch.manual_seed(prior_seed)
        try:
            return float(module.training_step(data, batch_idx))
        finally:
            module._trainer = None

    assert loss(0, 2, 1) == loss(0, 2, 2)  # the global RNG before does not matter
    assert loss(1, 2, 1) == loss(1, 2, 2)
    assert loss(0, 2, 1) != loss(1, 2, 1)  # ranks: their own masks
    assert loss(0, 2, 1) != loss(0, 2, 1, batch_idx=4)  # batches: their own masks
    assert loss(0, 1, 1) != loss(0, 1, 2)  # 1 process: the continuous global stream
    seeds = {runner.seed_rank_step(1337, e, b, r) for e in range(3) for b in range(50) for r in range(4)}
    assert len(seeds) == 600


@pytest.mark.slow
def test_ddp_resume_with_dropout_is_exact(tmp_path):
    """asr with dropout 0.2 and SpecAugment on 2 processes: resuming from states-3 (mid-epoch) gives the
    uninterrupted run's step-6 weights exactly."""
    # 6 steps: after states-3 the train batches are 1 (rank 1 idle), 3, 1 utterances
    argv = _argv("asr", tmp_path, tmp_path / "full", steps=6, asr_dropout=0.2)
    # SpecAugment draws a number of values that depends on the shard's size, so the ranks' RNG
    # states part (CPU dropout draws one seed per call whatever the size); the checkpoint holds
    # rank 0's state only
    argv += ["-o", "specaug={time_warp_window: 2, freq_mask_width_range: [0, 4], "
             "time_mask_width_range: [0, 5]}"]
    cmds = [[*argv, "--devices", "2"],
            ["-m", "train", "-e", str(tmp_path / "full" / "states-3.ckpt"), "-p", str(tmp_path / "resumed"),
             "--device", "cpu", "--devices", "2"]]
    for cmd in cmds:
        proc = subprocess.run([sys.executable, str(REPO / "run_benchmark.py"), *cmd], cwd=tmp_path,
                              env=_env(), capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    a = _weights(tmp_path / "full" / "states-6.ckpt")
    b = _weights(tmp_path / "resumed" / "states-6.ckpt")
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_sv_crops_fixed_when_the_loader_is_built(tmp_path):
    """sv_voxceleb1 without a datarc seed: the crop offsets follow the global seed at
    ``get_dataloader`` time (the runner's epoch seed), not the global RNG when an item is read
    (a DDP rank's per-batch seed, a worker's seed)."""
    from s3prl.downstream.sv_voxceleb1.expert import DownstreamExpert

    from .test_downstream_sv import config

    vox = make_voxceleb(tmp_path / "VoxCeleb1")
    expert = DownstreamExpert(5, 160, config(vox, seed=None), str(tmp_path))

    def crops(loader_seed, read_seed):
        torch.manual_seed(loader_seed)
        dataset = expert.get_dataloader("train", epoch=1).dataset
        torch.manual_seed(read_seed)
        return [dataset[i][0] for i in range(len(dataset))]

    ref = crops(1, 1)
    assert all(w.numel() == 6000 for w in ref)
    assert all(torch.equal(a, b) for a, b in zip(ref, crops(1, 2)))
    assert not all(torch.equal(a, b) for a, b in zip(ref, crops(2, 2)))
