"""wav2vec 2.0 / XLS-R, HuBERT and data2vec upstreams (shared architecture in
``s3prl/upstream/wav2vec2/modules.py``).

* parity: reduced-size checkpoints in the official fairseq layouts (seeded random
  weights, perturbed norms/biases) loaded through our ``<family>_local`` entries vs
  ``transformers``' models given the same weights: every hidden state <= 1e-4 (fp32);
* padding invariance for every family, group-norm base models included;
* golden hidden states on the bundled speech; every on-disk layout; errors.
"""

from __future__ import annotations

import argparse
import re

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.wav2vec2.loading import parse_conv_layers, read_fairseq_checkpoint
from s3prl.upstream.wav2vec2.modules import normalize_waveforms
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import UnsafeCheckpointError, load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import data2vec as D
from test.checkpoint_builders import hubert as H
from test.checkpoint_builders import wav2vec2 as W
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    mixed_length_wavs,
    needs,
)

torch.set_num_threads(min(2, torch.get_num_threads()))

# name -> (builder, entry, transformers class name, transformers config overrides, normalize)
_COMMON = dict(
    hidden_size=W.DIM, num_hidden_layers=W.LAYERS, num_attention_heads=W.HEADS, intermediate_size=W.FFN,
    conv_dim=[c for c, _, _ in W.CONV], conv_kernel=[k for _, k, _ in W.CONV],
    conv_stride=[s for _, _, s in W.CONV], num_conv_pos_embeddings=W.CONV_POS,
    num_conv_pos_embedding_groups=W.CONV_POS_GROUPS, hidden_act="gelu", feat_extract_activation="gelu",
)
FAMILIES = {
    "wav2vec2_base": (W.build_base, "Wav2Vec2", dict(feat_extract_norm="group", do_stable_layer_norm=False,
                                                        conv_bias=False), False),
    "wav2vec2_large": (W.build_large, "Wav2Vec2", dict(feat_extract_norm="layer", do_stable_layer_norm=True,
                                                          conv_bias=True), True),
    "hubert_base": (H.build_base, "Hubert", dict(feat_extract_norm="group", do_stable_layer_norm=False,
                                                    conv_bias=False, feat_proj_layer_norm=True), False),
    "hubert_large": (H.build_large, "Hubert", dict(feat_extract_norm="layer", do_stable_layer_norm=True,
                                                      conv_bias=False), True),
    "data2vec_base": (D.build_base, "Data2VecAudio", dict(conv_pos_kernel_size=5, conv_bias=False,
                                                             num_conv_pos_embeddings=D.POS_DEPTH), True),
}


def fairseq_to_hf(sd: dict, pos_stack: bool) -> dict:
    """fairseq state-dict names -> transformers' ``Wav2Vec2Model``/``HubertModel``/``Data2VecAudioModel``."""
    out = {}
    for k, v in sd.items():
        if not torch.is_tensor(v) or k in ("label_embs_concat",) or k.startswith(("quantizer.", "project_q.",
                                                                                 "final_proj.")):
            continue
        rules = [
            (r"feature_extractor\.conv_layers\.(\d+)\.0\.(\w+)", r"feature_extractor.conv_layers.\1.conv.\2"),
            (r"feature_extractor\.conv_layers\.(\d+)\.2(?:\.1)?\.(\w+)",
             r"feature_extractor.conv_layers.\1.layer_norm.\2"),
            (r"layer_norm\.(\w+)", r"feature_projection.layer_norm.\1"),
            (r"post_extract_proj\.(\w+)", r"feature_projection.projection.\1"),
            (r"mask_emb", "masked_spec_embed"),
            (r"encoder\.pos_conv\.0\.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
            (r"encoder\.pos_conv\.0\.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
            (r"encoder\.pos_conv\.0\.bias", "encoder.pos_conv_embed.layers.0.conv.bias" if pos_stack
             else "encoder.pos_conv_embed.conv.bias"),
            (r"encoder\.pos_conv\.(\d+)\.0\.(\w+)", r"encoder.pos_conv_embed.layers.\1.conv.\2"),
            (r"encoder\.layers\.(\d+)\.self_attn_layer_norm\.(\w+)", r"encoder.layers.\1.layer_norm.\2"),
            (r"encoder\.layers\.(\d+)\.self_attn\.(\w+)\.(\w+)", r"encoder.layers.\1.attention.\2.\3"),
            (r"encoder\.layers\.(\d+)\.fc1\.(\w+)", r"encoder.layers.\1.feed_forward.intermediate_dense.\2"),
            (r"encoder\.layers\.(\d+)\.fc2\.(\w+)", r"encoder.layers.\1.feed_forward.output_dense.\2"),
            (r"(encoder\.layer_norm\.\w+|encoder\.layers\.\d+\.final_layer_norm\.\w+)", r"\1"),
        ]
        for pattern, repl in rules:
            if re.fullmatch(pattern, k):
                out[re.sub(pattern, repl, k)] = v
                break
        else:
            raise AssertionError(f"no transformers name for {k}")
    return out


def reference_model(name: str, sd: dict, **config_over):
    import transformers

    _, cls, over, _ = FAMILIES[name]
    kwargs = {**_COMMON, **over, **config_over}
    config = getattr(transformers, f"{cls}Config")(**kwargs)
    model = getattr(transformers, f"{cls}Model")(config).eval()
    missing, unexpected = model.load_state_dict(fairseq_to_hf(sd, cls == "Data2VecAudio"), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model


def reference_hidden_states(model, wavs: torch.Tensor, normalize: bool) -> list[torch.Tensor]:
    """transformers' hidden states in our convention (see modules.py): transformers 5.x
    records the raw output of the last layer; pre-LN models' final LayerNorm is only in
    ``last_hidden_state``, which is the last hidden state here."""
    if normalize:
        wavs = F.layer_norm(wavs, wavs.shape[-1:])  # fairseq's per-utterance normalisation, eps 1e-5
    with torch.no_grad():
        out = model(wavs, output_hidden_states=True)
    return [*out.hidden_states[:-1], out.last_hidden_state]


def build(name, tmp_path):
    builder = FAMILIES[name][0]
    entry, path = builder(tmp_path)
    return entry, path


@needs("transformers")
@pytest.mark.parametrize("name", list(FAMILIES))
def test_parity_with_transformers(name, tmp_path):
    entry, path = build(name, tmp_path)
    assert entry == f"{name.split('_')[0]}_local"
    ours = hub.load(entry, ckpt=str(path))
    ref = reference_model(name, load_checkpoint(path)["model"])
    normalize = FAMILIES[name][3]
    assert ours.config.normalize is normalize
    gen = torch.Generator().manual_seed(1)
    single = torch.randn(1, 16000 * 2 + 123, generator=gen) * 0.1
    equal = torch.randn(2, 16000, generator=gen) * 0.1
    worst = 0.0
    for batch in (single, equal):
        expected = reference_hidden_states(ref, batch, normalize)
        with torch.no_grad():
            got = ours(list(batch))["hidden_states"]
        assert len(got) == len(expected) == W.LAYERS + 1
        for k, (a, b) in enumerate(zip(got, expected)):
            assert a.shape == b.shape, (k, a.shape, b.shape)
            worst = max(worst, (a - b).abs().max().item())
    assert worst <= 1e-4, f"{name}: max abs diff vs transformers {worst:.3g}"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_padding_invariance(name, tmp_path):
    entry, path = build(name, tmp_path)
    model = hub.load(entry, ckpt=str(path))
    wavs = mixed_length_wavs(seed=3, seconds=(0.5, 16.0, 3.2, 0.0251, 7.71))
    worst = assert_padding_invariant(model, wavs)
    assert worst <= 1e-4


def test_group_norm_statistics_use_valid_frames_only(tmp_path):
    """Garbage in the padded samples of a group-norm model never reaches the valid frames."""
    _, path = W.build_base(tmp_path)
    model = hub.wav2vec2_local(str(path))
    gen = torch.Generator().manual_seed(0)
    wavs = torch.randn(2, 16000, generator=gen) * 0.1
    lens = torch.tensor([16000, 9000])
    clean = wavs.clone()
    clean[1, 9000:] = 0
    noisy = wavs.clone()
    noisy[1, 9000:] = 100.0
    with torch.no_grad():
        a, la = model.forward_padded(clean, lens)
        b, lb = model.forward_padded(noisy, lens)
    n = int(la[1])
    assert n == (9000 - 400) // 320 + 1 and torch.equal(la, lb)
    for x, y in zip(a, b):
        assert (x[:, :n] - y[:, :n]).abs().max().item() <= 1e-5
        assert (x[0] - y[0]).abs().max().item() <= 1e-5


@pytest.mark.parametrize("builder", [W.build_base, W.build_large])
def test_feature_encoder_time_slices_and_autograd_give_the_same_numbers(builder, tmp_path):
    """The feature encoder run slice by slice (tiny ``slice_bytes``), and with autograd
    (no in-place shortcuts), gives the one-pass numbers; gradients reach the first conv."""
    _, path = builder(tmp_path)
    model = hub.wav2vec2_local(str(path))
    gen = torch.Generator().manual_seed(1)
    wavs = torch.randn(3, 24000, generator=gen) * 0.1
    lens = torch.tensor([24000, 13001, 5000])
    wavs[1, 13001:] = 0
    wavs[2, 5000:] = 0
    with torch.no_grad():
        whole, n_whole = model.forward_padded(wavs, lens)
        model.model.feature_extractor.slice_bytes = 1  # one output frame per slice
        sliced, n_sliced = model.forward_padded(wavs, lens)
    with torch.enable_grad():
        graded, _ = model.forward_padded(wavs, lens)
        sum(h.sum() for h in graded).backward()
    assert torch.equal(n_whole, n_sliced)
    for x, y, z in zip(whole, sliced, graded):
        for b, n in enumerate(n_whole.tolist()):
            assert (x[b, :n] - y[b, :n]).abs().max().item() <= 1e-5
            assert (x[b, :n] - z[b, :n].detach()).abs().max().item() <= 1e-5
    assert model.model.feature_extractor.conv_layers[0].conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("builder,golden", [
    (W.build_base, "wav2vec2_base_reduced"), (W.build_large, "wav2vec2_large_reduced"),
    (H.build_base, "hubert_base_reduced"), (D.build_base, "data2vec_base_reduced"),
])
def test_golden(builder, golden, tmp_path):
    for module in (W, H, D):
        if golden in module.BUILDERS:
            assert module.BUILDERS[golden] is builder
    entry, path = builder(tmp_path)
    result = hidden_states_of_files(hub.load(entry, ckpt=str(path)), sample_speech_files())
    assert_matches_golden(golden, result)


def _outputs(model, wav):
    with torch.no_grad():
        return model([wav])["hidden_states"]


def test_every_layout_gives_the_same_model(tmp_path):
    """argparse-era, hydra-era, original-s3prl-converted and fine-tuned (CTC) files of one model."""
    opts = W.base_options()
    state = W.make_state(opts, seed=0)
    task = W.task_options(False)
    paths = {
        "args": W.write_args_layout(tmp_path / "a.pt", opts, task, state),
        "cfg": W.write_cfg_layout(tmp_path / "c.pt", opts, task, state),
        "s3prl": W.build_s3prl_converted(tmp_path)[1],
    }
    # fine-tuned: {'cfg': {'model': {'_name': 'wav2vec_ctc', 'w2v_args': {...}}}, 'model': {w2v_encoder.*}}
    ft_state = {f"w2v_encoder.w2v_model.{k}": v for k, v in state.items() if not k.startswith(("quantizer",
                                                                                             "project_q",
                                                                                             "final_proj"))}
    ft_state["w2v_encoder.proj.weight"] = torch.randn(32, W.DIM)
    ft_state["w2v_encoder.proj.bias"] = torch.randn(32)
    ft_cfg = {"model": {"_name": "wav2vec_ctc", "w2v_path": "/x/wav2vec_small.pt", "apply_mask": True,
                        "w2v_args": {"model": opts, "task": task}},
              "task": {"_name": "audio_finetuning", "normalize": False, "labels": "ltr"}}
    torch.save({"cfg": ft_cfg, "model": ft_state}, tmp_path / "ft.pt")
    paths["fine-tuned"] = tmp_path / "ft.pt"
    layouts = {k: read_fairseq_checkpoint(p).layout for k, p in paths.items()}
    assert layouts == {"args": "fairseq-args", "cfg": "fairseq-cfg", "s3prl": "s3prl-converted",
                       "fine-tuned": "fairseq-cfg"}
    wav = mixed_length_wavs(seed=5, seconds=(1.3,))[0]
    ref = _outputs(hub.wav2vec2_local(str(paths["args"])), wav)
    for kind, path in paths.items():
        for entry in ("wav2vec2_local", "wav2vec2_custom", "hubert_local", "data2vec_custom"):
            got = _outputs(hub.load(entry, ckpt=str(path)), wav)
            assert len(got) == len(ref) == W.LAYERS + 1
            for a, b in zip(got, ref):
                assert torch.equal(a, b), (kind, entry)


def test_architecture_read_from_checkpoint(tmp_path):
    _, path = W.build_large(tmp_path)
    model = hub.wav2vec2_local(str(path))
    c = model.config
    assert (c.extractor_mode, c.conv_bias, c.layer_norm_first, c.normalize) == ("layer_norm", True, True, True)
    assert (c.embed_dim, c.num_layers, c.num_heads, c.ffn_dim, c.conv_pos, c.conv_pos_groups) == (
        W.DIM, W.LAYERS, W.HEADS, W.FFN, W.CONV_POS, W.CONV_POS_GROUPS)
    assert model.downsample_rate == 320 and model.receptive_field == 400
    assert model.hidden_sizes == [W.DIM] * (W.LAYERS + 1)
    _, path = D.build_base(tmp_path)
    c = hub.data2vec_local(str(path)).config
    assert (c.pos_conv_depth, c.conv_pos, c.extractor_mode, c.normalize, c.layer_norm_first) == (
        D.POS_DEPTH, D.POS_CONV, "layer_norm", True, False)
    assert parse_conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]") == (
        ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2)
    with pytest.raises(ValueError, match="conv_feature_layers"):
        parse_conv_layers("__import__('os').system('echo hi')")


def test_frames_and_short_input(tmp_path):
    _, path = W.build_base(tmp_path)
    model = hub.wav2vec2_local(str(path))
    with torch.no_grad():
        out = model([torch.randn(400), torch.randn(719), torch.randn(720), torch.randn(16000)])
    assert out["hidden_states_len"].tolist() == [1, 1, 2, 49]
    with pytest.raises(ValueError, match="wav 1 has 399 samples"):
        model([torch.randn(500), torch.randn(399)])


def test_normalize_waveforms_uses_valid_samples_only():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, generator=gen) * 3 + 1, torch.randn(600, generator=gen) * 0.01 - 2
    batch = torch.zeros(2, 1000)
    batch[0], batch[1, :600] = a, b
    out = normalize_waveforms(batch, torch.tensor([1000, 600]))
    assert torch.allclose(out[0], F.layer_norm(a, a.shape), atol=1e-6)
    assert torch.allclose(out[1, :600], F.layer_norm(b.double(), b.shape).float(), atol=1e-5)
    assert out[1, 600:].abs().max() == 0


def _corrupt(path, tmp_path, fn):
    ckpt = load_checkpoint(path)
    fn(ckpt["model"])
    out = tmp_path / "bad.pt"
    torch.save(ckpt, out)
    return str(out)


def test_key_errors_name_the_keys(tmp_path):
    _, path = W.build_base(tmp_path)
    bad = _corrupt(path, tmp_path, lambda sd: sd.pop("encoder.layers.1.fc2.bias"))
    with pytest.raises(ValueError, match=r"missing keys \['encoder.layers.1.fc2.bias'\]"):
        hub.wav2vec2_local(bad)
    bad = _corrupt(path, tmp_path, lambda sd: sd.__setitem__("encoder.layers.1.extra.weight", torch.ones(2)))
    with pytest.raises(ValueError, match=r"unexpected keys \['encoder.layers.1.extra.weight'\]"):
        hub.wav2vec2_local(bad)
    bad = _corrupt(path, tmp_path, lambda sd: sd.__setitem__("encoder.layers.0.fc1.weight", torch.ones(3, 3)))
    with pytest.raises(ValueError, match=r"encoder.layers.0.fc1.weight: checkpoint \(3, 3\) vs model \(64, 32\)"):
        hub.wav2vec2_local(bad)
    # training-only weights are ignored explicitly, not by accident
    _, hpath = H.build_base(tmp_path)
    sd = load_checkpoint(hpath)["model"]
    assert {"label_embs_concat", "final_proj.weight", "mask_emb"} <= set(sd)
    torch.save({"weights": 1}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=r"top-level keys are \['weights'\]"):
        hub.hubert_local(str(tmp_path / "odd.pt"))
    with pytest.raises(ValueError, match="hubert_local takes a local file path"):
        hub.hubert_local("http://127.0.0.1:1/x.pt")
    with pytest.raises(ValueError, match="data2vec_url takes an http"):
        hub.data2vec_url(str(hpath))
    cfg_layer = W.model_options(layer_type="conformer")
    torch.save({"args": argparse.Namespace(**cfg_layer), "model": {}}, tmp_path / "conf.pt")
    with pytest.raises(ValueError, match="layer_type 'conformer'"):
        hub.wav2vec2_local(str(tmp_path / "conf.pt"))


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_malicious_checkpoint_never_runs(tmp_path, capsys):
    _, path = W.build_base(tmp_path)
    ckpt = load_checkpoint(path)
    ckpt["extra_state"] = _Boom()
    torch.save(ckpt, tmp_path / "evil.pt")
    with pytest.raises(UnsafeCheckpointError, match="builtins.print"):
        hub.wav2vec2_local(str(tmp_path / "evil.pt"))
    assert "must never run" not in capsys.readouterr().out


def test_eval_is_deterministic_and_train_keeps_layer_count(tmp_path):
    _, path = W.build_base(tmp_path)
    model = hub.wav2vec2_local(str(path), layerdrop=0.0)
    assert model.config.layerdrop == 0.0
    model = hub.wav2vec2_local(str(path))
    assert model.config.layerdrop == 0.05 and not model.training
    wav = mixed_length_wavs(seed=2, seconds=(1.0,))[0]
    a, b = _outputs(model, wav), _outputs(model, wav)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    model.train()
    model.config.layerdrop = 0.5  # high, so that layers get dropped in a few runs
    torch.manual_seed(0)
    differs = False
    for _ in range(6):
        with torch.no_grad():
            out = model([wav])["hidden_states"]
        assert len(out) == W.LAYERS + 1
        differs |= any(not torch.allclose(x, y) for x, y in zip(out, a))
    assert differs  # dropout is active in train mode
    model.eval()


def test_dtype_option(tmp_path):
    _, path = W.build_large(tmp_path)
    ref = hub.wav2vec2_local(str(path))
    half = hub.wav2vec2_local(str(path), dtype=torch.bfloat16)
    assert next(half.parameters()).dtype == torch.bfloat16
    wav = mixed_length_wavs(seed=4, seconds=(1.0,))[0]
    a, b = _outputs(ref, wav), _outputs(half, wav)
    assert b[-1].dtype == torch.bfloat16
    scale = a[-1].abs().max().item()
    assert (a[-1] - b[-1].float()).abs().max().item() < 0.1 * scale
    with pytest.raises(TypeError, match="dtype"):
        hub.wav2vec2_local(str(path), dtype="half")


def test_url_entries_download_through_local_server(tmp_path):
    from test.http_server import serve_directory

    _, path = H.build_base(tmp_path)
    wav = mixed_length_wavs(seed=6, seconds=(0.8,))[0]
    ref = _outputs(hub.hubert_local(str(path)), wav)
    with serve_directory(tmp_path) as server:
        url = server.url + path.name
        for entry in ("hubert_url", "hubert_custom", "wav2vec2_url", "data2vec_custom", "hubert_base"):
            got = _outputs(hub.load(entry, ckpt=url), wav)
            assert all(torch.equal(x, y) for x, y in zip(got, ref)), entry
        assert server.requests["/" + path.name] >= 1


def test_entries_are_listed_and_documented():
    expected = {
        "wav2vec2": "wav2vec_small.pt", "wav2vec2_base_960": "wav2vec_small.pt",
        "wav2vec2_large_960": "libri960_big.pt", "wav2vec2_large_ll60k": "wav2vec_vox_new.pt",
        "wav2vec2_large_lv60_cv_swbd_fsh": "w2v_large_lv_fsh_swbd_cv.pt", "xlsr_53": "xlsr_53_56k.pt",
        "xls_r_300m": "xlsr2_300m.pt", "xls_r_1b": "xlsr2_960m_1000k.pt", "xls_r_2b": "xlsr2_2B_1000k.pt",
        "hubert": "hubert_base_ls960.pt", "hubert_base": "hubert_base_ls960.pt",
        "hubert_large_ll60k": "hubert_large_ll60k.pt", "data2vec": "audio_base_ls.pt",
        "data2vec_base_960": "audio_base_ls.pt", "data2vec_large_ll60k": "vox_pretrained.pt",
    }
    for name, filename in expected.items():
        fn = getattr(hub, name)
        assert fn.info.ckpt.endswith("/" + filename) and fn.info.ckpt.startswith("https://dl.fbaipublicfiles.com/")
        assert fn.info.stride == 320 and fn.info.layers in (13, 25, 49) and fn.info.hidden_size
        assert fn.info.paper.startswith("https://arxiv.org/abs/")
        assert filename in hub.help(name) and "stride" in hub.help(name)
    for family in ("wav2vec2", "hubert", "data2vec"):
        for kind in ("local", "url", "custom"):
            assert f"{family}_{kind}" in hub.options()


@needs("transformers")
@pytest.mark.slow
def test_full_size_base_parity_with_transformers(tmp_path):
    """wav2vec 2.0 Base at full size (12 layers, 768, 512 conv channels), seeded weights."""
    import transformers

    opts = W.model_options(
        _name="wav2vec2", encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072,
        encoder_attention_heads=12, conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
        conv_pos=128, conv_pos_groups=16, final_dim=256,
    )
    path = W.write_args_layout(tmp_path / "wav2vec_small.pt", opts, W.task_options(False), W.make_state(opts, 7))
    ours = hub.wav2vec2_local(str(path))
    ref = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(feat_extract_norm="group")).eval()
    missing, unexpected = ref.load_state_dict(fairseq_to_hf(load_checkpoint(path)["model"], False), strict=False)
    assert not missing and not unexpected
    wav = mixed_length_wavs(seed=8, seconds=(4.0,))[0]
    expected = reference_hidden_states(ref, wav[None], False)
    got = _outputs(ours, wav)
    worst = max((a - b).abs().max().item() for a, b in zip(got, expected))
    assert len(got) == 13 and worst <= 1e-4, worst


if __name__ == "__main__":  # python -m test.test_w2v2_family: print the measured maxima
    import tempfile
    from pathlib import Path

    for _name, (_builder, _, _, _normalize) in FAMILIES.items():
        _entry, _path = _builder(Path(tempfile.mkdtemp()))
        _ours = hub.load(_entry, ckpt=str(_path))
        _ref = reference_model(_name, load_checkpoint(_path)["model"])
        _gen = torch.Generator().manual_seed(1)
        _worst = 0.0
        for _batch in (torch.randn(1, 32123, generator=_gen) * 0.1, torch.randn(2, 16000, generator=_gen) * 0.1):
            _exp = reference_hidden_states(_ref, _batch, _normalize)
            with torch.no_grad():
                _got = _ours(list(_batch))["hidden_states"]
            _worst = max(_worst, max((a - b).abs().max().item() for a, b in zip(_got, _exp)))
        _pad = assert_padding_invariant(_ours, mixed_length_wavs(seed=3, seconds=(0.5, 16.0, 3.2, 0.0251, 7.71)))
        print(f"{_name:15s} {_entry:15s} parity vs transformers max|diff| {_worst:.2e}   "
              f"padding max|diff| {_pad:.2e}")
