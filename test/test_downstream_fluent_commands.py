"""fluent_commands (IC) on a tiny Fluent Speech Commands layout of real speech."""

import csv

import pytest
import torch

from s3prl.downstream.fluent_commands.expert import DownstreamExpert
from test.downstream_layouts import Clips, Logger, records, task_config

HEADER = ["", "path", "speakerId", "transcription", "action", "object", "location"]
ROWS = {
    "train": [
        ("spk1", "u1", "Turn on the lights", "activate", "lights", "none"),
        ("spk1", "u2", "Turn off the kitchen lights", "deactivate", "lights", "kitchen"),
        ("spk2", "u3", "Bring me the newspaper", "bring", "newspaper", "none"),
        ("spk2", "u4", "Lights on in the bedroom", "activate", "lights", "bedroom"),
    ],
    "valid": [("spk3", "u5", "Switch the lights off", "deactivate", "lights", "none")],
    "test": [
        ("spk4", "u6", "Kitchen lights on", "activate", "lights", "kitchen"),
        ("spk4", "u7", "Fetch the newspaper", "bring", "newspaper", "none"),
    ],
}


def _write_layout(root, rows=ROWS, clips=None):
    clips = clips or Clips()
    (root / "data").mkdir(parents=True)
    for split, entries in rows.items():
        with open(root / "data" / f"{split}_data.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER)
            for i, (spk, utt, text, act, obj, loc) in enumerate(entries):
                rel = f"wavs/speakers/{spk}/{utt}.wav"
                clips.write(root / rel, 0.8)
                writer.writerow([i, rel, spk, text, act, obj, loc])
    return root


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    return _write_layout(tmp_path_factory.mktemp("fsc") / "fluent_speech_commands_dataset")


def _expert(root, tmp_path, **datarc):
    conf = task_config("fluent_commands", file_path=str(root), **datarc)
    return DownstreamExpert(10, 320, conf, str(tmp_path))


def test_slot_values_and_labels(layout, tmp_path):
    expert = _expert(layout, tmp_path)
    # order of first appearance in train_data.csv
    assert expert.slot_values == {"action": ["activate", "deactivate", "bring"],
                                  "object": ["lights", "newspaper"],
                                  "location": ["none", "kitchen", "bedroom"]}
    assert expert.values_per_slot == [3, 2, 3]
    assert [(n, lab) for _, lab, n in expert.items["test"]] == [("u6", (0, 0, 1)),
                                                                ("u7", (2, 1, 0))]
    assert [n for _, _, n in expert.items["dev"]] == ["u5"]
    wavs, labels, names = next(iter(expert.get_dataloader("test")))
    assert labels.tolist() == [[0, 0, 1], [2, 1, 0]] and names == ["u6", "u7"]
    assert wavs[0].shape == (12800,)


def test_accuracy_needs_all_three_slots(layout, tmp_path):
    expert = _expert(layout, tmp_path)
    bias = torch.tensor([2.0, 0, 0,  # activate
                         3.0, 0,  # lights
                         0, 1.0, 0])  # kitchen
    lin = expert.head.model.linear
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(bias)
    rec = records()
    wavs, labels, names = next(iter(expert.get_dataloader("test")))
    feats = torch.randn(2, 40, 10)
    loss = expert("test", feats, torch.tensor([40, 25]), labels, names, records=rec)
    # hand: sum over slots of the mean cross-entropy
    parts = torch.split(bias, [3, 2, 3])
    ref = sum(-torch.log_softmax(p, 0)[labels[:, k]].mean() for k, p in enumerate(parts))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    # u6 = (activate, lights, kitchen) is right; u7 is wrong on every slot
    assert rec["acc"] == [1.0, 0.0]
    assert rec["predict"] == ["activate,lights,kitchen"] * 2
    assert rec["truth"][1] == "bring,newspaper,none"
    logger = Logger()
    expert.log_records("test", rec, logger, global_step=2)
    assert logger.values["fluent_commands/test-acc"][0] == pytest.approx(0.5)
    assert expert.predict(feats[:1], torch.tensor([40])) == [
        {"action": "activate", "object": "lights", "location": "kitchen"}]


def test_errors(layout, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data/train_data\.csv"):
        (tmp_path / "empty").mkdir()
        _expert(tmp_path / "empty", tmp_path)
    rows = {k: list(v) for k, v in ROWS.items()}
    rows["test"] = [("spk4", "u8", "Play music", "play", "music", "none")]
    root = _write_layout(tmp_path / "unseen", rows)
    with pytest.raises(ValueError, match=r"test_data\.csv row 2: action value 'play'"):
        _expert(root, tmp_path)
    root = _write_layout(tmp_path / "missing_wav")
    (root / "wavs/speakers/spk3/u5.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"wavs/speakers/spk3/u5\.wav \(row 2 of "):
        _expert(root, tmp_path)
