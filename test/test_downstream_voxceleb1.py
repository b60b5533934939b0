"""voxceleb1 (SID) on a tiny VoxCeleb1 layout of real speech and on the bundled
librispeech-10spk copy."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from s3prl.downstream.runner import main
from s3prl.downstream.voxceleb1.expert import DownstreamExpert
from test.downstream_layouts import (
    LIBRI_10SPK,
    Clips,
    Logger,
    force_prediction,
    records,
    task_config,
)

SPLIT_LINES = [
    "1 id10002/vidB/00001.wav",
    "1 id10001/vidA/00001.wav",
    "1 id10003/vidC/00001.wav",
    "1 id10001/vidA/00002.wav",
    "2 id10002/vidB/00002.wav",
    "2 id10001/vidA/00003.wav",
    "3 id10003/vidC/00002.wav",
]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """The official two-archive layout: vox1_dev_wav/wav (id10001, id10002) and
    vox1_test_wav/wav (id10003), plus iden_split.txt."""
    root = tmp_path_factory.mktemp("voxceleb1")
    clips = Clips()
    for line in SPLIT_LINES:
        rel = line.split()[1]
        archive = "vox1_test_wav" if rel.startswith("id10003") else "vox1_dev_wav"
        clips.write(root / archive / "wav" / rel, 1.5 if rel.endswith("1.wav") else 0.6)
    (root / "iden_split.txt").write_text("\n".join(SPLIT_LINES) + "\n")
    return root


def _expert(root, tmp_path, meta=None, **datarc):
    conf = task_config("voxceleb1", file_path=str(root),
                       meta_data=str(meta or Path(root) / "iden_split.txt"), **datarc)
    return DownstreamExpert(12, 160, conf, str(tmp_path))


def test_index_labels_and_splits(layout, tmp_path):
    expert = _expert(layout, tmp_path)
    assert expert.classes == ["id10001", "id10002", "id10003"]
    # label = int(id[2:]) - 10001, s3prl's rule for the full list
    for items in expert.items.values():
        for _path, label, name in items:
            assert label == int(name.split("-")[0][2:]) - 10001
    names = {s: [n for _, _, n in items] for s, items in expert.items.items()}
    assert names == {
        "train": ["id10002-vidB-00001", "id10001-vidA-00001", "id10003-vidC-00001",
                  "id10001-vidA-00002"],
        "dev": ["id10002-vidB-00002", "id10001-vidA-00003"],
        "test": ["id10003-vidC-00002"],
    }
    assert expert.items["test"][0][0] == layout / "vox1_test_wav/wav/id10003/vidC/00002.wav"


def test_train_crop_eval_whole_and_order(layout, tmp_path):
    expert = _expert(layout, tmp_path, max_timestep=8000, train_batch_size=2, eval_batch_size=2)
    lengths = {}
    for wavs, _labels, names in expert.get_dataloader("train", epoch=0):
        for w, n in zip(wavs, names):
            lengths[n] = w.shape[0]
    assert lengths == {"id10002-vidB-00001": 8000, "id10001-vidA-00001": 8000,
                       "id10003-vidC-00001": 8000, "id10001-vidA-00002": 8000}
    dev = [(n, w.shape[0]) for b in expert.get_dataloader("dev") for w, n in zip(b[0], b[2])]
    assert dev == [("id10002-vidB-00002", 9600), ("id10001-vidA-00003", 9600)]
    # the crop is a window of the file
    ds = expert.get_dataloader("train").dataset
    full = sf.read(str(ds.items[0][0]), dtype="float32")[0]
    crop = ds[(0, 99)][0].numpy()
    assert any(np.allclose(full[s:s + 8000], crop) for s in range(len(full) - 8000 + 1))
    e0 = [n for b in expert.get_dataloader("train", epoch=0) for n in b[2]]
    e1 = [n for b in expert.get_dataloader("train", epoch=1) for n in b[2]]
    assert sorted(e0) == sorted(e1)
    assert e0 == [n for b in expert.get_dataloader("train", epoch=0) for n in b[2]]


def test_forward_and_log_records(layout, tmp_path):
    expert = _expert(layout, tmp_path, eval_batch_size=2)
    force_prediction(expert, [0.0, 1.0, 0.0])  # always id10002
    rec = records()
    for wavs, labels, names in expert.get_dataloader("dev"):
        feats = torch.randn(len(wavs), 30, 12)
        loss = expert("dev", feats, torch.tensor([30, 17]), labels, names, records=rec)
        assert torch.isfinite(loss)
    logger = Logger()
    assert expert.log_records("dev", rec, logger, global_step=11) == ["dev-best.ckpt"]
    assert logger.values["voxceleb1/dev-acc"] == (pytest.approx(0.5), 11)
    truth = (tmp_path / "dev_truth.txt").read_text().splitlines()
    assert truth == ["id10002-vidB-00002 id10002", "id10001-vidA-00003 id10001"]


def test_missing_and_malformed(layout, tmp_path):
    with pytest.raises(FileNotFoundError, match="iden_split_missing.txt"):
        _expert(layout, tmp_path, meta=layout / "iden_split_missing.txt")
    bad = tmp_path / "split.txt"
    bad.write_text("1 id10001/vidA/00001.wav\n3 id10009/vidZ/00001.wav\n")
    with pytest.raises(FileNotFoundError, match=r"vox1_dev_wav/wav/id10009/vidZ/00001\.wav"):
        _expert(layout, tmp_path, meta=bad)
    bad.write_text("4 id10001/vidA/00001.wav\n")
    with pytest.raises(ValueError, match="line 1"):
        _expert(layout, tmp_path, meta=bad)
    with pytest.raises(FileNotFoundError, match=r"empty/wav"):
        (tmp_path / "empty").mkdir()
        _expert(tmp_path / "empty", tmp_path, meta=layout / "iden_split.txt")


def test_bundled_librispeech_10spk_follows_its_rule(tmp_path):
    """sample_data/librispeech-10spk/iden_split.txt: per speaker, sorted utterances, 6 train,
    2 dev, 2 test (its README); every listed file is the bundled FLAC."""
    lines = (LIBRI_10SPK / "iden_split.txt").read_text().splitlines()
    by_speaker = {}
    for line in lines:
        num, rel = line.split()
        spk, chapter, fname = rel.split("/")
        assert fname.startswith(f"{spk}-{chapter}-") and fname.endswith(".flac")
        by_speaker.setdefault(spk, []).append((fname, num))
    assert len(by_speaker) == 10
    for rows in by_speaker.values():
        assert [n for _, n in sorted(rows)] == ["1"] * 6 + ["2"] * 2 + ["3"] * 2
    expert = _expert(LIBRI_10SPK, tmp_path)
    assert {s: len(v) for s, v in expert.items.items()} == {"train": 60, "dev": 20, "test": 20}
    assert len(expert.classes) == 10
    info = sf.info(str(expert.items["test"][0][0]))
    assert info.samplerate == 16000 and info.format == "FLAC"


def test_workers_give_the_same_epoch(layout, tmp_path):
    """Crops come from the sampler's per-item seeds: 2 workers read what 0 workers read."""
    batches = []
    for workers in (0, 2):
        expert = _expert(layout, tmp_path, max_timestep=4000, train_batch_size=3,
                         num_workers=workers)
        batches.append([(names, [w.clone() for w in wavs])
                        for wavs, _, names in expert.get_dataloader("train", epoch=4)])
    assert [b[0] for b in batches[0]] == [b[0] for b in batches[1]]
    for (_, a), (_, b) in zip(batches[0], batches[1]):
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_runner_train_then_evaluate_reproduces_dev(layout, tmp_path):
    """The runner end to end on the tiny layout: train 6 steps, then ``-m evaluate`` of
    ``dev-best.ckpt`` on dev gives the dev accuracy logged during training."""
    conf = yaml.safe_load((Path(__file__).resolve().parents[1] / "s3prl/downstream/voxceleb1/"
                           "config.yaml").read_text())
    conf["runner"].update(total_steps=6, log_step=3, eval_step=3, save_step=3,
                          gradient_accumulate_steps=1, eval_dataloaders=["dev"])
    conf["optimizer"]["lr"] = 1e-2
    conf["downstream_expert"]["datarc"].update(
        file_path=str(layout), meta_data=str(layout / "iden_split.txt"), num_workers=0,
        train_batch_size=2, eval_batch_size=2, max_timestep=16000)
    conf["downstream_expert"]["modelrc"]["projector_dim"] = 16
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(conf))
    expdir = tmp_path / "exp"
    assert main(["-m", "train", "-u", "fbank_no_cmvn", "-d", "voxceleb1", "-c", str(cfg),
                 "-p", str(expdir), "--device", "cpu"]) == 0
    logged = {}
    with open(expdir / "logs" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get("voxceleb1/dev-acc"):
                logged[int(row["step"])] = float(row["voxceleb1/dev-acc"])
    assert sorted(logged) == [3, 6]
    assert (expdir / "dev-best.ckpt").is_file()
    best = max(logged.values())
    assert main(["-m", "evaluate", "-e", str(expdir / "dev-best.ckpt"), "-t", "dev",
                 "--device", "cpu"]) == 0
    result = json.loads((expdir / "dev-metrics.json").read_text())
    assert result["metrics"]["voxceleb1/dev-acc"] == pytest.approx(best)
    assert (expdir / "dev_predict.txt").read_text().count("\n") == 2
