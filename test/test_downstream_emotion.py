"""emotion (ER) on a tiny IEMOCAP layout of real speech."""

import json

import pytest
import torch

from s3prl.downstream.emotion.expert import DownstreamExpert
from test.downstream_layouts import Clips, Logger, force_prediction, records, task_config

# per session: (utterance suffix, IEMOCAP emotion code)
EMOTIONS = [("F000", "neu"), ("F001", "exc"), ("M000", "ang"), ("M001", "sad"),
            ("M002", "fru"), ("F002", "hap"), ("F003", "xxx")]


def _write_session(root, n, clips):
    sess = root / f"Session{n}"
    dialog = f"Ses0{n}F_impro01"
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
    for i, (suffix, emo) in enumerate(EMOTIONS):
        utt = f"{dialog}_{suffix}"
        lines += [f"[{i}.0000 - {i}.9000]\t{utt}\t{emo}\t[2.5000, 3.0000, 3.0000]",
                  f"C-E1:\t{emo.capitalize()};\t()", ""]
        clips.write(sess / "sentences" / "wav" / dialog / f"{utt}.wav", 0.5)
    label_dir = sess / "dialog" / "EmoEvaluation"
    label_dir.mkdir(parents=True)
    (label_dir / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
    (label_dir / "Categorical").mkdir()  # sub-folders are not label files


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    clips = Clips()
    for n in range(1, 6):
        _write_session(root, n, clips)
    return root


def _expert(root, tmp_path, **datarc):
    conf = task_config("emotion", root=str(root), **datarc)
    return DownstreamExpert(6, 160, conf, str(tmp_path))


def test_classes_folds_and_dev_split(layout, tmp_path):
    expert = _expert(layout, tmp_path, test_fold="fold3", pre_load=False)
    assert expert.classes == ["neu", "hap", "ang", "sad"]
    test = [(n, lab) for _, lab, n in expert.items["test"]]
    # sorted by name; exc -> hap; fru and xxx left out
    assert test == [("Ses03F_impro01_F000", 0), ("Ses03F_impro01_F001", 1),
                    ("Ses03F_impro01_F002", 1), ("Ses03F_impro01_M000", 2),
                    ("Ses03F_impro01_M001", 3)]
    train, dev = expert.items["train"], expert.items["dev"]
    assert len(train) == int(0.8 * 20) and len(dev) == 4
    names = sorted(n for _, _, n in train + dev)
    assert len(set(names)) == 20 and not any(n.startswith("Ses03") for n in names)
    # s3prl's rule: random_split after torch.manual_seed(0) == randperm with seed 0
    torch.manual_seed(0)
    subsets = torch.utils.data.random_split(range(20), [16, 4])
    pool = sorted(train + dev, key=lambda it: (it[2][:5], it[2]))
    assert [n for _, _, n in dev] == [pool[i][2] for i in subsets[1].indices]


def test_dataloader_forward_metrics(layout, tmp_path):
    expert = _expert(layout, tmp_path, eval_batch_size=5)
    wavs, labels, names = next(iter(expert.get_dataloader("test")))  # fold1
    assert labels.tolist() == [0, 1, 1, 2, 3] and wavs[0].shape == (8000,)
    force_prediction(expert, [0.0, 2.0, 0.0, 0.0])  # always "hap"
    rec = records()
    feats = torch.randn(5, 20, 6)
    loss = expert("test", feats, torch.tensor([20, 20, 9, 5, 1]), labels, names, records=rec)
    logp = torch.log_softmax(torch.tensor([0.0, 2.0, 0.0, 0.0]), 0)
    assert loss.item() == pytest.approx(-logp[labels].mean().item(), rel=1e-5)
    logger = Logger()
    expert.log_records("test", rec, logger, global_step=1)
    assert logger.values["emotion/test-acc"][0] == pytest.approx(2 / 5)


def test_meta_data_json_folder(layout, tmp_path):
    """s3prl's pre-computed meta data (SessionN/{train,test}_meta_data.json) is also read."""
    meta = tmp_path / "meta_data" / "Session2"
    meta.mkdir(parents=True)
    rel = "Session2/sentences/wav/Ses02F_impro01/Ses02F_impro01_F001.wav"
    entry = {"path": rel, "label": "hap", "speaker": "Ses02F"}
    rel1 = "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M001.wav"
    labels = {"neu": 0, "hap": 1, "ang": 2, "sad": 3}
    (meta / "test_meta_data.json").write_text(json.dumps({"labels": labels, "meta_data": [entry]}))
    (meta / "train_meta_data.json").write_text(json.dumps(
        {"labels": labels, "meta_data": [{"path": rel1, "label": "sad", "speaker": "Ses01F"}]}))
    expert = _expert(layout, tmp_path, test_fold="fold2", meta_data=str(tmp_path / "meta_data"),
                     valid_ratio=0.0)
    assert [(n, lab) for _, lab, n in expert.items["test"]] == [("Ses02F_impro01_F001", 1)]
    assert [(n, lab) for _, lab, n in expert.items["train"]] == [("Ses01F_impro01_M001", 3)]


def test_errors(layout, tmp_path):
    with pytest.raises(ValueError, match="fold1..fold5, got 'fold6'"):
        _expert(layout, tmp_path, test_fold="fold6")
    with pytest.raises(FileNotFoundError, match=r"Session1/dialog/EmoEvaluation"):
        (tmp_path / "iemocap").mkdir()
        _expert(tmp_path / "iemocap", tmp_path)
    root = tmp_path / "missing_wav"
    clips = Clips()
    for n in range(1, 6):
        _write_session(root, n, clips)
    (root / "Session4/sentences/wav/Ses04F_impro01/Ses04F_impro01_M000.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"Ses04F_impro01_M000\.wav \(labelled in "):
        _expert(root, tmp_path)
    (root / "Session2/sentences/wav/Ses02F_impro01/Ses02F_impro01_F000.wav").write_bytes(b"xx")
    clips.write(root / "Session4/sentences/wav/Ses04F_impro01/Ses04F_impro01_M000.wav", 0.5)
    with pytest.raises(RuntimeError, match=r"emotion \(.*\): unreadable audio file .*F000\.wav"):
        expert = _expert(root, tmp_path, pre_load=True)
        for split in ("train", "dev"):
            expert.get_dataloader(split)
