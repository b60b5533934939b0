"""``sv_voxceleb1``: layout indexing, trials, x-vector head, AM-softmax, scoring, inference.

Tiny VoxCeleb1 layouts are cut from the real recordings of ``sample_speech/`` (three sources
= three "speakers", 0.5 s segments).
"""

import collections
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.nn import functional as F

from s3prl.downstream import metrics
from s3prl.downstream.sv_voxceleb1 import score_inference
from s3prl.downstream.sv_voxceleb1.dataset import read_trials
from s3prl.downstream.sv_voxceleb1.expert import DownstreamExpert
from s3prl.downstream.sv_voxceleb1.model import AMSoftmaxLoss, StatisticsPooling, XVector
from s3prl.downstream.sv_voxceleb1.prepare_librispeech import prepare
from s3prl.util.audio import SAMPLE_SPEECH_DIR, load_audio

SOURCES = {  # speaker id -> recording
    "id001": "librispeech_3005-163389-0007.flac",
    "id002": "librispeech_3331-159605-0004.flac",
    "id003": "commonvoice_fr_17299458.wav",
}
SEG = 8000  # 0.5 s


class FakeLogger:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, global_step=None):
        self.scalars[tag] = value


def make_voxceleb(root: Path, short_file=False) -> Path:
    """dev/wav: segments 0-1 of each speaker (+ one 0.2 s file); test/wav: segments 2-3."""
    for spk, name in SOURCES.items():
        wav = load_audio(SAMPLE_SPEECH_DIR / name).numpy()
        for i in range(4):
            part = "dev" if i < 2 else "test"
            out = root / part / "wav" / spk / f"vid{i % 2}" / f"{i:05d}.wav"
            out.parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, wav[i * SEG:(i + 1) * SEG], 16000, subtype="PCM_16")
    if short_file:
        sf.write(root / "dev/wav/id001/vid0/00009.wav", np.zeros(3200, np.float32), 16000)
    keys = [f"{spk}/vid{i % 2}/{i:05d}.wav" for spk in SOURCES for i in (2, 3)]
    lines = [f"{int(a[:5] == b[:5])} {a} {b}" for j, a in enumerate(keys) for b in keys[j + 1:]]
    (root / "veri_test2.txt").write_text("\n".join(lines) + "\n")
    dev_keys = [f"{spk}/vid{i}/{i:05d}.wav" for spk in SOURCES for i in (0, 1)]
    (root / "dev_trials.txt").write_text(
        "".join(f"{int(a[:5] == b[:5])} {a} {b}\n"
                for j, a in enumerate(dev_keys) for b in dev_keys[j + 1:]))
    return root


def config(root: Path, **datarc):
    return {
        "datarc": {"vad_config": {"min_sec": 4000}, "file_path": str(root),
                   "train_meta_data": None, "dev_meta_data": str(root / "dev_trials.txt"),
                   "test_meta_data": None, "max_timestep": 6000, "train_batch_size": 3,
                   "eval_batch_size": 2, "num_workers": 0, "seed": 1, **datarc},
        "modelrc": {"module": "XVector", "input_dim": 8, "agg_module": "SP",
                    "utter_module": "UtteranceExtractor",
                    "module_config": {"XVector": {"agg_dim": 12, "dropout_p": 0.0,
                                                  "batch_norm": False}},
                    "ObjectiveLoss": "AMSoftmaxLoss",
                    "LossConfig": {"AMSoftmaxLoss": {"s": 30.0, "m": 0.4}}},
    }


@pytest.fixture(scope="module")
def vox(tmp_path_factory):
    return make_voxceleb(tmp_path_factory.mktemp("sv") / "VoxCeleb1", short_file=True)


def test_training_index_speakers_and_short_files(vox, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        expert = DownstreamExpert(5, 160, config(vox), str(tmp_path))
    ds = expert.train_dataset
    assert ds.speakers == ["id001", "id002", "id003"]
    assert len(ds) == 6  # the 0.2 s file is dropped (min_sec 4000 samples)
    assert "dropped 1 of 7 utterances not longer than 4000 samples" in caplog.text
    assert [lab for _, lab in ds.items] == [0, 0, 1, 1, 2, 2]
    # crop: max_timestep samples, same offset for the same epoch, other offsets later
    wav, label, key = ds[0]
    assert wav.numel() == 6000 and label == 0 and key == "id001/vid0/00000.wav"
    full = load_audio(vox / "dev/wav" / key)
    start = int(np.argmin([(full[s:s + 6000] - wav).abs().sum() for s in range(2001)]))
    assert torch.equal(full[start:start + 6000], wav)
    assert torch.equal(ds[0][0], wav)
    starts = set()
    for epoch in range(6):
        ds.epoch = epoch
        starts.add(ds[0][0][:5].sum().item())
    assert len(starts) > 1
    # each epoch's loader keeps its own crops, whatever loader is built afterwards
    ds.epoch = 3
    wav3 = ds[0][0]
    ds.epoch = 0
    assert not torch.equal(ds[0][0], wav3)
    loader3 = expert.get_dataloader("train", epoch=3)
    expert.get_dataloader("train", epoch=0)
    assert torch.equal(loader3.dataset[0][0], wav3)
    (tmp_path / "spk.txt").write_text("id002\nid003\n")
    sub = DownstreamExpert(5, 160, config(vox, train_meta_data=str(tmp_path / "spk.txt")),
                           str(tmp_path))
    assert sub.train_dataset.speakers == ["id002", "id003"]
    assert sub.objective.weight.shape == (2, 8)


def test_bad_layouts_name_the_expected_file(vox, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere/dev/wav"):
        DownstreamExpert(5, 160, config(tmp_path / "nowhere"), str(tmp_path))
    (tmp_path / "spk.txt").write_text("id009\n")
    with pytest.raises(FileNotFoundError, match=r"speaker folder not found: .*id009 \(listed in"):
        DownstreamExpert(5, 160, config(vox, train_meta_data=str(tmp_path / "spk.txt")),
                         str(tmp_path))
    bad = tmp_path / "trials.txt"
    bad.write_text("1 id001/vid0/00002.wav id001/vid1/00003.wav\n"
                   "0 id001/vid0/00002.wav id002/vid0/00099.wav\n")
    with pytest.raises(FileNotFoundError, match=r"id002/vid0/00099\.wav \(listed in .*:2\)"):
        read_trials(bad, vox / "test/wav")
    bad.write_text("yes id001/vid0/00002.wav id001/vid1/00003.wav\n")
    with pytest.raises(ValueError, match=r"trials\.txt:1: expected '<0\|1> <path1> <path2>'"):
        read_trials(bad, vox / "test/wav")
    expert = DownstreamExpert(5, 160, config(vox, test_meta_data=str(tmp_path / "no.txt"),
                                             dev_meta_data=None), str(tmp_path))
    with pytest.raises(FileNotFoundError, match="trial list not found: .*no.txt"):
        expert.get_dataloader("test")
    with pytest.raises(ValueError, match="needs datarc.dev_meta_data"):
        expert.get_dataloader("dev")
    with pytest.raises(ValueError, match="unknown split 'eval'"):
        expert.get_dataloader("eval")


def test_train_forward_finite_loss(vox, tmp_path):
    torch.manual_seed(0)
    expert = DownstreamExpert(5, 160, config(vox), str(tmp_path))
    wavs, labels, keys = next(iter(expert.get_dataloader("train", epoch=0)))
    assert len(wavs) == 3 and labels.dtype == torch.long
    assert [keys for _, _, keys in expert.get_dataloader("train", 0)] == [
        keys for _, _, keys in expert.get_dataloader("train", 0)]
    records = collections.defaultdict(list)
    features = torch.randn(3, 40, 5)
    loss = expert("train", features, torch.tensor([40, 37, 10]), labels, keys, records=records)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert expert.connector.weight.grad.abs().sum() > 0
    assert expert.objective.weight.grad.abs().sum() > 0


def test_scoring_embeds_each_utterance_once_and_matches_metrics(vox, tmp_path):
    torch.manual_seed(0)
    expert = DownstreamExpert(5, 160, config(vox), str(tmp_path)).eval()
    calls = []
    original = expert.model.embed

    def counting_embed(x, lengths):
        calls.append(x.shape[0])
        return original(x, lengths)

    expert.model.embed = counting_embed
    records = collections.defaultdict(list)
    features_of = {}
    loader = expert.get_dataloader("test")
    for wavs, labels, keys in loader:
        assert (labels == -1).all()
        n = torch.tensor([w.numel() // 160 for w in wavs])
        feats = torch.zeros(len(wavs), int(n.max()), 5)
        for i, key in enumerate(keys):
            g = torch.Generator().manual_seed(sum(map(ord, key)))
            feats[i, : n[i]] = torch.randn(int(n[i]), 5, generator=g)
            features_of[key] = feats[i, : n[i]]
        with torch.no_grad():
            expert("test", feats, n, labels, keys, records=records)
    trials = read_trials(vox / "veri_test2.txt", vox / "test/wav")
    assert len(trials) == 15 and sum(calls) == 6  # 6 distinct utterances, 15 trials
    logger = FakeLogger()
    assert expert.log_records("test", records, logger, 3) == []
    # independent scores: each utterance embedded alone, cosine similarity
    with torch.no_grad():
        emb = {k: torch.tensor(expert.predict(f[None], torch.tensor([len(f)]))[0])
               for k, f in features_of.items()}
    labels = [t[0] for t in trials]
    scores = [F.cosine_similarity(emb[a], emb[b], dim=0).item() for _, a, b in trials]
    assert logger.scalars["sv_voxceleb1/test-EER"] == pytest.approx(metrics.eer(labels, scores))
    assert logger.scalars["sv_voxceleb1/test-minDCF"] == pytest.approx(
        metrics.min_dcf(labels, scores, 0.01))
    written = (tmp_path / "test-trial-scores.txt").read_text().splitlines()
    assert len(written) == 15
    first = written[0].split()
    assert float(first[0]) == pytest.approx(scores[0], abs=1e-5) and first[1:] == [
        str(trials[0][0]), trials[0][1], trials[0][2]]
    # dev selects the best checkpoint by EER
    dev_records = collections.defaultdict(list)
    for wavs, labels_, keys in expert.get_dataloader("dev"):
        n = torch.tensor([w.numel() // 160 for w in wavs])
        with torch.no_grad():
            expert("dev", torch.randn(len(wavs), int(n.max()), 5), n, labels_, keys,
                   records=dev_records)
    assert expert.log_records("dev", dev_records, logger, 4) == ["dev-best.ckpt"]
    assert expert.best_score.item() == logger.scalars["sv_voxceleb1/dev-EER"]


def test_inference_postprocess_scores_pairs(vox, tmp_path):
    expert = DownstreamExpert(5, 160, config(vox), str(tmp_path))
    paths = [str(vox / "test/wav/id001/vid0/00002.wav"), str(vox / "test/wav/id001/vid1/00003.wav"),
             str(vox / "test/wav/id002/vid0/00002.wav")]
    preds = [F.normalize(torch.randn(8), dim=0).tolist() for _ in paths]
    out = expert.inference_postprocess(paths, preds, str(tmp_path / "inf"))
    lines = Path(out[0]).read_text().splitlines()
    assert len(lines) == 3
    assert float(lines[1].split()[0]) == pytest.approx(
        F.cosine_similarity(torch.tensor(preds[0]), torch.tensor(preds[2]), dim=0).item(),
        abs=1e-5)
    trials = tmp_path / "inf_trials.txt"
    trials.write_text(f"1 {paths[0]} {paths[1]}\n0 {paths[1]} {paths[2]}\n")
    expert.datarc["inference_trials"] = str(trials)
    lines = Path(expert.inference_postprocess(paths, preds, str(tmp_path / "inf"))[0]
                 ).read_text().splitlines()
    assert [ln.split()[1:] for ln in lines] == [["1", paths[0], paths[1]],
                                                 ["0", paths[1], paths[2]]]
    trials.write_text(f"{paths[0]} {vox / 'other.wav'}\n")
    with pytest.raises(KeyError, match="other.wav was not among the inferred wavs"):
        expert.inference_postprocess(paths, preds, str(tmp_path / "inf"))
    # the same scores from the runner's inference.jsonl
    jsonl = tmp_path / "inf" / "inference.jsonl"
    jsonl.write_text("".join(json.dumps({"wav": p, "prediction": e}) + "\n"
                             for p, e in zip(paths, preds)))
    score_inference.main([str(jsonl)])
    cli = (tmp_path / "inf" / "inference-trial-scores.txt").read_text().splitlines()
    assert [ln.split()[1:] for ln in cli] == [[paths[0], paths[1]], [paths[0], paths[2]],
                                              [paths[1], paths[2]]]


def test_xvector_padding_pooling_and_am_softmax():
    torch.manual_seed(0)
    x = torch.randn(2, 30, 6)
    lengths = torch.tensor([30, 20])
    pooled = StatisticsPooling()(x, lengths)
    ref = torch.cat([x[1, :20].mean(0), x[1, :20].std(0, unbiased=False)])
    assert torch.allclose(pooled[1], ref, atol=1e-6)
    model = XVector(6, 10).eval()
    padded = x.clone()
    padded[1, 20:] = 123.0  # garbage past the length must not matter
    alone = model.embed(x[1:, :20], lengths[1:])
    assert torch.allclose(model.embed(padded, lengths)[1], alone[0], atol=1e-5)
    assert model.embed(torch.randn(1, 5, 6), torch.tensor([5])).shape == (1, 6)  # < 15 frames
    loss_fn = AMSoftmaxLoss(4, 3, s=30.0, m=0.4)
    emb = torch.randn(5, 4)
    labels = torch.tensor([0, 2, 1, 1, 0])
    w = loss_fn.weight.detach()
    cos = (emb / emb.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T
    logits = 30.0 * cos
    logits[torch.arange(5), labels] = 30.0 * (cos[torch.arange(5), labels] - 0.4)
    expected = -(logits.log_softmax(-1)[torch.arange(5), labels]).mean()
    assert loss_fn(emb, labels).item() == pytest.approx(expected.item(), rel=1e-5)


def test_prepare_librispeech_layout(tmp_path):
    src = tmp_path / "src"
    for spk in ("11", "22", "33"):
        for utt in range(3):
            out = src / spk / f"{spk}-100-{utt:04d}.flac"
            out.parent.mkdir(parents=True, exist_ok=True)
            sf.write(out, np.zeros(1600, np.float32), 16000)
    counts = prepare(src, tmp_path / "vox", ["22"])
    assert counts == {"train_speakers": 2, "train_utterances": 6, "test_utterances": 3,
                      "test_trials": 3, "dev_trials": 15}
    assert (tmp_path / "vox/dev/wav/11/100/0000.flac").is_file()
    trials = read_trials(tmp_path / "vox/veri_test2.txt", tmp_path / "vox/test/wav")
    assert trials[0] == (1, "22/100/0000.flac", "22/100/0001.flac")
    dev = read_trials(tmp_path / "vox/dev_trials.txt", tmp_path / "vox/dev/wav")
    assert sum(label for label, _, _ in dev) == 6  # 3 + 3 same-speaker pairs
    with pytest.raises(FileExistsError):
        prepare(src, tmp_path / "vox", ["22"])
    with pytest.raises(FileNotFoundError, match="test speaker 99"):
        prepare(src, tmp_path / "vox2", ["99"])
    assert not (tmp_path / "vox2").exists()
