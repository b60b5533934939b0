"""``asr``, ``ctc`` and ``sv_voxceleb1`` through the runner: train, evaluate, infer, resume.

Tiny runs on CPU: asr/ctc on ``test/data/tts-librispeech-mini``, sv on a VoxCeleb1 layout cut
from ``sample_speech/`` (see ``test_downstream_sv.py``).
"""

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("pytorch_lightning")

from s3prl.downstream import runner  # noqa: E402

from .test_downstream_sv import make_voxceleb  # noqa: E402

MINI = Path(__file__).parent / "data" / "tts-librispeech-mini"


def overrides(task: str, root: Path) -> list[str]:
    common = ["runner.total_steps=4", "runner.log_step=2", "runner.eval_step=2",
              "runner.save_step=3", "runner.max_keep=5", "runner.gradient_accumulate_steps=1",
              "runner.eval_dataloaders=[dev]"]
    if task == "asr":
        task_o = [f"downstream_expert.datarc.libri_root={MINI}",
                  "downstream_expert.datarc.train_batch_size=3",
                  "downstream_expert.modelrc.project_dim=8",
                  "downstream_expert.modelrc.RNNs.dim=[8,8]"]  # dropout 0.2 kept
    elif task == "ctc":
        task_o = [f"downstream_expert.corpus.path={MINI}",
                  f"downstream_expert.corpus.lexicon=[{MINI / 'lexicon.txt'}]",
                  "downstream_expert.corpus.batch_size=3", "downstream_expert.model.project_dim=8"]
    else:
        task_o = [f"downstream_expert.datarc.file_path={root}",
                  f"downstream_expert.datarc.dev_meta_data={root / 'dev_trials.txt'}",
                  "downstream_expert.datarc.vad_config.min_sec=4000",
                  "downstream_expert.datarc.max_timestep=6000",
                  "downstream_expert.datarc.train_batch_size=4",
                  "downstream_expert.modelrc.input_dim=8",
                  "downstream_expert.modelrc.module_config.XVector.agg_dim=8"]
    return [x for o in common + task_o for x in ("-o", o)]


UPSTREAM = {"asr": "fbank", "ctc": "fbank", "sv_voxceleb1": "fbank_no_cmvn"}
DEV_METRIC = {"asr": "asr/dev-wer", "ctc": "ctc/dev-per", "sv_voxceleb1": "sv_voxceleb1/dev-EER"}


@pytest.fixture(scope="module", params=["asr", "ctc", "sv_voxceleb1"])
def trained(request, tmp_path_factory):
    task = request.param
    base = tmp_path_factory.mktemp(task)
    root = make_voxceleb(base / "VoxCeleb1") if task == "sv_voxceleb1" else MINI
    expdir = base / "full"
    argv = ["-m", "train", "-u", UPSTREAM[task], "-d", task, "-p", str(expdir), "--device",
            "cpu", *overrides(task, root)]
    assert runner.main(argv) == 0
    return task, base, expdir, root


def _logged(expdir: Path, tag: str) -> dict:
    import csv

    values = {}
    with open(expdir / "logs" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get(tag):
                values[int(row["step"])] = float(row[tag])
    return values


def test_evaluate_reproduces_logged_dev_score(trained):
    task, _, expdir, _ = trained
    logged = _logged(expdir, DEV_METRIC[task])
    assert sorted(logged) == [2, 4]
    assert runner.main(["-m", "evaluate", "-e", str(expdir / "dev-best.ckpt"), "-t", "dev"]) == 0
    result = json.loads((expdir / "dev-metrics.json").read_text())
    best = min(logged.values())
    assert result["metrics"][DEV_METRIC[task]] == pytest.approx(best, abs=1e-6)
    assert result["global_step"] == min(s for s, v in logged.items() if v == best)


def test_inference_writes_predictions(trained, tmp_path):
    task, _, expdir, root = trained
    wavs = ([MINI / "test-clean/100/1000/100-1000-0000.flac",
             MINI / "test-clean/100/1000/100-1000-0001.flac"] if task != "sv_voxceleb1"
            else sorted((root / "test/wav/id001").rglob("*.wav")))
    out = tmp_path / "inf"
    assert runner.main(["-m", "inference", "-e", str(expdir / "dev-best.ckpt"), "-p", str(out),
                        "-i", *map(str, wavs)]) == 0
    rows = [json.loads(line) for line in (out / "inference.jsonl").read_text().splitlines()]
    assert [r["wav"] for r in rows] == list(map(str, wavs))
    if task == "sv_voxceleb1":
        assert all(len(r["prediction"]) == 8 for r in rows)
        assert abs(sum(x * x for x in rows[0]["prediction"]) - 1) < 1e-5
    else:
        assert all(isinstance(r["prediction"], str) for r in rows)


def test_resume_mid_epoch_equals_uninterrupted(trained):
    """Resume from states-3 (mid-epoch: 2 batches per epoch) into
    another folder; step 4 must equal the uninterrupted run's (asr keeps dropout 0.2)."""
    task, base, expdir, _ = trained
    resumed = base / "resumed"
    assert runner.main(["-m", "train", "-e", str(expdir / "states-3.ckpt"), "-p", str(resumed),
                        "--device", "cpu"]) == 0
    a = torch.load(expdir / "states-4.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    b = torch.load(resumed / "states-4.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
