"""Mockingjay / TERA / Audio ALBERT: released checkpoint layouts, an independent
reference computation, padding invariance, long-input chunking, goldens, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.baseline.features import FeatureExtractor
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import (
    CheckpointKeyError,
    UnsafeCheckpointError,
    load_checkpoint,
    to_plain,
)
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import audio_albert as albert_builders
from test.checkpoint_builders import mockingjay as mj
from test.checkpoint_builders import tera as tera_builders
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
)

ALL_BUILDERS = {**mj.BUILDERS, **tera_builders.BUILDERS, **albert_builders.BUILDERS}

MOCKINGJAY = [
    "mockingjay", "mockingjay_origin", "mockingjay_100hr", "mockingjay_960hr",
    "mockingjay_logMelBase_T_AdamW_b32_200k_100hr",
    "mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_drop1",
    "mockingjay_logMelBase_T_AdamW_b32_1m_960hr_seq3k",
]  # fmt: skip
TERA = [
    "tera", "tera_100hr", "tera_960hr",
    "tera_logMelBase_T_F_AdamW_b32_200k_100hr",
    "tera_logMelBase_T_F_M_AdamW_b32_200k_100hr",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_drop1",
    "tera_logMelBase_T_F_AdamW_b32_1m_960hr_seq3k",
    "tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1",
    "tera_fbankBase_T_F_AdamW_b32_200k_100hr",
]  # fmt: skip
ALBERT = [
    "audio_albert", "audio_albert_960hr",
    "audio_albert_logMelBase_T_share_AdamW_b32_1m_960hr_drop1",
]  # fmt: skip


# --------------------------------------------------------------------------- #
# independent reference: numpy position table + torch.nn.TransformerEncoderLayer
# --------------------------------------------------------------------------- #
def _np_position_table(length: int, dim: int) -> torch.Tensor:
    """The sinusoid table exactly as the paper/original formula, in numpy float64."""
    table = np.array(
        [[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(length)]
    )
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.from_numpy(table).float()


def _reference_layers(sd: dict, tcfg: dict) -> list[torch.nn.TransformerEncoderLayer]:
    h, pre = tcfg["hidden_size"], tcfg["pre_layer_norm"]
    layers = []
    for i in range(tcfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        layer = torch.nn.TransformerEncoderLayer(
            h, tcfg["num_attention_heads"], tcfg["intermediate_size"], dropout=0.0,
            activation="gelu", layer_norm_eps=tcfg["layer_norm_eps"], batch_first=True,
            norm_first=pre,
        )  # fmt: skip
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(
                torch.cat([sd[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            )
            layer.self_attn.in_proj_bias.copy_(
                torch.cat([sd[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            )
            layer.self_attn.out_proj.weight.copy_(sd[p + "attention.output.dense.weight"])
            layer.self_attn.out_proj.bias.copy_(sd[p + "attention.output.dense.bias"])
            layer.linear1.weight.copy_(sd[p + "intermediate.dense.weight"])
            layer.linear1.bias.copy_(sd[p + "intermediate.dense.bias"])
            layer.linear2.weight.copy_(sd[p + "output.dense.weight"])
            layer.linear2.bias.copy_(sd[p + "output.dense.bias"])
            layer.norm1.weight.copy_(sd[p + "attention.output.LayerNorm.weight"])
            layer.norm1.bias.copy_(sd[p + "attention.output.LayerNorm.bias"])
            layer.norm2.weight.copy_(sd[p + "output.LayerNorm.weight"])
            layer.norm2.bias.copy_(sd[p + "output.LayerNorm.bias"])
        layers.append(layer.eval())
    return layers


def reference_forward(ckpt_path: Path, wav: torch.Tensor) -> list[torch.Tensor]:
    """The original's computation for ONE unpadded wav, from the checkpoint file.

    Features: the shared baseline FeatureExtractor (its own tests check it
    against kaldi-native-fbank / librosa), after the original's dB scaling
    written out here. Model: ``torch.nn.TransformerEncoderLayer`` loaded with
    the checkpoint's weights; sequences longer than ``task.sequence_length``
    are cut with ``torch.chunk`` as the original does.
    """
    ck = to_plain(load_checkpoint(ckpt_path, extra_safe_globals=_schedule_globals()))
    if "Settings" in ck:  # 2019-2020 layout
        up = ck["Settings"]["Config"]
        audio, max_len = dict(up["online"]), up["transformer"]["max_input_length"]
        dr = up["transformer"]["downsample_rate"]
    else:
        up = ck["Config"] if "transformer" in ck.get("Config", {}) else ck["Upstream_Config"]
        audio, max_len, dr = dict(up["audio"]), up["task"]["sequence_length"], 1
    sd, tcfg = ck["Transformer"], up["transformer"]
    if "kaldi" in audio:
        ft = audio["kaldi"]["feat_type"]
        audio["kaldi"] = {"feat_type": ft, ft: audio["kaldi"][ft]}
    else:
        level = audio.pop("target_level")
        rms = wav.pow(2).mean().sqrt()
        wav = wav * (10 ** (level / 20)) / (rms + 1e-10)
    fx = FeatureExtractor(audio)
    feats, n = fx(wav[None], torch.tensor([wav.numel()]))
    feats = feats[0, : int(n[0])]
    t = feats.size(0)
    chunks = [feats] if max_len == 0 or t <= max_len else torch.chunk(feats, math.ceil(t / max_len), 0)
    layers = _reference_layers(sd, tcfg)
    outs = []
    with torch.no_grad():
        for c in chunks:
            if dr > 1:  # the legacy down_sample_frames
                keep = c.size(0) - c.size(0) % dr
                c = c[:keep].reshape(keep // dr, c.size(1) * dr)
            x = F.linear(c, sd["input_representations.spec_transform.weight"], sd["input_representations.spec_transform.bias"])
            x = x + _np_position_table(c.size(0), tcfg["hidden_size"])
            x = F.layer_norm(
                x, (x.size(-1),), sd["input_representations.LayerNorm.weight"],
                sd["input_representations.LayerNorm.bias"], tcfg["layer_norm_eps"],
            )  # fmt: skip
            states = [x]
            for layer in layers:
                x = layer(x[None])[0]
                states.append(x)
            if tcfg["pre_layer_norm"]:
                states = [
                    F.layer_norm(s, (s.size(-1),), sd[f"encoder.LayerNorm.{k}.weight"],
                                 sd[f"encoder.LayerNorm.{k}.bias"], tcfg["layer_norm_eps"])
                    for k, s in enumerate(states)
                ]  # fmt: skip
            outs.append(states)
    states = [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]
    if dr > 1:  # the legacy tile_representations + ReplicationPad1d
        left_over = t % dr
        pad = (left_over // 2, left_over - left_over // 2)
        tiled = [s[None].repeat(1, 1, dr).reshape(1, s.size(0) * dr, s.size(1)) for s in states]
        states = [F.pad(x.transpose(1, 2), pad, mode="replicate").transpose(1, 2)[0] for x in tiled]
    return states


def _schedule_globals():
    from s3prl.upstream.mockingjay.layout import SCHEDULE_STAND_INS

    return SCHEDULE_STAND_INS


def _max_diff_vs_reference(model, path, wavs) -> float:
    worst = 0.0
    with torch.no_grad():
        out = model(wavs)
    for i, wav in enumerate(wavs):
        ref = reference_forward(path, wav)
        n = int(out["hidden_states_len"][i])
        assert n == ref[0].size(0)
        assert len(ref) == len(out["hidden_states"])
        for k, (h, r) in enumerate(zip(out["hidden_states"], ref)):
            d = (h[i, :n] - r).abs().max().item()
            assert d <= 1e-4, f"wav {i} layer {k}: max abs diff vs reference {d:.3g}"
            worst = max(worst, d)
    return worst


# --------------------------------------------------------------------------- #
def test_entries_listed_with_facts():
    names = set(hub.options())
    for family in ("mockingjay", "tera", "audio_albert"):
        assert {f"{family}_local", f"{family}_url"} <= names
    for name in MOCKINGJAY + TERA + ALBERT:
        assert name in names
        info = getattr(hub, name).info
        assert info.stride == 160 and info.hidden_size == 768
        assert info.ckpt.startswith("https://")
        assert info.layers == (13 if "Large" in info.model or name in ("mockingjay", "mockingjay_origin") else 4)
    assert hub.tera_fbankBase_T_F_AdamW_b32_200k_100hr.info.input == "fbank"
    assert hub.tera.info.ckpt == hub.tera_logMelBase_T_F_M_AdamW_b32_1m_960hr_drop1.info.ckpt
    assert hub.mockingjay.info.ckpt == hub.mockingjay_logMelLinearLarge_T_AdamW_b32_500k_360hr_drop1.info.ckpt
    assert "huggingface.co/s3prl/audio_albert" in hub.audio_albert.info.ckpt


CASES = {
    # name: (entry, audio, build kwargs, frames(samples))
    "mockingjay_config_mel": ("mockingjay_local", mj.MEL_LINEAR_AUDIO, dict(layout="config"), lambda s: 1 + s // 160),
    "tera_upstream_config_mel": ("tera_local", mj.MEL_AUDIO, dict(layout="upstream_config"), lambda s: 1 + s // 160),
    "tera_config_fbank": ("tera_local", mj.FBANK_AUDIO, dict(layout="config"), lambda s: 1 + (s - 400) // 160),
    "audio_albert_shared": ("audio_albert_local", mj.MEL_AUDIO, dict(layers=3, share_layer=True), lambda s: 1 + s // 160),
    "pre_layer_norm": ("mockingjay_local", mj.MEL_AUDIO, dict(pre_layer_norm=True), lambda s: 1 + s // 160),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_layout_loads_and_matches_reference(case, tmp_path):
    entry, audio, kw, frames = CASES[case]
    path = mj.build_checkpoint(tmp_path / "states-1.ckpt", audio, seed=5, **kw)
    model = hub.load(entry, ckpt=str(path))
    layers = kw.get("layers", mj.LAYERS)
    assert model.num_layers == layers + 1 and model.hidden_sizes == [mj.HIDDEN] * (layers + 1)
    assert model.downsample_rate == 160
    wavs = mixed_length_wavs(seed=1, seconds=(0.31, 1.7))
    out = model(wavs)
    assert out["hidden_states_len"].tolist() == [frames(w.numel()) for w in wavs]
    assert all(h.shape == (2, frames(wavs[1].numel()), mj.HIDDEN) for h in out["hidden_states"])
    worst = _max_diff_vs_reference(model, path, wavs)
    assert worst <= 1e-4
    # the layers really differ from each other (no silently skipped weights)
    hs = out["hidden_states"]
    assert all((hs[k] - hs[k + 1]).abs().max() > 1e-2 for k in range(len(hs) - 1))


def test_shared_layers_are_one_module(tmp_path):
    path = mj.build_checkpoint(tmp_path / "a.ckpt", mj.MEL_AUDIO, layers=3, share_layer=True)
    model = hub.audio_albert_local(str(path))
    layers = model.model.encoder.layer
    assert layers[0] is layers[1] is layers[2]
    n_params = sum(p.numel() for p in model.parameters())
    unshared = hub.mockingjay_local(str(mj.build_checkpoint(tmp_path / "b.ckpt", mj.MEL_AUDIO, layers=3)))
    assert n_params < sum(p.numel() for p in unshared.parameters())


@pytest.mark.parametrize("golden", sorted(ALL_BUILDERS))
def test_padding_invariance(golden, tmp_path):
    entry, path = ALL_BUILDERS[golden](tmp_path)
    model = hub.load(entry, ckpt=str(path))
    model.max_padding_waste = None  # one padded batch: the hard case
    worst = assert_padding_invariant(model, mixed_length_wavs(seconds=(0.5, 4.0, 2.2)))
    assert worst <= 1e-4


def test_long_inputs_are_chunked_like_the_original(tmp_path):
    """sequence_length 120 frames: a 3 s wav (301 frames) runs as 3 chunks of
    101/101/99 frames (torch.chunk sizes), positions restarting in each."""
    from s3prl.upstream.mockingjay.expert import split_into_chunks

    assert split_into_chunks(451, 120) == [(0, 113), (113, 113), (226, 113), (339, 112)]
    assert split_into_chunks(120, 120) == [(0, 120)]
    assert split_into_chunks(3001, 1500) == [(0, 1001), (1001, 1001), (2002, 999)]
    assert split_into_chunks(5000, 0) == [(0, 5000)]
    for t in (1, 7, 119, 121, 451, 1000):
        pieces = split_into_chunks(t, 120)
        assert [len(c) for c in torch.chunk(torch.zeros(t), math.ceil(t / 120))] == [n for _, n in pieces]

    path = mj.build_checkpoint(tmp_path / "s.ckpt", mj.MEL_AUDIO, sequence_length=120, seed=9)
    model = hub.tera_local(str(path))
    assert model.max_input_length == 120
    wavs = mixed_length_wavs(seed=2, seconds=(3.0, 0.6, 1.3))
    assert _max_diff_vs_reference(model, path, wavs) <= 1e-4
    model.max_padding_waste = None
    assert assert_padding_invariant(model, wavs) <= 1e-4
    # chunk boundaries are visible: unchunked results differ there
    whole = hub.tera_local(str(mj.build_checkpoint(tmp_path / "w.ckpt", mj.MEL_AUDIO, sequence_length=0, seed=9)))
    with torch.no_grad():
        a = model([wavs[0]])["hidden_states"][-1]
        b = whole([wavs[0]])["hidden_states"][-1]
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("golden", sorted(ALL_BUILDERS))
def test_golden_hidden_states(golden, tmp_path):
    entry, path = ALL_BUILDERS[golden](tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))


def test_url_entries_through_local_server(tmp_path):
    from test.http_server import serve_directory

    files = tmp_path / "files"
    p_tera = mj.build_checkpoint(files / "tera" / "states-1000000.ckpt", mj.MEL_AUDIO, seed=3)
    p_mj = mj.build_checkpoint(files / "mj" / "states-500000.ckpt", mj.MEL_LINEAR_AUDIO, seed=4)
    p_al = mj.build_checkpoint(files / "al" / "states-1000000.ckpt", mj.MEL_AUDIO, seed=5, share_layer=True)
    wav = mixed_length_wavs(seed=6, seconds=(0.9,))
    with serve_directory(files) as server:
        models = [
            (hub.tera_url(server.url + "tera/states-1000000.ckpt"), p_tera, hub.tera_local),
            (hub.mockingjay_url(server.url + "mj/states-500000.ckpt"), p_mj, hub.mockingjay_local),
            (hub.audio_albert_url(server.url + "al/states-1000000.ckpt"), p_al, hub.audio_albert_local),
            # a named entry given a URL instead of its official one
            (hub.tera_960hr(ckpt=server.url + "tera/states-1000000.ckpt"), p_tera, hub.tera_local),
        ]
        assert server.requests["/tera/states-1000000.ckpt"] == 1  # second call: cache hit
    for model, path, local in models:
        assert_same_hidden_states(model, local(str(path)), wav)


# --------------------------------------------------------------------------- #
# errors
# --------------------------------------------------------------------------- #
def _rewrite(path: Path, edit) -> Path:
    ck = load_checkpoint(path, extra_safe_globals=_schedule_globals())
    edit(ck)
    ck.pop("Optimizer", None)  # keep the rewrite free of the toolkit's globals
    torch.save(ck, path)
    return path


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda ck: ck["Transformer"].pop("encoder.layer.1.output.dense.bias"), r"c.ckpt does not match its 'transformer' config .*: missing keys \['encoder.layer.1.output.dense.bias'\]"),
        (lambda ck: ck["Transformer"].__setitem__("encoder.layer.2.output.dense.bias", torch.zeros(32)), r"unexpected keys \['encoder.layer.2.output.dense.bias'\]"),
        (lambda ck: ck["Transformer"].__setitem__("encoder.layer.0.output.dense.bias", torch.zeros(32, dtype=torch.long)), r"c.ckpt: .*encoder.layer.0.output.dense.bias has dtype torch.int64"),
        (lambda ck: ck.pop("Transformer"), r"missing top-level key\(s\) \['Transformer'\]"),
        (lambda ck: ck["Config"].pop("task"), "task.sequence_length"),
        (lambda ck: ck["Config"].pop("audio"), "pre-extracted features"),
        (lambda ck: ck["Config"]["transformer"].pop("num_attention_heads"), r"lacks the key\(s\) \['num_attention_heads'\]"),
        (lambda ck: ck["Config"]["audio"]["input"].__setitem__("feat_type", "mfcc"), "bad audio"),
        (lambda ck: ck["Config"]["audio"].__setitem__("n_mels", 40), r"spec_transform.weight has shape \(32, 80\)"),
        (lambda ck: ck["Transformer"].__setitem__("encoder.layer.0.intermediate.dense.bias", torch.zeros(3)), r"intermediate.dense.bias: checkpoint \(3,\) vs model \(64,\)"),
        (lambda ck: ck.__setitem__("Config", {"nothing": 1}), "not a Mockingjay/TERA/Audio ALBERT checkpoint"),
    ],
)  # fmt: skip
def test_bad_checkpoints_are_named_errors(edit, words, tmp_path):
    path = _rewrite(mj.build_checkpoint(tmp_path / "c.ckpt", mj.MEL_AUDIO), edit)
    with pytest.raises(ValueError, match=words):
        hub.tera_local(str(path))


def test_non_weight_top_level_entries_are_logged_not_refused(tmp_path, caplog):
    """A legacy Mockingjay file with ``Global_Step`` (and other runner bookkeeping) loads: the
    entries are logged once; the weights stay strict."""
    ref = mj.build_checkpoint(tmp_path / "ref.ckpt", mj.MEL_AUDIO, layout="settings", seed=3)
    path = mj.build_checkpoint(tmp_path / "legacy.ckpt", mj.MEL_AUDIO, layout="settings", seed=3)

    def edit(ck):
        ck["Global_Step"] = ck.pop("Global_step")
        ck["Runner"] = {"total_steps": 500000}
        ck["Settings"]["Global_Step"] = 500000

    _rewrite(path, edit)
    with caplog.at_level("INFO", logger="s3prl.util.checkpoint"):
        model = hub.mockingjay_local(str(path))
        hub.mockingjay_local(str(path))
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        f"checkpoint {path}: ignoring non-weight entries ['Global_Step', 'Runner', 'SpecHead']",
        f"checkpoint {path}: ignoring entries of 'Settings' ['Global_Step']",
    ]
    assert_same_hidden_states(model, hub.mockingjay_local(str(ref)), mixed_length_wavs(seed=2, seconds=(0.5,)))
    _rewrite(path, lambda ck: ck["Transformer"].pop("encoder.layer.0.output.dense.bias"))
    with pytest.raises(CheckpointKeyError, match=r"missing keys \['encoder.layer.0.output.dense.bias'\]"):
        hub.mockingjay_local(str(path))


def test_shared_layer_copies_must_agree(tmp_path):
    path = mj.build_checkpoint(tmp_path / "c.ckpt", mj.MEL_AUDIO, layers=3, share_layer=True)

    def edit(ck):
        sd = ck["Transformer"]
        sd["encoder.layer.2.attention.self.key.bias"] = sd["encoder.layer.2.attention.self.key.bias"] + 1

    _rewrite(path, edit)
    with pytest.raises(ValueError, match="share_layer is set but 'encoder.layer.2.attention.self.key.bias'"):
        hub.audio_albert_local(str(path))


@pytest.mark.parametrize("dr, max_len", [(1, 0), (3, 0), (3, 70), (2, 45)])
def test_legacy_settings_layout(dr, max_len, tmp_path):
    """2019-2020 layout ``Settings: {Config, Paras}`` with the ``online`` STFT
    config, frame stacking ``downsample_rate`` and ``max_input_length``."""
    path = mj.build_checkpoint(
        tmp_path / "l.ckpt", mj.MEL_AUDIO, layout="settings", downsample_rate=dr,
        sequence_length=max_len, seed=13,
    )  # fmt: skip
    model = hub.mockingjay_local(str(path))
    assert model.layout == "settings" and model.stack == dr and model.max_input_length == max_len
    assert model.downsample_rate == 160
    wavs = mixed_length_wavs(seed=7, seconds=(0.99, 1.31, 0.29))
    out = model(wavs)
    # the tiled output keeps the 10 ms frames (all of them when no chunk is cut)
    if max_len == 0:
        assert out["hidden_states_len"].tolist() == [1 + w.numel() // 160 for w in wavs]
    if (dr, max_len) == (3, 70):  # 100 frames -> chunks of 50 + 50 -> 16 + 16 stacked
        assert out["hidden_states_len"][0] == 3 * 32 + 100 % 3
    assert _max_diff_vs_reference(model, path, wavs) <= 1e-4
    model.max_padding_waste = None
    assert assert_padding_invariant(model, wavs) <= 1e-4
    if dr > 1:  # frames come in runs of `dr` identical vectors
        n = int(out["hidden_states_len"][0])
        h = out["hidden_states"][-1][0, :n]
        left = (n % dr) // 2
        assert torch.equal(h[left], h[left + dr - 1]) and not torch.equal(h[left], h[left + dr])


def test_legacy_settings_without_online_features(tmp_path):
    path = mj.build_checkpoint(tmp_path / "l.ckpt", mj.MEL_AUDIO, layout="settings")
    ck = load_checkpoint(path)
    del ck["Settings"]["Config"]["online"]
    torch.save(ck, path)
    with pytest.raises(ValueError, match="pre-extracted features"):
        hub.mockingjay_local(str(path))


def test_unknown_pickled_class_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    ck = load_checkpoint(mj.build_checkpoint(tmp_path / "c.ckpt", mj.MEL_AUDIO), extra_safe_globals=_schedule_globals())
    ck["Args"] = Evil()
    ck.pop("Optimizer")
    torch.save(ck, path)
    with pytest.raises(UnsafeCheckpointError, match="print"):
        hub.tera_local(str(path))


def test_local_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        hub.mockingjay_local(str(tmp_path / "nothing.ckpt"))
    with pytest.raises(FileNotFoundError):
        hub.audio_albert_local(str(tmp_path / "nothing.ckpt"))


def test_short_wav_error(tmp_path):
    fbank = hub.tera_local(str(mj.build_checkpoint(tmp_path / "f.ckpt", mj.FBANK_AUDIO)))
    mel = hub.tera_local(str(mj.build_checkpoint(tmp_path / "m.ckpt", mj.MEL_AUDIO)))
    assert fbank.receptive_field == 400 and mel.receptive_field == 201
    with pytest.raises(ValueError, match="wav 1 has 300 samples"):
        fbank([torch.zeros(800), torch.zeros(300)])
    out = mel([torch.zeros(201)])  # silence: the level scaling must not produce NaN
    assert out["hidden_states_len"].tolist() == [2]
    assert all(torch.isfinite(h).all() for h in out["hidden_states"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "entry, audio, kw",
    [
        ("mockingjay_origin", mj.MEL_LINEAR_AUDIO, dict(layers=12, sequence_length=500)),
        ("tera_fbankBase_T_F_AdamW_b32_200k_100hr", mj.FBANK_AUDIO, dict(layers=3)),
        ("audio_albert", mj.MEL_AUDIO, dict(layers=3, share_layer=True)),
    ],
)
def test_full_size_checkpoints(entry, audio, kw, tmp_path):
    """Full-size configs (768 hidden, 12 heads, 3072 FFN; Large: 12 layers, 500-frame
    chunks): the registry facts, a 12 s wav chunked, padding invariance."""
    path = mj.build_checkpoint(
        tmp_path / "full.ckpt", audio, hidden=768, heads=12, inter=3072, seed=17, **kw
    )
    model = hub.load(entry, ckpt=str(path))
    info = getattr(hub, entry).info
    assert model.num_layers == info.layers and model.hidden_sizes[-1] == info.hidden_size
    assert model.downsample_rate == info.stride == 160
    wavs = mixed_length_wavs(seed=3, seconds=(0.5, 12.0, 3.0))
    model.max_padding_waste = None
    assert assert_padding_invariant(model, wavs) <= 1e-4
    assert _max_diff_vs_reference(model, path, wavs[1:2]) <= 1e-4
