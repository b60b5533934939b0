"""ESPnet HuBERT (``.pth`` + ``config.yaml``, read without ESPnet): a re-statement of
torchaudio's HuBERT forward written from torchaudio's source
(``torchaudio/models/wav2vec2/components.py``: ``ConvLayerBlock``, ``FeatureProjection``,
``ConvolutionalPositionalEmbedding``, ``EncoderLayer``, ``Transformer._preprocess`` /
``get_intermediate_outputs``; ``_get_encoder`` builds the ``Transformer`` with
``layer_norm_first = not encoder_layer_norm_first``), applied to the raw ESPnet state dict,
one unpadded wav at a time. Plus padding, goldens, entries and errors.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
import yaml

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import espnet_hubert as E
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs

P = "encoder.hubert_pretrain_model.wav2vec2."


def torchaudio_reference(sd: dict, conf: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    """torchaudio ``Wav2Vec2Model.extract_features`` semantics (single wav, no padding)."""
    w = {k[len(P):]: v.double() for k, v in sd.items() if k.startswith(P)}
    x = wav.double()[None, None]
    for i, (ch, _k, s) in enumerate(conf["extractor_conv_layer_config"]):
        x = F.conv1d(x, w[f"feature_extractor.conv_layers.{i}.conv.weight"],
                     w.get(f"feature_extractor.conv_layers.{i}.conv.bias"), stride=s)
        n = f"feature_extractor.conv_layers.{i}.layer_norm."
        if conf["extractor_mode"] == "group_norm" and i == 0:
            x = F.group_norm(x, ch, w[n + "weight"], w[n + "bias"], 1e-5)
        elif conf["extractor_mode"] == "layer_norm":
            x = F.layer_norm(x.transpose(1, 2), (ch,), w[n + "weight"], w[n + "bias"], 1e-5).transpose(1, 2)
        x = F.gelu(x)
    x = x.transpose(1, 2)
    dim = conf["encoder_embed_dim"]

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], w[name + ".weight"], w[name + ".bias"], 1e-5)

    x = ln(x, "encoder.feature_projection.layer_norm")
    x = F.linear(x, w["encoder.feature_projection.projection.weight"], w["encoder.feature_projection.projection.bias"])
    c = "encoder.transformer.pos_conv_embed.conv."
    g = w.get(c + "weight_g", w.get(c + "parametrizations.weight.original0"))
    v = w.get(c + "weight_v", w.get(c + "parametrizations.weight.original1"))
    weight = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()  # weight_norm over dim 2
    kernel = conf["encoder_pos_conv_kernel"]
    pos = F.conv1d(x.transpose(1, 2), weight, w[c + "bias"], padding=kernel // 2, groups=conf["encoder_pos_conv_groups"])
    if kernel % 2 == 0:
        pos = pos[..., :-1]
    x = x + F.gelu(pos).transpose(1, 2)
    pre_ln = conf["encoder_layer_norm_first"]
    if not pre_ln:  # the Transformer's layer_norm_first is the negation
        x = ln(x, "encoder.transformer.layer_norm")
    heads = conf["encoder_num_heads"]
    outs = []
    for i in range(conf["encoder_num_layers"]):
        lp = f"encoder.transformer.layers.{i}."

        def attention(t, lp=lp):
            q, k, v_ = (F.linear(t, w[lp + f"attention.{n}_proj.weight"], w[lp + f"attention.{n}_proj.bias"])
                        .view(1, -1, heads, dim // heads).transpose(1, 2) for n in ("q", "k", "v"))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), dim=-1) @ v_
            a = a.transpose(1, 2).reshape(1, -1, dim)
            return F.linear(a, w[lp + "attention.out_proj.weight"], w[lp + "attention.out_proj.bias"])

        def ff(t, lp=lp):
            h = F.gelu(F.linear(t, w[lp + "feed_forward.intermediate_dense.weight"],
                                w[lp + "feed_forward.intermediate_dense.bias"]))
            return F.linear(h, w[lp + "feed_forward.output_dense.weight"], w[lp + "feed_forward.output_dense.bias"])

        if pre_ln:
            x = x + attention(ln(x, lp + "layer_norm"))
            x = x + ff(ln(x, lp + "final_layer_norm"))
        else:
            x = ln(x + attention(x), lp + "layer_norm")
            x = ln(x + ff(x), lp + "final_layer_norm")
        outs.append(x[0].float())
    return outs


@pytest.mark.parametrize("large", [False, True])
def test_matches_torchaudio_restatement(large, tmp_path):
    entry, path = (E.build_large if large else E.build_base)(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    conf = yaml.safe_load((path.parent / "config.yaml").read_text())["encoder_conf"]
    sd = torch.load(path, weights_only=True)
    wavs = mixed_length_wavs(seed=21, seconds=(1.3, 0.4))
    with torch.no_grad():
        out = model(wavs)
    assert len(out["hidden_states"]) == model.num_layers == E.LAYERS
    worst = 0.0
    for b, wav in enumerate(wavs):
        ref = torchaudio_reference(sd, conf, wav)
        n = int(out["hidden_states_len"][b])
        assert n == ref[0].size(0)
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], ref)))
    print(f"parity max abs diff (espnet_hubert): {worst:.2e}")  # pytest -s
    assert worst <= 1e-4, worst


@pytest.mark.parametrize("golden, build", [("espnet_hubert_base_reduced", E.build_base),
                                           ("espnet_hubert_large_reduced", E.build_large)])
def test_golden_and_padding(golden, build, tmp_path):
    entry, path = build(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=22, seconds=(0.5, 2.5))) <= 1e-4


def test_named_entries_read_a_pth_and_its_config(tmp_path):
    from test.http_server import serve_directory

    _, base = E.build_base(tmp_path / "files")
    _, large = E.build_large(tmp_path / "files")
    for name, path in [("cvhubert", base), ("espnet_hubert_base_iter0", base), ("espnet_hubert_base_iter1", base),
                       ("wavlablm_ek_40k", large), ("wavlablm_ms_40k", large), ("wavlablm_mk_40k", large),
                       ("espnet_hubert_large_gs_ll60k", large)]:
        fn = getattr(hub, name)
        assert fn.info.ckpt.startswith("https://huggingface.co/espnet/") and fn.info.ckpt.endswith(".pth")
        config_default = inspect.signature(fn).parameters["config"].default
        assert config_default.startswith("https://huggingface.co/espnet/") and "/raw/main/" in config_default
        model = hub.load(name, ckpt=str(path), config=str(path.parent / "config.yaml"))
        assert model.hidden_sizes == [E.DIM] * E.LAYERS
    wav = mixed_length_wavs(seed=23, seconds=(0.6,))
    local = hub.espnet_hubert_local(str(base))  # config.yaml next to the .pth
    rel = base.relative_to(tmp_path / "files").as_posix()
    with serve_directory(tmp_path / "files") as server:
        remote = hub.espnet_hubert_url(server.url + rel, config=server.url + rel.replace("valid.loss.ave.pth",
                                                                                          "config.yaml"))
        custom = hub.espnet_hubert_custom(server.url + rel, config=str(base.parent / "config.yaml"))
        with pytest.raises(ValueError, match="needs config="):
            hub.espnet_hubert_custom(server.url + rel)
    with torch.no_grad():
        a, b, c = (m(wav)["hidden_states"] for m in (local, remote, custom))
    assert all(torch.equal(x, y) and torch.equal(x, z) for x, y, z in zip(a, b, c))


def test_errors_name_the_problem(tmp_path):
    _, path = E.build_base(tmp_path)
    sd = torch.load(path, weights_only=True)
    del sd[P + "encoder.transformer.layers.1.final_layer_norm.bias"]
    torch.save(sd, path.parent / "bad.pth")
    with pytest.raises(ValueError, match=r"missing keys \['encoder\.layers\.1\.final_layer_norm\.bias'\]"):
        hub.espnet_hubert_local(str(path.parent / "bad.pth"))
    torch.save({"model": {}}, path.parent / "other.pth")
    with pytest.raises(ValueError, match="no ESPnet HuBERT weights"):
        hub.espnet_hubert_local(str(path.parent / "other.pth"))
    cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
    cfg["encoder"] = "conformer"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="encoder 'conformer' is not an ESPnet HuBERT"):
        hub.espnet_hubert_local(str(path), config=str(tmp_path / "c.yaml"))
    with pytest.raises(FileNotFoundError, match="config.yaml not found"):
        hub.espnet_hubert_local(str(path), config=str(tmp_path / "missing.yaml"))


def test_entries_outside_the_upstream_prefix(tmp_path, caplog):
    """ESPnet's training-only entries and unknown ones are dropped and logged once (INFO);
    input-transform weights (GlobalMVN ``normalize.mean``) and a config naming a frontend /
    normalize / preencoder are refused (this upstream reads raw waveforms only)."""
    import logging

    _, path = E.build_base(tmp_path)
    exp = path.parent  # the experiment folder: config.yaml next to the .pth files
    sd = torch.load(path, weights_only=True)
    sd["criterion.extra"] = torch.zeros(2)
    torch.save(sd, exp / "extra.pth")
    with caplog.at_level(logging.INFO, logger="s3prl"):
        hub.espnet_hubert_local(str(exp / "extra.pth"))
        hub.espnet_hubert_local(str(exp / "extra.pth"))
    training = [r.getMessage() for r in caplog.records if "training-only entries" in r.getMessage()]
    unknown = [r.getMessage() for r in caplog.records if "unknown entries" in r.getMessage()]
    assert len(training) == 1 and "encoder.global_step" in training[0] and "mask_generator" in training[0]
    assert len(unknown) == 1 and "criterion.extra" in unknown[0]
    sd["normalize.mean"] = torch.zeros(1)
    torch.save(sd, exp / "mvn.pth")
    with pytest.raises(ValueError, match=r"mvn\.pth has weights of an input transform.*'normalize\.mean'"):
        hub.espnet_hubert_local(str(exp / "mvn.pth"))
    cfg = yaml.safe_load((path.parent / "config.yaml").read_text())
    cfg["normalize"] = "utterance_mvn"
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="n.yaml: normalize 'utterance_mvn' transforms the waveform"):
        hub.espnet_hubert_local(str(path), config=str(tmp_path / "n.yaml"))
