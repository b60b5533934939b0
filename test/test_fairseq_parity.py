"""Parity against fairseq itself (``fairseq-fixed`` 0.12.3.1), not against a re-statement.

fairseq is not a dependency of this package (nor of its ``test`` extra): it is installed in a
test-only virtual environment that shares torch with the system (see ``tox.ini``, env
``fairseq``)::

    python -m venv --system-site-packages /tmp/fsq-venv
    /tmp/fsq-venv/bin/pip install -c constraints.txt cython wheel hydra-core==1.3.2 bitarray \
        sacrebleu regex cffi
    /tmp/fsq-venv/bin/pip install --no-build-isolation --no-deps fairseq-fixed==0.12.3.1
    /tmp/fsq-venv/bin/python test/fairseq_main_overlay.py /path/to/fairseq-main  # MR-HuBERT
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /tmp/fsq-venv/bin/python -m pytest -m slow \
        test/test_fairseq_parity.py

(``--no-deps``: fairseq-fixed asks for torchaudio, which is not needed by the code paths used
here; ``--no-build-isolation``: otherwise pip pulls a second torch into the build env.) The
tests are ``slow`` and skip, naming the reason, when fairseq does not import.

Covered: RoBERTa over vq-wav2vec k-means codes (``vq_wav2vec_kmeans_roberta`` /
``discretebert``), with fairseq's own ``Wav2VecModel`` (k-means codes), ``Dictionary``
(``encode_line``) and ``RobertaModel`` (built from the checkpoint's ``model_cfg`` Namespace and
``text_dictionary``, as s3prl 0.4.18's ``upstream/roberta/convert.py`` does).

MR-HuBERT: fairseq-fixed 0.12.3.1 ships no ``multires_hubert`` model. Its class is in fairseq
``main`` only (``fairseq/models/multires_hubert/``, ``fairseq/tasks/multires_hubert_pretraining.py``,
and ``fairseq/models/wav2vec/wav2vec2.py`` whose ``TransformerEncoder`` gained
``skip_pos_conv`` / ``override_encoder_layer``; that is its only difference from 0.12.3.1's).
Those files of fairseq ``main`` (commit 3d262bb, checked; ``test/fairseq_main_overlay.py``) are laid over the venv's
fairseq (``tox.ini`` env ``fairseq``); without them the MR-HuBERT test skips, saying so.
"""


from __future__ import annotations

import copy
import dataclasses
import importlib.util
import os
import tempfile

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.util.audio import load_audio, sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from test.checkpoint_builders import multires_hubert as M
from test.checkpoint_builders import roberta as R
from test.utils import mixed_length_wavs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("fairseq") is None,
                       reason="fairseq (fairseq-fixed 0.12.3.1) is not importable: run in the test-only "
                              "venv described in this module's docstring / tox -e fairseq"),
]


def fairseq_roberta(path):
    """fairseq's ``RobertaModel`` + ``Dictionary`` from the converted checkpoint (the steps of
    s3prl 0.4.18 ``load_converted_model``, done with fairseq's classes)."""
    from fairseq.data import Dictionary
    from fairseq.models.roberta.model import RobertaEncoder, RobertaModel, base_architecture

    ckpt = load_checkpoint(path)
    with tempfile.TemporaryDirectory() as tmp:
        dict_path = os.path.join(tmp, "dict.txt")
        with open(dict_path, "w") as f:
            f.write(ckpt["text_dictionary"])
        dictionary = Dictionary.load(dict_path)
    dictionary.add_symbol("<mask>")
    args = copy.deepcopy(ckpt["model_cfg"])
    base_architecture(args)  # fairseq's defaults for the fields a 0.9-era Namespace lacks
    model = RobertaModel(args, RobertaEncoder(args, dictionary))
    model.load_state_dict(ckpt["model_weight"])  # fairseq upgrades decoder.* / emb_layer_norm
    return model.eval(), dictionary


def fairseq_vq_wav2vec(path):
    from fairseq.models.wav2vec import Wav2VecModel

    ckpt = load_checkpoint(path)
    model = Wav2VecModel.build_model(ckpt["args"], None)
    model.load_state_dict(ckpt["model"])
    return model.eval()


def fairseq_hidden_states(vq, roberta, dictionary, wavs):
    """Every hidden state per wav (``(frames, dim)``, ``<s>``/``</s>`` outputs dropped): codes
    per unpadded wav (fairseq's conv stack has no padding mask), then one padded token batch
    through RoBERTa in chunks of ``max_positions`` (s3prl 0.4.18 ``UpstreamExpert.forward``)."""
    lines = []
    with torch.no_grad():
        for wav in wavs:
            _, idx = vq.vector_quantizer.forward_idx(vq.feature_extractor(wav[None]))
            idx = idx[0]  # (T, groups) k-means codeword indices
            lines.append("<s> " + " ".join("-".join(map(str, i.tolist())) for i in idx) + " </s>")
    tokens = [dictionary.encode_line(s, append_eos=False, add_if_not_exist=False).long() for s in lines]
    lens = [len(t) for t in tokens]
    batch = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=dictionary.pad())
    chunks = []
    with torch.no_grad():
        for s in range(0, batch.size(1), roberta.max_positions()):
            _, extra = roberta(batch[:, s: s + roberta.max_positions()], features_only=True, return_all_hiddens=True)
            chunks.append([h.transpose(0, 1) for h in extra["inner_states"]])
    layers = [torch.cat(parts, dim=1) for parts in zip(*chunks)]
    return [[h[b, 1: n - 1] for h in layers] for b, n in enumerate(lens)], tokens


def test_roberta_every_hidden_state_matches_fairseq(tmp_path):
    entry, path = R.build_roberta(tmp_path)
    vq_path = path.parent / "vq-wav2vec_kmeans.pt"
    ours = hub.load(entry, ckpt=str(path))
    roberta, dictionary = fairseq_roberta(path)
    vq = fairseq_vq_wav2vec(vq_path)
    # 1.2 s: 117 codes + <s>, </s> -> two chunks of 64 tokens; the others pad the second chunk
    wavs = mixed_length_wavs(seed=51, seconds=(1.2, 0.3, 0.75)) + [load_audio(p) for p in sample_speech_files()]
    ref, ref_tokens = fairseq_hidden_states(vq, roberta, dictionary, wavs)
    with torch.no_grad():
        out = ours(wavs)
        our_tokens, _ = ours.tokens(*_padded(wavs))
    assert len(out["hidden_states"]) == R.LAYERS + 1 == len(ref[0])
    worst = 0.0
    for b, states in enumerate(ref):
        n = int(out["hidden_states_len"][b])
        assert n == states[0].size(0), f"wav {b}: {n} frames, fairseq {states[0].size(0)}"
        assert torch.equal(our_tokens[b, : n + 2], ref_tokens[b]), f"wav {b}: tokens differ from fairseq's"
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], states)))
        assert all(not h[b, n:].any() for h in out["hidden_states"])  # zeroed padded frames
    known = set(torch.cat(ref_tokens).tolist()) - {dictionary.bos(), dictionary.eos(), dictionary.unk()}
    assert len(known) >= 5, known  # the codes hit several dictionary symbols, not only <unk>
    assert worst <= 1e-4, worst
    print(f"RoBERTa vs fairseq: worst |diff| {worst:.2e} over {len(wavs)} wavs, {len(known)} symbols")


def test_fairseq_roberta_padding_invariance_of_the_reference(tmp_path):
    """fairseq's RoBERTa itself is padding-invariant on valid tokens (key padding mask, positions
    skip pads): a wav alone vs. in the padded batch. Its vq-wav2vec conv stack has no padding
    mask, which is why the reference computes codes per unpadded wav."""
    _, path = R.build_roberta(tmp_path)
    roberta, dictionary = fairseq_roberta(path)
    vq = fairseq_vq_wav2vec(path.parent / "vq-wav2vec_kmeans.pt")
    wavs = mixed_length_wavs(seed=52, seconds=(0.4, 1.0))
    batch, _ = fairseq_hidden_states(vq, roberta, dictionary, wavs)
    alone, _ = fairseq_hidden_states(vq, roberta, dictionary, wavs[:1])
    assert max((a - b).abs().max().item() for a, b in zip(batch[0], alone[0])) <= 1e-5


def _padded(wavs):
    lens = torch.tensor([len(w) for w in wavs])
    return torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True), lens


def _fairseq_mr_hubert_reason():
    try:
        import inspect

        from fairseq.models.multires_hubert.multires_hubert import MultiresHubertModel  # noqa: F401
        from fairseq.models.wav2vec.wav2vec2 import TransformerEncoder
    except ImportError as err:
        return f"fairseq has no MR-HuBERT model (fairseq main's files not laid over fairseq-fixed): {err}"
    if "skip_pos_conv" not in inspect.signature(TransformerEncoder.__init__).parameters:
        return "fairseq's TransformerEncoder lacks skip_pos_conv (fairseq main's wav2vec2.py not laid over)"
    return None


def fairseq_mr_hubert(path, s3prl_upsampler_order=False):
    """fairseq main's ``MultiresHubertModel`` from the converted checkpoint (s3prl 0.4.18
    ``upstream/multires_hubert/convert.py`` ``load_converted_model``), with s3prl 0.4.18's hooks
    (``expert.py``): every layer's input and every block's output, ``repeat_interleave`` to the
    base rate, cut to the shortest. Returns ``(model, run)``; ``run(wav)`` -> hidden states.

    ``s3prl_upsampler_order``: fairseq main's decoder ``i`` uses ``upsample_modules[R-2-i]``
    (R resolutions), s3prl 0.4.18's ``hubert_model.py`` (which this package follows) uses
    ``upsample_modules[i]``; the same for R = 2 (every released MR-HuBERT), not for R >= 3.
    True reverses fairseq's list so that it indexes as s3prl does."""
    from fairseq.dataclass.utils import merge_with_parent
    from fairseq.models.multires_hubert.multires_hubert import (
        MultiresHubertConfig,
        MultiresHubertModel,
    )
    from fairseq.tasks.multires_hubert_pretraining import MultiresHubertPretrainingConfig
    from omegaconf import OmegaConf

    def strict(cls, cfg):
        # the test builders write exactly the dataclasses' fields: merge_with_parent refuses
        # any other key, and every field is compared with the dataclass's type
        names = {f.name for f in dataclasses.fields(cls)}
        assert set(cfg) == names, (cls.__name__, sorted(set(cfg) - names), sorted(names - set(cfg)))
        return merge_with_parent(cls, OmegaConf.create(dict(cfg)))

    ckpt = load_checkpoint(path)
    if "cfg" in ckpt:  # fairseq's own layout: what s3prl 0.4.18's convert.py reads
        ckpt = {"task_cfg": ckpt["cfg"]["task"], "model_cfg": ckpt["cfg"]["model"], "model_weight": ckpt["model"],
                "dictionaries_symbols": [d.symbols for d in ckpt["task_state"]["dictionaries"]]}
    task_cfg = strict(MultiresHubertPretrainingConfig, ckpt["task_cfg"])
    model = MultiresHubertModel(strict(MultiresHubertConfig, ckpt["model_cfg"]), task_cfg, ckpt["dictionaries_symbols"])
    model.load_state_dict(ckpt["model_weight"])
    model.eval()
    if s3prl_upsampler_order:
        model.upsample_modules = torch.nn.ModuleList(list(model.upsample_modules)[::-1])
    captured, factors = [], []
    res = model.label_nums
    lcm = np.lcm.reduce(model.feature_ds_rates)
    up = [lcm // r for r in model.feature_ds_rates][::-1]

    def hook(module, factor, layer_input):
        factors.append(factor)
        if layer_input:
            module.register_forward_hook(lambda m, i, o: captured.append(i[0].transpose(0, 1)))
        else:
            module.register_forward_hook(lambda m, i, o: captured.append(o[0]))

    blocks = ([(model.encoders[i], up[i]) for i in range(res - 1)] + [(model.middle_encoder, up[res - 1])]
              + [(model.decoders[i], up[::-1][1:][i]) for i in range(res - 1)])
    for block, factor in blocks:
        for layer in block.layers:
            hook(layer, factor, True)
        hook(block, factor, False)

    def run(wavs, lengths=None):
        captured.clear()
        pad = torch.zeros(wavs.shape, dtype=torch.bool)
        if lengths is not None:
            pad = torch.arange(wavs.size(1))[None] >= lengths[:, None]
        if task_cfg.normalize:
            raise NotImplementedError("normalize=True checkpoints: not built by the test builders")
        with torch.no_grad():
            model.extract_features(wavs, padding_mask=pad, mask=False)
        states = [h.repeat_interleave(f, dim=1) for h, f in zip(captured, factors)]
        n = min(h.size(1) for h in states)
        return [h[:, :n] for h in states]

    return model, run


@pytest.mark.parametrize("build", [M.build_base, M.build_base_fairseq, M.build_three_resolutions_plain])
def test_mr_hubert_every_hidden_state_matches_fairseq(tmp_path, build):
    """Two resolutions (as every released checkpoint): fairseq main as it is. Three: fairseq
    main with s3prl 0.4.18's upsampler order (see :func:`fairseq_mr_hubert`); as it is, fairseq
    main differs from the decoders on (checked below)."""
    reason = _fairseq_mr_hubert_reason()
    if reason:
        pytest.skip(reason)
    entry, path = build(tmp_path)
    ours = hub.load(entry, ckpt=str(path))
    three = build is M.build_three_resolutions_plain
    _, run = fairseq_mr_hubert(path, s3prl_upsampler_order=three)
    wavs = mixed_length_wavs(seed=53, seconds=(1.0, 0.55, 0.8, 0.33)) + [load_audio(p) for p in sample_speech_files()]
    with torch.no_grad():
        out = ours(wavs)
    worst = 0.0
    for b, wav in enumerate(wavs):
        ref = [h[0] for h in run(wav[None])]  # fairseq on the wav alone (see below)
        n = int(out["hidden_states_len"][b])
        assert len(ref) == len(out["hidden_states"]) and n == ref[0].size(0), (b, n, ref[0].shape)
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], ref)))
        assert all(not h[b, n:].any() for h in out["hidden_states"])  # zeroed padded frames
    assert worst <= 1e-4, worst
    if three:  # fairseq main's own upsampler order: the encoders and middle block agree, not the decoders
        fs_main, run_main = fairseq_mr_hubert(path)
        main = run_main(wavs[0][None])
        n = int(out["hidden_states_len"][0])
        diffs = [(h[0, :n] - r[0, :n]).abs().max().item() for h, r in zip(out["hidden_states"], main)]
        middle = sum(len(b.layers) + 1 for b in [*fs_main.encoders, fs_main.middle_encoder])  # states before decoders
        assert max(diffs[:middle]) <= 1e-4 and min(diffs[middle:]) > 1e-2, diffs
    # fairseq itself on the padded batch is not padding-invariant (its adapters' convolutions and
    # GroupNorm(1) read padded frames): the shortest wav's states move; measured, not asserted
    padded = torch.nn.utils.rnn.pad_sequence(wavs[:4], batch_first=True)
    batch = run(padded, torch.tensor([len(w) for w in wavs[:4]]))
    n = int(out["hidden_states_len"][3])
    drift = max((h[3, :n] - r[0]).abs().max().item() for h, r in zip(batch, run(wavs[3][None])))
    print(f"MR-HuBERT ({path.name}) vs fairseq: worst |diff| {worst:.2e}; fairseq padded-batch drift {drift:.2e}")
