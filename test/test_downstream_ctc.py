"""``ctc`` (phoneme recognition): lexicon reading, phone labels, missing words, head, records."""

import collections
import logging
import shutil
from pathlib import Path

import pytest
import torch

from s3prl.downstream.ctc.expert import DownstreamExpert
from s3prl.downstream.ctc.lexicon import (
    PhoneVocabulary,
    read_lexicon,
    strip_stress,
    transcript_to_phones,
)
from s3prl.downstream.metrics import per

MINI = Path(__file__).parent / "data" / "tts-librispeech-mini"


class FakeLogger:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, global_step=None):
        self.scalars[tag] = value


def config(root=MINI, lexicon=None, **text):
    return {
        "corpus": {"name": "libriphone", "path": str(root),
                   "lexicon": [str(lexicon or MINI / "lexicon.txt")],
                   "train": ["train-clean-100"], "dev": ["dev-clean"], "test": ["test-clean"],
                   "batch_size": 2, "num_workers": 0, "seed": 0},
        "text": {"mode": "word", "vocab_file": None, **text},
        "model": {"project_dim": 8, "zero_infinity": True, "select": "FrameLevel",
                  "FrameLevel": {"hiddens": []}},
        "save_best_on": ["dev"], "metric_higher_better": False, "metric": ["per"],
    }


def test_cmu_lexicon_stress_and_first_pronunciation(tmp_path):
    lex = tmp_path / "librispeech-lexicon.txt"
    # the official file: WORD<TAB>phones; READ has two pronunciations
    lex.write_text("A\tAH0\nREAD\tR IY1 D\nREAD\tR EH1 D\nHER\tHH ER0\n\nDON'T\tD OW1 N T\n")
    lexicon = read_lexicon(lex)
    assert lexicon == {"A": ["AH"], "READ": ["R", "IY", "D"], "HER": ["HH", "ER"],
                       "DON'T": ["D", "OW", "N", "T"]}
    assert read_lexicon(lex, remove_stress=False)["READ"] == ["R", "IY1", "D"]
    assert [strip_stress(p) for p in ["AA2", "t#", "3", "@", "IY"]] == ["AA", "t#", "3", "@", "IY"]
    vocab = PhoneVocabulary.from_lexicon(lexicon)
    assert vocab.symbols == ["<blank>", "AH", "D", "ER", "HH", "IY", "N", "OW", "R", "T"]
    assert transcript_to_phones("read her", lexicon) == (["R", "IY", "D", "HH", "ER"], [])
    assert transcript_to_phones("READ HIM NOW", lexicon) == (None, ["HIM", "NOW"])
    (tmp_path / "bad.txt").write_text("A AH0\nWORD\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: lexicon entry 'WORD' has no phones"):
        read_lexicon(tmp_path / "bad.txt")
    with pytest.raises(FileNotFoundError, match="missing-lexicon.txt"):
        read_lexicon(tmp_path / "missing-lexicon.txt")
    # vocabulary file with stressed CMU phones collapses to the unstressed set
    (tmp_path / "phones.txt").write_text("AA0\nAA1\nAE1\nB\n")
    assert PhoneVocabulary.from_file(tmp_path / "phones.txt").symbols == [
        "<blank>", "AA", "AE", "B"]
    with pytest.raises(ValueError, match=r"phone 'ZZ' \(utt-1\) is not in the phone vocabulary"):
        vocab.encode(["AH", "ZZ"], where="utt-1")


def test_phone_labels_of_the_mini_corpus(tmp_path):
    expert = DownstreamExpert(4, 160, config(), str(tmp_path))
    assert len(expert.lexicon) == 55
    # espeak-ng mnemonics of tts-librispeech's lexicon are kept as they are
    assert expert.lexicon["HEATER"] == ["h", "i", "t#", "3"]
    _, labels, ids = next(iter(expert.get_dataloader("test")))
    assert ids == ["100-1000-0000", "100-1000-0001"]
    # FIVE OLD BIRDS
    assert expert.vocab.decode(labels[0].tolist()) == "f a I v o U l d b 3 d z"
    assert expert.oov_report["test"] == {"utterances": 2, "dropped": 0, "missing_words": []}


def test_missing_words_are_counted_and_dropped(tmp_path, caplog):
    lexicon = tmp_path / "lexicon.txt"
    lines = (MINI / "lexicon.txt").read_text().splitlines()
    lexicon.write_text("\n".join(ln for ln in lines if ln.split()[0] not in ("BIRDS", "TIMER")))
    expert = DownstreamExpert(4, 160, config(lexicon=lexicon), str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="s3prl.downstream.ctc.expert"):
        dataset = expert.dataset("train")
    # SET THE TIMER FOR EIGHT / FOUR MINUTES are dropped
    assert [u.utt_id for u in dataset.utterances] == ["114-1002-0000", "114-1002-0003"]
    assert expert.oov_report["train"] == {"utterances": 4, "dropped": 2,
                                          "missing_words": ["TIMER"]}
    assert "ctc train: dropped 2 of 4 utterances with words missing from the lexicon " \
           "(1 distinct words: TIMER)" in caplog.text
    assert len(expert.dataset("test")) == 1  # FIVE OLD BIRDS dropped
    lexicon.write_text("ZZZ\tz\n")
    expert = DownstreamExpert(4, 160, config(lexicon=lexicon), str(tmp_path))
    with pytest.raises(ValueError, match="every utterance has a word missing"):
        expert.dataset("dev")


def test_bad_layout_and_config_errors(tmp_path):
    root = tmp_path / "LibriSpeech"
    shutil.copytree(MINI, root)
    (root / "dev-clean/107/1001/107-1001.trans.txt").unlink()
    expert = DownstreamExpert(4, 160, config(root), str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"107/1001/107-1001\.trans\.txt"):
        expert.get_dataloader("dev")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        expert.get_dataloader("valid")
    with pytest.raises(FileNotFoundError, match="nolex.txt"):
        DownstreamExpert(4, 160, config(lexicon=tmp_path / "nolex.txt"), str(tmp_path))
    cfg = config()
    cfg["metric"] = ["wer"]
    with pytest.raises(ValueError, match="metric must be"):
        DownstreamExpert(4, 160, cfg, str(tmp_path))


def test_forward_records_and_best(tmp_path):
    torch.manual_seed(0)
    expert = DownstreamExpert(6, 160, config(), str(tmp_path))
    _, labels, ids = next(iter(expert.get_dataloader("dev")))
    features = torch.randn(2, 80, 6)
    features_len = torch.tensor([80, 50])
    records = collections.defaultdict(list)
    loss = expert("dev", features, features_len, labels, ids, records=records)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert expert.model.net[-1].weight.grad.abs().sum() > 0
    assert records["groundtruth"][0].split()[:4] == ["m", "u", "v", "e"]  # MOVE A ...
    logger = FakeLogger()
    assert expert.log_records("dev", records, logger, 1) == ["dev-best.ckpt"]
    assert logger.scalars["ctc/dev-per"] == per(records["groundtruth"], records["hypothesis"])
    assert expert.log_records("test", records, logger, 1) == []
    with torch.no_grad():
        pred = expert.predict(features, features_len)
    assert pred == records["hypothesis"]
    assert all(set(p.split()) <= set(expert.vocab.symbols[1:]) for p in pred)
