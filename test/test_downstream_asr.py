"""``asr`` task: LibriSpeech indexing, character vocabulary, CTC head, decoders, records.

Data: ``test/data/tts-librispeech-mini`` (8 synthetic utterances in the LibriSpeech layout).
"""

import collections
import itertools
import shutil
from pathlib import Path

import pytest
import torch

from s3prl.downstream.asr.dataset import CharVocabulary, read_librispeech
from s3prl.downstream.asr.decoder import BeamSearchDecoder, GreedyDecoder, build_decoder
from s3prl.downstream.asr.expert import DownstreamExpert
from s3prl.downstream.metrics import cer, wer

MINI = Path(__file__).parent / "data" / "tts-librispeech-mini"


class FakeLogger:
    def __init__(self):
        self.scalars = {}

    def add_scalar(self, tag, value, global_step=None):
        self.scalars[tag] = value


def small_config(root=MINI, **datarc):
    return {
        "datarc": {
            "libri_root": str(root), "train": ["train-clean-100"], "dev": ["dev-clean"],
            "test": ["test-clean"], "train_batch_size": 2, "eval_batch_size": 2,
            "num_workers": 0, "seed": 3, "zero_infinity": True,
            "decoder_args": {"decoder_type": "None"}, **datarc,
        },
        "modelrc": {
            "project_dim": 16, "select": "RNNs",
            "RNNs": {"module": "LSTM", "bidirection": True, "dim": [8, 8], "dropout": [0.0, 0.0],
                     "layer_norm": [False, True], "proj": [False, True],
                     "sample_rate": [1, 1], "sample_style": "concat", "total_rate": -1},
        },
    }


def test_read_librispeech_mini():
    utts = read_librispeech(MINI, ["train-clean-100", "dev-clean"])
    assert [u.utt_id for u in utts] == [
        "114-1002-0000", "114-1002-0001", "114-1002-0002", "114-1002-0003",
        "107-1001-0000", "107-1001-0001",
    ]
    assert utts[1].transcript == "SET THE TIMER FOR EIGHT MINUTES"
    assert utts[4].path == str(MINI / "dev-clean/107/1001/107-1001-0000.flac")


def _copy_mini(tmp_path):
    root = tmp_path / "LibriSpeech"
    shutil.copytree(MINI, root)
    return root


def test_bad_layouts_name_the_expected_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        read_librispeech(tmp_path / "nope", ["dev-clean"])
    root = _copy_mini(tmp_path)
    with pytest.raises(FileNotFoundError, match=str(root / "dev-other")):
        read_librispeech(root, ["dev-other"])
    (root / "dev-clean/107/1001/107-1001-0001.flac").unlink()
    with pytest.raises(FileNotFoundError, match=r"107-1001-0001\.flac \(listed in .*trans\.txt:2"):
        read_librispeech(root, ["dev-clean"])
    (root / "test-clean/100/1000/100-1000.trans.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"100/1000/100-1000\.trans\.txt"):
        read_librispeech(root, ["test-clean"])
    shutil.copyfile(root / "train-clean-100/114/1002/114-1002-0000.flac",
                    root / "train-clean-100/114/1002/114-1002-0009.flac")
    with pytest.raises(ValueError, match=r"114-1002-0009\.flac has no transcript line"):
        read_librispeech(root, ["train-clean-100"])
    # the expert surfaces the same errors from get_dataloader
    expert = DownstreamExpert(4, 160, small_config(root), str(tmp_path / "exp"))
    with pytest.raises(FileNotFoundError, match="100-1000.trans.txt"):
        expert.get_dataloader("test")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        expert.get_dataloader("valid")


def test_char_vocabulary(tmp_path):
    vocab = CharVocabulary()
    assert len(vocab) == 29 and vocab.blank == 0
    ids = vocab.encode("IT'S  A B")
    assert ids == [vocab.index[c] for c in "IT'S|A|B"]
    assert vocab.decode([0] + ids + [0]) == "IT'S A B"
    with pytest.raises(ValueError, match=r"character 'é' of transcript .*x\.flac"):
        vocab.encode("CAFé", where="x.flac")
    (tmp_path / "dict.ltr.txt").write_text("| 10\nA 5\nB 3\n")
    small = CharVocabulary.from_file(tmp_path / "dict.ltr.txt")
    assert small.symbols == ["<blank>", "|", "A", "B"]
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        CharVocabulary.from_file(tmp_path / "missing.txt")


def test_dataloader_order_is_seeded_and_labels_match(tmp_path):
    expert = DownstreamExpert(4, 160, small_config(), str(tmp_path))

    def order(epoch):
        return [i for _, _, ids in expert.get_dataloader("train", epoch) for i in ids]

    assert order(0) == order(0)
    # listing the batch sampler (the runner's mid-epoch resume) gives the iteration order
    loader = expert.get_dataloader("train", 2)
    listed = [[loader.dataset.utterances[i].utt_id for i in b] for b in loader.batch_sampler]
    assert [i for b in listed for i in b] == order(2)
    # starting an iterator leaves the global RNG (dropout's, restored on resume) untouched
    state = torch.get_rng_state()
    next(iter(expert.get_dataloader("train", 1)))
    assert torch.equal(state, torch.get_rng_state())
    assert sorted(order(0)) == sorted(order(1))
    assert [order(e) for e in range(4)] != [order(0)] * 4  # epochs reshuffle
    wavs, labels, ids = next(iter(expert.get_dataloader("dev")))
    assert ids == ["107-1001-0000", "107-1001-0001"]  # evaluation keeps index order
    assert wavs[0].dtype == torch.float32 and wavs[0].dim() == 1
    assert abs(wavs[0].numel() / 16000 - 2.656) < 1e-3
    assert expert.vocab.decode(labels[0].tolist()) == "MOVE A GLASS OF WATER IN THE BEDROOM"


def test_forward_loss_records_and_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    expert = DownstreamExpert(4, 160, small_config(), str(tmp_path))
    wavs, labels, ids = next(iter(expert.get_dataloader("dev")))
    features_len = torch.tensor([120, 90])
    features = torch.randn(2, 120, 4)
    features[1, 90:] = 0
    records = collections.defaultdict(list)
    loss = expert("dev", features, features_len, labels, ids, records=records)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert expert.projector.weight.grad.abs().sum() > 0
    assert records["groundtruth"] == ["MOVE A GLASS OF WATER IN THE BEDROOM",
                                      "CLOSE THE KITCHEN TABLE NEAR THE DOOR"]
    assert len(records["hypothesis"]) == 2 and records["utt_id"] == ids
    # padded frames do not change the result of the valid ones
    with torch.no_grad():
        expert.eval()
        alone = expert.predict(features[1:, :90], features_len[1:])
        batch = expert.predict(features, features_len)
    assert batch[1] == alone[0]

    logger = FakeLogger()
    save = expert.log_records("dev", records, logger, global_step=5)
    assert logger.scalars["asr/dev-wer"] == wer(records["groundtruth"], records["hypothesis"])
    assert logger.scalars["asr/dev-cer"] == cer(records["groundtruth"], records["hypothesis"])
    assert logger.scalars["asr/dev-loss"] == pytest.approx(loss.item())
    assert save == ["dev-best.ckpt"] and expert.best_score.item() == logger.scalars["asr/dev-wer"]
    assert expert.log_records("dev", records, logger, 6) == []  # no improvement
    assert "best_score" in expert.state_dict()
    assert (tmp_path / "dev-ref.txt").read_text().splitlines()[0] == (
        "107-1001-0000 MOVE A GLASS OF WATER IN THE BEDROOM")


def test_model_config_errors(tmp_path):
    cfg = small_config()
    cfg["modelrc"]["RNNs"]["dropout"] = [0.1]
    with pytest.raises(ValueError, match="dropout has 1 entries, dim has 2"):
        DownstreamExpert(4, 160, cfg, str(tmp_path))
    cfg = small_config()
    cfg["modelrc"]["RNNs"]["sample_rate"] = [2, 1]
    with pytest.raises(ValueError, match="down-sampling"):
        DownstreamExpert(4, 160, cfg, str(tmp_path))
    with pytest.raises(ValueError, match="decoder_type must be 'None'.*'beam' or 'kenlm'"):
        build_decoder({"decoder_type": "viterbi"}, 0, 1)


def _best_labeling(log_probs):
    """Most probable CTC label sequence by enumerating every frame path (blank = 0)."""
    frames, vocab = log_probs.shape
    total = collections.defaultdict(float)
    for path in itertools.product(range(vocab), repeat=frames):
        labels = tuple(t for i, t in enumerate(path) if t != 0 and (i == 0 or t != path[i - 1]))
        total[labels] += log_probs[range(frames), list(path)].sum().exp().item()
    return list(max(total, key=total.get))


def test_beam_search_finds_most_probable_labeling():
    pytest.importorskip("flashlight.lib.text")
    g = torch.Generator().manual_seed(0)
    greedy_misses = 0
    for _ in range(12):
        scores = torch.randn(6, 3, generator=g)
        # index 3 = word boundary, (almost) never emitted so it does not interfere
        lp = torch.cat([scores, torch.full((6, 1), -30.0)], 1).log_softmax(-1)
        expected = _best_labeling(lp[:, :3])
        assert BeamSearchDecoder(0, 3, beam=100)(lp[None], torch.tensor([6]))[0] == expected
        greedy_misses += GreedyDecoder(0)(lp[None], torch.tensor([6]))[0] != expected
    assert greedy_misses > 0  # the cases do tell beam search from best path


ARPA = """\\data\\
ngram 1=5
ngram 2=1

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-0.1\t</s>\t0
-0.05\tCAT\t0
-3.0\tCAB\t0

\\2-grams:
-0.05\t<s> CAT

\\end\\
"""


def test_kenlm_word_lm_decoding(tmp_path):
    """A word LM preferring CAT turns acoustically preferred CAB into CAT (two words here)."""
    pytest.importorskip("flashlight.lib.text")
    pytest.importorskip("kenlm")
    (tmp_path / "lm.arpa").write_text(ARPA)
    (tmp_path / "lexicon.lst").write_text("CAT\tC A T |\nCAB\tC A B |\nDOG\tD O G |\n")
    vocab = CharVocabulary()
    word = [{"C": 0.95}, {"A": 0.95}, {"B": 0.55, "T": 0.4}]
    frames = word + [{"|": 0.95}] + word
    probs = torch.full((len(frames), len(vocab)), 1e-4)
    for t, frame in enumerate(frames):
        for ch, p in frame.items():
            probs[t, vocab.index[ch]] = p
    lp = (probs / probs.sum(-1, keepdim=True)).log()[None]
    n = torch.tensor([len(frames)])
    assert vocab.decode(GreedyDecoder(0)(lp, n)[0]) == "CAB CAB"
    args = {"decoder_type": "kenlm", "kenlm_model": str(tmp_path / "lm.arpa"),
            "lexicon": str(tmp_path / "lexicon.lst"), "beam": 10, "word_score": 0.0,
            "unk_weight": "-math.inf", "sil_weight": 0}
    no_lm = build_decoder({**args, "lm_weight": 0.0}, 0, vocab.index["|"], vocab.symbols)
    assert vocab.decode(no_lm(lp, n)[0]) == "CAB CAB"
    with_lm = build_decoder({**args, "lm_weight": 2.0}, 0, vocab.index["|"], vocab.symbols)
    assert vocab.decode(with_lm(lp, n)[0]) == "CAT CAT"
    with pytest.raises(FileNotFoundError, match="kenlm_model file not found: .*missing.arpa"):
        build_decoder({**args, "kenlm_model": str(tmp_path / "missing.arpa")}, 0,
                      vocab.index["|"], vocab.symbols)
