"""The downstream runner: seed commands, exact resume after SIGKILL, evaluate, inference,
feature cache, DDP, and errors. Tiny runs of the example task."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from s3prl.downstream import runner
from s3prl.downstream.cache import FeatureCache
from s3prl.downstream.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
SMALL = ["-o", "runner.log_step=4", "-o", "runner.eval_step=8", "-o", "runner.save_step=8"]


def _train(expdir, upstream="example", steps=16, extra=()):
    argv = ["-m", "train", "-p", str(expdir), "-u", upstream, "-d", "example",
            "-o", f"runner.total_steps={steps}", *SMALL, *extra]
    assert runner.main(argv) == 0
    return Path(expdir)


def _weights(path) -> dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in ckpt["state_dict"].items() if k.startswith(("featurizer.", "expert."))}


def _csv_rows(expdir):
    with open(Path(expdir) / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # same kernels as in this process
    return env


@pytest.mark.parametrize("upstream", ["example", "fbank"])
def test_seed_commands(tmp_path, upstream):
    expdir = _train(tmp_path / upstream, upstream, steps=8)
    names = sorted(p.name for p in expdir.iterdir())
    assert {"states-8.ckpt", "dev-best.ckpt", "config.yaml", "args.yaml", "featurizer-weights.tsv"} <= set(names)
    rows = _csv_rows(expdir)
    assert [r["step"] for r in rows if r.get("example/dev-acc")] == ["8"]
    assert [r["step"] for r in rows if r.get("example/test-acc")] == ["8"]
    ckpt = torch.load(expdir / "states-8.ckpt", weights_only=True)
    assert ckpt["global_step"] == 8
    assert ckpt["s3prl"]["args"]["upstream"] == upstream
    assert ckpt["s3prl"]["config"]["runner"]["total_steps"] == 8
    # frozen upstream: its weights are not in the checkpoint
    assert not any(k.startswith("upstream.") for k in ckpt["state_dict"])


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """An uninterrupted 240-step run (in this process)."""
    torch.manual_seed(0)
    expdir = tmp_path_factory.mktemp("full") / "exp"
    argv = ["-m", "train", "-p", str(expdir), "-u", "example", "-d", "example",
            "-o", "runner.total_steps=240,,config.runner.save_step=20,,config.runner.eval_step=60",
            "-o", "runner.log_step=20", "-o", "runner.max_keep=3",
            # SpecAugment draws from torch's global RNG: the resume must restore it
            "-o", "specaug={time_warp_window: 2, freq_mask_width_range: [0, 4], time_mask_width_range: [0, 5]}",
            # dropout in the head draws from the global RNG too; 72 utterances / batch 8 =
            # 9 batches an epoch, so every save (a multiple of 20 below 180) is mid-epoch
            "-o", "downstream_expert.modelrc.dropout=0.3", "-o", "downstream_expert.datarc.train_size=72"]
    assert runner.main(argv) == 0
    return expdir, argv


def test_sigkill_then_resume_equals_uninterrupted(full_run, tmp_path, capsys):
    full_dir, argv = full_run
    expdir = tmp_path / "killed"
    argv = [a if a != str(full_dir) else str(expdir) for a in argv]
    cmd = [sys.executable, str(REPO / "run_benchmark.py"), *argv]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            steps = [int(p.stem.split("-")[1]) for p in expdir.glob("states-*.ckpt")]
            if steps and max(steps) >= 100:
                proc.send_signal(signal.SIGKILL)
                killed_at = max(steps)
                break
            time.sleep(0.01)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait()
    assert killed_at is not None and killed_at < 180, "the run finished before it could be killed"
    assert killed_at % 9 != 0  # in the middle of an epoch
    assert proc.returncode == -signal.SIGKILL
    assert not (expdir / "states-240.ckpt").exists()
    (expdir / f".states-{killed_at + 20}.ckpt.tmp").write_bytes(b"partial")  # as a kill mid-save leaves
    assert runner.main(["-m", "train", "-e", str(expdir)]) == 0
    assert not list(expdir.glob(".*.tmp"))
    assert f"resuming from {expdir / f'states-{killed_at}.ckpt'}" in capsys.readouterr().out
    ref, got = _weights(full_dir / "states-240.ckpt"), _weights(expdir / "states-240.ckpt")
    assert sorted(ref) == sorted(got) and "featurizer.weights" in ref
    for key in ref:
        assert torch.equal(ref[key], got[key]), f"{key}: max diff {(ref[key] - got[key]).abs().max()}"
    # max_keep=3: the newest three states-*.ckpt
    assert sorted(p.name for p in expdir.glob("states-*.ckpt")) == [
        "states-200.ckpt", "states-220.ckpt", "states-240.ckpt"]


def test_evaluate_reproduces_logged_dev_score(full_run, capsys):
    full_dir, _ = full_run
    best = torch.load(full_dir / "dev-best.ckpt", weights_only=True)
    step = best["global_step"]
    logged = {r["step"]: r for r in _csv_rows(full_dir) if r.get("example/dev-acc")}
    assert str(step) in logged
    assert runner.main(["-m", "evaluate", "-e", str(full_dir / "dev-best.ckpt"), "-t", "dev"]) == 0
    result = json.loads((full_dir / "dev-metrics.json").read_text())
    assert result["split"] == "dev" and result["global_step"] == step
    assert result["metrics"]["example/dev-acc"] == pytest.approx(float(logged[str(step)]["example/dev-acc"]), abs=1e-9)
    assert result["metrics"]["example/dev-loss"] == pytest.approx(float(logged[str(step)]["example/dev-loss"]), abs=1e-6)
    assert "example/dev-acc" in capsys.readouterr().out
    # the best logged dev accuracy is the one dev-best.ckpt holds
    assert max(float(r["example/dev-acc"]) for r in logged.values()) == pytest.approx(
        result["metrics"]["example/dev-acc"], abs=1e-9)


def test_inference_writes_predictions(full_run, tmp_path):
    full_dir, _ = full_run
    out_dir = tmp_path / "inf"
    assert runner.main(["-m", "inference", "-e", str(full_dir / "dev-best.ckpt"), "-p", str(out_dir),
                        "-i", str(REPO / "sample_speech")]) == 0
    lines = [json.loads(x) for x in (out_dir / "inference.jsonl").read_text().splitlines()]
    assert [Path(x["wav"]).name for x in lines] == sorted(p.name for p in (REPO / "sample_speech").glob("*.*")
                                                          if p.suffix in (".wav", ".flac"))
    assert all(x["prediction"] in range(4) for x in lines)


def test_resolve_restores_checkpoint_args(full_run):
    full_dir, _ = full_run
    args, config, ckpt = runner.resolve(["-m", "evaluate", "-e", str(full_dir / "dev-best.ckpt"),
                                         "-o", "args.seed=2,,config.runner.total_steps=5"])
    assert (args.upstream, args.downstream, args.mode, args.seed) == ("example", "example", "evaluate", 2)
    assert config["runner"]["total_steps"] == 5 and config["runner"]["save_step"] == 20
    assert ckpt == full_dir / "dev-best.ckpt" and Path(args.expdir) == full_dir
    # -a: resume from the newest states-<step>.ckpt of EXPDIR, a fresh start without one
    _, _, ckpt = runner.resolve(["-m", "train", "-a", "-p", str(full_dir), "-u", "example", "-d", "example"])
    assert ckpt == full_dir / "states-240.ckpt"
    _, _, ckpt = runner.resolve(["-m", "train", "-a", "-p", str(full_dir / "new"), "-u", "example", "-d", "example"])
    assert ckpt is None


def test_errors(full_run, tmp_path):
    full_dir, _ = full_run
    base = ["-m", "train", "-p", str(tmp_path / "e"), "-d", "example"]
    with pytest.raises(ValueError, match=r"unknown upstream 'exampel'.*close names: example"):
        runner.resolve([*base, "-u", "exampel"])
    with pytest.raises(ValueError, match=r"unknown downstream 'exmaple'.*close names: example"):
        runner.resolve(["-m", "train", "-p", str(tmp_path), "-u", "fbank", "-d", "exmaple"])
    with pytest.raises(ConfigError, match=r"unknown config key 'runner.total_step' \(did you mean total_steps"):
        runner.resolve([*base, "-u", "fbank", "-o", "runner.total_step=3"])
    with pytest.raises(ConfigError, match=r"'downstream_expert.datarc.batchsize' \(did you mean batch_size"):
        runner.resolve([*base, "-u", "fbank", "-o", "downstream_expert.datarc.batchsize=3"])
    with pytest.raises(ConfigError, match=r"unknown argument 'args.sed'"):
        runner.resolve([*base, "-u", "fbank", "-o", "args.sed=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "s3prl/downstream/example/config.yaml").read_text() + "\nrunnr:\n  x: 1\n")
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) 'runnr' \(did you mean runner"):
        runner.resolve([*base, "-u", "fbank", "-c", str(bad)])
    best = str(full_dir / "dev-best.ckpt")
    with pytest.raises(ValueError, match=r"made with downstream='example'.*says 'speech_commands'"):
        runner.resolve(["-m", "evaluate", "-e", best, "-d", "speech_commands"])
    with pytest.raises(ValueError, match=r"made with upstream='example'"):
        runner.resolve(["-m", "train", "-e", best, "-u", "fbank"])
    # the same flags as the checkpoint's are no conflict
    args, _, _ = runner.resolve(["-m", "evaluate", "-e", best, "-u", "example", "-d", "example"])
    assert args.layer is None
    with pytest.raises(FileNotFoundError, match="no states"):
        runner.resolve(["-m", "train", "-e", str(tmp_path)])
    with pytest.raises(ValueError, match="needs -e"):
        runner.resolve(["-m", "evaluate", "-u", "fbank", "-d", "example"])
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt is not a readable checkpoint"):
        runner.resolve(["-m", "evaluate", "-e", str(junk)])
    # main() reports the error and exits 2, writing nothing
    assert runner.main([*base, "-u", "exampel"]) == 2
    assert not (tmp_path / "e").exists()


def test_feature_cache_unit(tmp_path):
    cache = FeatureCache(tmp_path, "example", None, {"hidden_size": 4}, [0, 2])
    g = torch.Generator().manual_seed(0)
    wavs = [torch.randn(800, generator=g), torch.randn(1200, generator=g)]
    calls = []

    def compute(ws):
        calls.append(len(ws))
        lens = torch.tensor([w.numel() // 160 for w in ws])
        hs = [torch.zeros(len(ws), int(lens.max()), 4) for _ in range(2)]
        for i, w in enumerate(ws):
            for k in range(2):
                hs[k][i, : lens[i]] = w[: lens[i] * 4].view(-1, 4) + k
        return hs, lens

    first = cache.get(wavs, compute)
    second = cache.get([wavs[1], wavs[0]], compute)
    assert calls == [2]  # computed once
    assert torch.equal(second[1], first[1].flip(0))
    for a, b in zip(first[0], second[0]):
        assert torch.equal(a[0], b[1]) and torch.equal(a[1], b[0])
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 2 and not list(tmp_path.rglob("*.tmp"))
    assert json.loads((cache.dir / "setting.json").read_text())["layers"] == [0, 2]
    # another layer selection is another cache entry
    assert FeatureCache(tmp_path, "example", None, {"hidden_size": 4}, [1]).dir != cache.dir


def test_feature_cache_files_named_by_sample_hash(tmp_path):
    # the batch is hashed after one host copy; each file must still be named by the SHA-256 of
    # its own wav's length and float32 samples (stable across versions and batchings)
    import hashlib

    cache = FeatureCache(tmp_path, "example", None, {"hidden_size": 4}, [0])
    g = torch.Generator().manual_seed(1)
    wavs = [torch.randn(n, generator=g) for n in (480, 960, 320)]

    def compute(ws):
        lens = torch.tensor([w.numel() // 160 for w in ws])
        return [torch.ones(len(ws), int(lens.max()), 4)], lens

    cache.get(wavs, compute)
    expected = set()
    for w in wavs:
        h = hashlib.sha256(str(w.numel()).encode())
        h.update(w.numpy().astype("float32").tobytes())
        expected.add(h.hexdigest() + ".safetensors")
    assert {p.name for p in tmp_path.rglob("*.safetensors")} == expected


def test_cache_features_run_equals_uncached(tmp_path):
    layers = ["-l", "0,2", "--upstream-feature-normalize"]
    plain = _train(tmp_path / "plain", steps=16, extra=layers)
    cached = _train(tmp_path / "cached", steps=16, extra=[*layers, "--cache-features", str(tmp_path / "cache")])
    ref, got = _weights(plain / "states-16.ckpt"), _weights(cached / "states-16.ckpt")
    assert ref["featurizer.weights"].shape == (2,)
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-5, rtol=0), key
    # one file per utterance: 64 train + 16 dev + 16 test
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 96
    with pytest.raises(ValueError, match="frozen upstream"):
        runner.resolve(["-m", "train", "-p", str(tmp_path / "x"), "-u", "example", "-d", "example",
                        "-f", "--cache-features", str(tmp_path / "cache")])


@pytest.mark.slow
def test_ddp_two_processes_equal_one(tmp_path):
    """2-process CPU DDP (gloo), global batch 8 split 4 + 4, equals 1 process with batch 8."""
    common = ["-u", "example", "-d", "example", "--device", "cpu",
              "-o", "runner.total_steps=24", *SMALL]
    for name, extra in (("one", []), ("two", ["--devices", "2"])):
        proc = subprocess.run([sys.executable, str(REPO / "run_benchmark.py"), "-m", "train",
                               "-p", str(tmp_path / name), *common, *extra],
                              cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    ref, got = _weights(tmp_path / "one" / "states-24.ckpt"), _weights(tmp_path / "two" / "states-24.ckpt")
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-5, rtol=0), key
    assert "featurizer.weights" in ref and not torch.equal(ref["featurizer.weights"], torch.zeros(3))


def test_frozen_upstream_stays_in_eval_mode_without_autograd(tmp_path):
    args, config, _ = runner.resolve(["-m", "train", "-p", str(tmp_path), "-u", "example", "-d", "example",
                                      "-l", "1"])
    parts = runner.build_parts(args, config, tmp_path)
    module = runner._lightning_module_class()(args, config, *parts)
    module.train()
    assert not module.upstream.training and module.expert.training
    assert not any(p.requires_grad for p in module.upstream.parameters())
    assert module.featurizer.weights is None  # one selected layer: no weights
    features, features_len = module.features([torch.randn(4000), torch.randn(3000)])
    # frames = 1 + (samples - 400) // 160 (25 ms window, 10 ms stride)
    assert features.shape == (2, 23, 16) and features_len.tolist() == [23, 17]
    assert not features.requires_grad
    loss = module.expert("train", features, features_len, torch.tensor([0, 1]), records=module.train_records)
    loss.backward()
    assert module.expert.classifier.weight.grad is not None


class _IndexSet(torch.utils.data.Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        return i


class _Expert:
    """A task whose train loader is one of the ways a task may shuffle."""

    def __init__(self, kind):
        self.kind = kind

    def get_dataloader(self, split, epoch=0):
        from torch.utils.data import DataLoader, RandomSampler

        g = torch.Generator().manual_seed(100 + epoch)
        collate = lambda items: [torch.tensor(items)]  # noqa: E731
        if self.kind == "loader-generator":  # DataLoader(shuffle=True, generator=g)
            return DataLoader(_IndexSet(), batch_size=3, shuffle=True, generator=g, collate_fn=collate)
        if self.kind == "global-rng":  # no generator anywhere: the sampler draws from torch's RNG
            return DataLoader(_IndexSet(), batch_size=3, shuffle=True, collate_fn=collate)
        return DataLoader(_IndexSet(), batch_size=3, sampler=RandomSampler(_IndexSet(), generator=g),
                          collate_fn=collate)


@pytest.mark.parametrize("kind", ["loader-generator", "global-rng", "sampler-generator"])
def test_train_batches_resume_mid_epoch(kind):
    """A resume in the middle of an epoch continues the epoch's order, whatever the global RNG
    holds, and iterating never draws from the global RNG (dropout's stream)."""
    from types import SimpleNamespace

    trainer = SimpleNamespace(current_epoch=1)

    def epoch(skip=None):
        batches = runner.TrainBatches(_Expert(kind), trainer, 0, 1, seed=5)
        if skip is not None:
            batches.load_state_dict({"epoch": 1, "batches": skip})
        return [d["batch"][0].tolist() for d in batches]

    torch.manual_seed(0)
    before = torch.get_rng_state()
    full = epoch()
    assert torch.equal(torch.get_rng_state(), before)
    assert sorted(sum(full, [])) == list(range(20)) and len(full) == 7
    if kind == "loader-generator":  # the order the task's own loader iterates
        assert full == [b[0].tolist() for b in _Expert(kind).get_dataloader("train", epoch=1)]
    torch.manual_seed(123)  # a restored RNG: another state than at the epoch start
    assert epoch(skip=3) == full[3:]
    assert epoch() == full


def test_evaluate_writes_metrics_next_to_the_checkpoint(full_run, tmp_path):
    """Without -p, ``<split>-metrics.json`` goes to the checkpoint's folder (not the expdir saved
    in the checkpoint); -p chooses another folder."""
    full_dir, _ = full_run
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "best.ckpt").write_bytes((full_dir / "dev-best.ckpt").read_bytes())
    before = (full_dir / "test-metrics.json").exists()
    assert runner.main(["-m", "evaluate", "-e", str(moved / "best.ckpt"), "-t", "test"]) == 0
    result = json.loads((moved / "test-metrics.json").read_text())
    assert result["checkpoint"] == str(moved / "best.ckpt") and "example/test-acc" in result["metrics"]
    assert (full_dir / "test-metrics.json").exists() == before
    out = tmp_path / "elsewhere"
    assert runner.main(["-m", "evaluate", "-e", str(moved / "best.ckpt"), "-t", "dev", "-p", str(out)]) == 0
    assert json.loads((out / "dev-metrics.json").read_text())["split"] == "dev"
    assert not (moved / "dev-metrics.json").exists()


def _with_config(src, dst, downstream, edit):
    """A copy of checkpoint ``src`` for ``downstream`` whose saved config ``edit`` changed."""
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    ckpt["s3prl"]["args"]["downstream"] = downstream
    ckpt["s3prl"]["config"] = edit(ckpt["s3prl"]["config"])
    torch.save(ckpt, dst)
    return dst


def test_overrides_add_schema_keys_to_a_restored_config(full_run, tmp_path):
    """-o may add a key the checkpoint's config lacks when the task's own config.yaml has it;
    an unknown key is still an error naming it."""
    from s3prl.downstream.config import load_config

    full_dir, _ = full_run

    def drop_dropout(config):
        del config["downstream_expert"]["modelrc"]["dropout"]
        return config

    old = _with_config(full_dir / "dev-best.ckpt", tmp_path / "old.ckpt", "example", drop_dropout)
    _, config, _ = runner.resolve(["-m", "evaluate", "-e", str(old), "-o", "downstream_expert.modelrc.dropout=0.2"])
    assert config["downstream_expert"]["modelrc"]["dropout"] == 0.2
    with pytest.raises(ConfigError, match=r"'downstream_expert.modelrc.dropuot' \(did you mean dropout"):
        runner.resolve(["-m", "evaluate", "-e", str(old), "-o", "downstream_expert.modelrc.dropuot=0.2"])

    def asr_without_decoder(config):
        asr = load_config(REPO / "s3prl/downstream/asr/config.yaml")
        del asr["downstream_expert"]["datarc"]["decoder_args"]
        return asr

    asr = _with_config(full_dir / "dev-best.ckpt", tmp_path / "asr.ckpt", "asr", asr_without_decoder)
    _, config, _ = runner.resolve(["-m", "evaluate", "-e", str(asr), "-o",
                                   "downstream_expert.datarc.decoder_args.decoder_type=kenlm,,"
                                   "downstream_expert.datarc.decoder_args.kenlm_model=/lm/4-gram.arpa"])
    assert config["downstream_expert"]["datarc"]["decoder_args"] == {
        "decoder_type": "kenlm", "kenlm_model": "/lm/4-gram.arpa"}
    with pytest.raises(ConfigError, match=r"'downstream_expert.datarc.decoder_args.kenlm_path'"):
        runner.resolve(["-m", "evaluate", "-e", str(asr), "-o",
                        "downstream_expert.datarc.decoder_args.kenlm_path=/lm/4-gram.arpa"])


def test_inference_calls_the_experts_postprocess(full_run, tmp_path, monkeypatch, capsys):
    """After inference.jsonl is written the runner calls the expert's optional
    ``inference_postprocess(paths, predictions, expdir)`` (sv_voxceleb1 scores trials there)."""
    from s3prl.downstream.example.expert import DownstreamExpert

    full_dir, _ = full_run
    calls = []

    def postprocess(self, paths, predictions, expdir):
        assert (Path(expdir) / "inference.jsonl").is_file()  # called after it is written
        calls.append((paths, predictions, expdir))
        out = Path(expdir) / "scores.txt"
        out.write_text("x\n")
        return [str(out)]

    monkeypatch.setattr(DownstreamExpert, "inference_postprocess", postprocess, raising=False)
    out_dir = tmp_path / "inf"
    wavs = sorted(str(p) for p in (REPO / "sample_speech").glob("*.wav"))[:2]
    assert runner.main(["-m", "inference", "-e", str(full_dir / "dev-best.ckpt"), "-p", str(out_dir),
                        "-i", *wavs]) == 0
    lines = [json.loads(x) for x in (out_dir / "inference.jsonl").read_text().splitlines()]
    assert calls == [([x["wav"] for x in lines], [x["prediction"] for x in lines], str(out_dir))]
    assert str(out_dir / "scores.txt") in capsys.readouterr().out
