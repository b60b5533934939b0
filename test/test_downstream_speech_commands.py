"""speech_commands (KS) on tiny Speech Commands v0.01 layouts of real speech."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from s3prl.downstream.speech_commands.dataset import CLASSES
from s3prl.downstream.speech_commands.expert import DownstreamExpert
from test.downstream_layouts import Clips, Logger, force_prediction, records, task_config

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
GAIN = 10 ** (-3 / 20)  # s3prl reads with sox "gain -3.0"


def _train_root(tmp_path, clips):
    """2 speakers (a, b) x 10 command words + 'bed' and 'cat' (unknown); speaker c held out
    for dev (yes, bed), speaker d for test (no, cat); 2 background-noise files of 2 s."""
    root = tmp_path / "train"
    for word in WORDS + ["bed", "cat"]:
        for spk in ("aaaa1111", "bbbb2222"):
            clips.write(root / word / f"{spk}_nohash_0.wav", 1.0)
    for word in ("yes", "bed"):
        clips.write(root / word / "cccc3333_nohash_0.wav", 1.0)
    for word in ("no", "cat"):
        clips.write(root / word / "dddd4444_nohash_0.wav", 1.0)
    (root / "validation_list.txt").write_text(
        "yes/cccc3333_nohash_0.wav\nbed/cccc3333_nohash_0.wav\n")
    (root / "testing_list.txt").write_text(
        "cat/dddd4444_nohash_0.wav\nno/dddd4444_nohash_0.wav\n")
    for name in ("white_noise.wav", "pink_noise.wav"):
        clips.write(root / "_background_noise_" / name, 2.0)
    return root


def _test_root(tmp_path, clips):
    root = tmp_path / "test"
    for name in CLASSES:
        clips.write(root / name / "eeee5555_nohash_0.wav", 1.0)
    return root


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speech_commands")
    clips = Clips()
    return _train_root(tmp, clips), _test_root(tmp, clips)


def _expert(train_root, test_root, tmp_path, **datarc):
    conf = task_config("speech_commands", speech_commands_root=str(train_root),
                       speech_commands_test_root=test_root and str(test_root), **datarc)
    return DownstreamExpert(16, 160, conf, str(tmp_path))


def test_index_train_dev_and_silence(layout, tmp_path):
    train_root, test_root = layout
    expert = _expert(train_root, test_root, tmp_path)
    unk, sil = CLASSES.index("_unknown_"), CLASSES.index("_silence_")
    train = {name: label for _, label, name in expert.items["train"]}
    assert len(train) == 12 * 2 + 2
    assert train["yes-aaaa1111_nohash_0.wav"] == 0 and train["go-bbbb2222_nohash_0.wav"] == 9
    assert train["bed-aaaa1111_nohash_0.wav"] == unk and train["cat-bbbb2222_nohash_0.wav"] == unk
    assert train["_background_noise_-white_noise.wav"] == sil
    assert not any("cccc3333" in n or "dddd4444" in n for n in train)  # held out
    dev = {name: label for _, label, name in expert.items["dev"]}
    assert dev == {"yes-cccc3333_nohash_0.wav": 0, "bed-cccc3333_nohash_0.wav": unk,
                   "_background_noise_-pink_noise.wav": sil,
                   "_background_noise_-white_noise.wav": sil}
    # official separate test set: class folder = label
    test = {name: label for _, label, name in expert.items["test"]}
    assert test == {f"{c}-eeee5555_nohash_0.wav": i for i, c in enumerate(CLASSES)}
    assert len(expert.classes) == 12 and expert.classes[10:] == ["_unknown_", "_silence_"]


def test_test_from_testing_list_when_test_root_is_null(layout, tmp_path):
    train_root, _ = layout
    expert = _expert(train_root, None, tmp_path)
    test = sorted((name, label) for _, label, name in expert.items["test"])
    assert test == [("cat-dddd4444_nohash_0.wav", 10), ("no-dddd4444_nohash_0.wav", 1)]


def test_dataloaders_gain_crop_and_balanced_sampling(layout, tmp_path):
    train_root, test_root = layout
    expert = _expert(train_root, test_root, tmp_path, batch_size=4)
    ref = sf.read(str(train_root / "yes" / "cccc3333_nohash_0.wav"), dtype="float32")[0]
    dev_batches = list(expert.get_dataloader("dev"))
    assert dev_batches[0][0][0].dtype == torch.float32
    seen = {}
    for wavs, labels, names in dev_batches:
        assert labels.dtype == torch.long and len(wavs) == len(names)
        for wav, label, name in zip(wavs, labels.tolist(), names):
            assert wav.shape == (16000,)  # silence: a 1 s window of the 2 s noise
            seen[name] = label
            if name == "yes-cccc3333_nohash_0.wav":
                np.testing.assert_allclose(wav.numpy(), ref * GAIN, atol=1e-6)
    assert sum(len(b[0]) for b in dev_batches) == 4  # len(dev) draws with replacement
    # the dev draw is fixed: the same at every evaluation
    again = [n for b in expert.get_dataloader("dev", epoch=3) for n in b[2]]
    assert again == [n for b in dev_batches for n in b[2]]
    wavs, labels, names = next(iter(expert.get_dataloader("train")))
    assert len(wavs) == 4  # drop_last on train
    # balanced weights: len / class count (s3prl); classes 0..9 have 2 items, unknown 4, silence 2
    from s3prl.downstream.speech_commands.expert import _balanced_weights
    w = _balanced_weights(expert.items["train"])
    labels_all = [lab for _, lab, _ in expert.items["train"]]
    assert w[labels_all.index(10)] == pytest.approx(26 / 4)
    assert w[labels_all.index(0)] == pytest.approx(26 / 2)
    # a train epoch is reproducible, and another epoch differs
    e0 = [n for b in expert.get_dataloader("train", epoch=0) for n in b[2]]
    assert e0 == [n for b in expert.get_dataloader("train", epoch=0) for n in b[2]]
    assert e0 != [n for b in expert.get_dataloader("train", epoch=1) for n in b[2]]


def test_silence_window_is_slice_of_noise(layout, tmp_path):
    train_root, test_root = layout
    expert = _expert(train_root, test_root, tmp_path)
    dataset = expert.get_dataloader("train").dataset
    idx = [n for _, _, n in dataset.items].index("_background_noise_-pink_noise.wav")
    noise = sf.read(str(train_root / "_background_noise_" / "pink_noise.wav"),
                    dtype="float32")[0] * GAIN
    wav, label, _ = dataset[(idx, 12345)]
    assert label == 11 and wav.shape == (16000,)
    starts = [s for s in range(len(noise) - 16000 + 1)
              if np.allclose(noise[s:s + 16000], wav.numpy(), atol=1e-6)]
    assert len(starts) == 1
    assert torch.equal(dataset[(idx, 12345)][0], wav)  # same item seed, same window


def test_forward_loss_and_metrics(layout, tmp_path):
    train_root, test_root = layout
    expert = _expert(train_root, test_root, tmp_path)
    wavs, labels, names = next(iter(expert.get_dataloader("test")))
    feats = torch.randn(len(wavs), 100, 16)
    lens = torch.tensor([100] * len(wavs))
    rec = records()
    loss = expert("test", feats, lens, labels, names, records=rec)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    # forced prediction "_unknown_": right on the test set's one _unknown_ clip of 12
    bias = torch.full((12,), -2.0)
    bias[10] = 3.0
    force_prediction(expert, bias)
    rec = records()
    loss = expert("test", feats, lens, labels, names, records=rec)
    logp = torch.log_softmax(bias, 0)
    assert loss.item() == pytest.approx(-logp[labels].mean().item(), rel=1e-5)
    logger = Logger()
    assert expert.log_records("test", rec, logger, global_step=5) == []
    assert logger.values["speech_commands/test-acc"][0] == pytest.approx(1 / 12)
    assert math.isfinite(logger.values["speech_commands/test-loss"][0])
    assert expert.predict(feats[:2], lens[:2]) == ["_unknown_", "_unknown_"]
    lines = (tmp_path / "test_predict.txt").read_text().splitlines()
    assert lines[0] == "_silence_-eeee5555_nohash_0.wav _unknown_"


def test_missing_files_are_named(layout, tmp_path):
    train_root, test_root = layout
    with pytest.raises(FileNotFoundError, match="validation_list.txt"):
        _expert(tmp_path, None, tmp_path)
    # a listed file that does not exist
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("validation_list.txt", "testing_list.txt"):
        (bad / name).write_text("yes/ffff_nohash_0.wav\n" if name[0] == "v" else "")
    (bad / "_background_noise_").mkdir()
    sf.write(str(bad / "_background_noise_" / "n.wav"), np.zeros(20000, "int16"), 16000)
    with pytest.raises(FileNotFoundError, match=r"bad/yes/ffff_nohash_0\.wav"):
        _expert(bad, None, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no_such_test/_silence_|no_such_test"):
        _expert(train_root, tmp_path / "no_such_test", tmp_path)
    partial = tmp_path / "partial_test"
    (partial / "yes").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="test class folder .*partial_test/no"):
        _expert(train_root, partial, tmp_path)
    with pytest.raises(ValueError, match=r"unknown keys \['speech_command_root'\]"):
        _expert(train_root, test_root, tmp_path, speech_command_root="x")
    expert = _expert(train_root, test_root, tmp_path)
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        expert.get_dataloader("valid")


def test_unreadable_wav_is_fatal_and_named(tmp_path):
    clips = Clips()
    root = _train_root(tmp_path, clips)
    (root / "cat" / "dddd4444_nohash_0.wav").write_bytes(b"RIFF not really a wav")
    expert = _expert(root, None, tmp_path)  # index time: the file exists; reading is fatal
    with pytest.raises(RuntimeError, match=r"speech_commands \(test\): unreadable audio file "
                       r".*cat/dddd4444_nohash_0\.wav"):
        for _ in expert.get_dataloader("test"):
            pass
