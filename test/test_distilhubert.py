"""DistilHuBERT (distiller): the original toolkit's checkpoint layout, hidden-state list,
a plain-torch reference forward written from the toolkit's model description, padding,
golden, errors. (No installed package implements DistilHuBERT, so the reference here is
an independent re-statement of the original forward, one unpadded wav at a time.)"""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from test.checkpoint_builders.distiller import (
    build_distilhubert,
    distiller_options,
    distiller_state_dict,
    write_distiller,
)
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs


def reference_forward(sd: dict, o: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    """The original toolkit's DistillerModel forward (expand-last heads, post-LN), for one
    unpadded wav: ``[feat_final] + layer_hiddens + predictions``, each ``(T, D)``."""
    conv = eval(o["extractor_conv_feature_layers"])  # noqa: S307 - literal from the builder
    x = wav[None, None]
    for i, (_, _, stride) in enumerate(conv):
        x = F.conv1d(x, sd[f"feature_extractor.conv_layers.{i}.0.weight"], stride=stride)
        if i == 0:
            x = F.group_norm(x, x.shape[1], sd["feature_extractor.conv_layers.0.2.weight"],
                             sd["feature_extractor.conv_layers.0.2.bias"])
        x = F.gelu(x)
    feat = F.linear(x[0].T, sd["post_extract_proj.weight"], sd["post_extract_proj.bias"])  # (T, D)
    k = o["conv_pos"]
    weight = torch._weight_norm(sd["encoder.pos_conv.0.weight_v"], sd["encoder.pos_conv.0.weight_g"], 2)
    pos = F.conv1d(feat.T[None], weight, sd["encoder.pos_conv.0.bias"], padding=k // 2, groups=o["conv_pos_groups"])
    if k % 2 == 0:
        pos = pos[..., :-1]
    h = feat + F.gelu(pos)[0].T
    dim = h.shape[-1]
    h = F.layer_norm(h, (dim,), sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"])
    layers = []
    for i in range(o["encoder_layers"]):
        p = f"encoder.layers.{i}."
        q = h[:, None]  # (T, 1, D): time-first, as the original
        attn, _ = F.multi_head_attention_forward(
            q, q, q, dim, o["encoder_attention_heads"], None,
            torch.cat([sd[p + "self_attn.q_proj.bias"], sd[p + "self_attn.k_proj.bias"], sd[p + "self_attn.v_proj.bias"]]),
            None, None, False, 0.0, sd[p + "self_attn.out_proj.weight"], sd[p + "self_attn.out_proj.bias"],
            training=False, need_weights=False, use_separate_proj_weight=True,
            q_proj_weight=sd[p + "self_attn.q_proj.weight"], k_proj_weight=sd[p + "self_attn.k_proj.weight"],
            v_proj_weight=sd[p + "self_attn.v_proj.weight"],
        )
        h = F.layer_norm(h + attn[:, 0], (dim,), sd[p + "self_attn_layer_norm.weight"], sd[p + "self_attn_layer_norm.bias"])
        ff = F.linear(F.gelu(F.linear(h, sd[p + "fc1.weight"], sd[p + "fc1.bias"])), sd[p + "fc2.weight"], sd[p + "fc2.bias"])
        h = F.layer_norm(h + ff, (dim,), sd[p + "final_layer_norm.weight"], sd[p + "final_layer_norm.bias"])
        layers.append(h)
    n, final = o["n_tasks"], o["final_dim"]
    inter = F.gelu(F.linear(h, sd["output_layer.0.weight"], sd["output_layer.0.bias"]))  # (T, n * D)
    chunks = inter.reshape(inter.shape[0], n, -1)
    preds = [chunks[:, t] @ sd["output_layer.2.weight"][t] + sd["output_layer.2.bias"][0, 0, t] for t in range(n)]
    assert all(pr.shape[-1] == final for pr in preds)
    return [feat, *layers, *preds]


def test_matches_reference_forward(tmp_path):
    o = distiller_options()
    model = hub.distiller_local(write_distiller(tmp_path, seed=3))
    assert model.num_layers == 6 and model.hidden_sizes == [32, 32, 32, 40, 40, 40]
    assert model.pred_layer_id == [4, 8, 12]
    sd = distiller_state_dict(o, 3)
    gen = torch.Generator().manual_seed(0)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (16000, 41000)]
    with torch.no_grad():
        out = model(wavs)
        for i, wav in enumerate(wavs):
            expected = reference_forward(sd, o, wav)
            n = int(out["hidden_states_len"][i])
            assert n == expected[0].shape[0] == (wav.numel() - 400) // 320 + 1
            worst = max((h[i, :n] - e).abs().max().item() for h, e in zip(out["hidden_states"], expected))
            assert worst <= 1e-4, f"wav {i}: max abs diff {worst:.3g}"


def test_full_size_shapes(tmp_path):
    """The released architecture: 6 hidden states of 768 dims, 320-sample stride."""
    path = write_distiller(
        tmp_path, seed=0, extractor_conv_feature_layers="[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
        conv_pos=128, conv_pos_groups=16, encoder_embed_dim=768, encoder_ffn_embed_dim=3072,
        encoder_attention_heads=12, final_dim=768,
    )
    model = hub.distiller_local(path)
    assert model.hidden_sizes == [768] * 6 and model.downsample_rate == 320 and model.receptive_field == 400
    with torch.no_grad():
        out = model([torch.randn(16000)])
    assert [tuple(h.shape) for h in out["hidden_states"]] == [(1, 49, 768)] * 6
    info = hub.distilhubert.info
    assert (info.layers, info.hidden_size, info.stride) == (6, 768, 320)
    assert info.ckpt == "https://huggingface.co/leo19941227/distilhubert/resolve/main/distilhubert_ls960_4-8-12.ckpt"


def test_padding_invariance(tmp_path):
    model = hub.distiller_local(write_distiller(tmp_path, seed=4))
    wavs = mixed_length_wavs(seed=5, seconds=(0.5, 16.0, 4.4, 1.3))
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_layout_errors(tmp_path):
    path = tmp_path / "x.ckpt"
    torch.save({"Config": {"distiller": distiller_options()}, "Optimizer": {}}, path)
    with pytest.raises(ValueError, match="'Distiller'"):
        hub.distiller_local(path)
    torch.save({"Config": {"distiller": distiller_options(task_emb_type="add")},
                "Distiller": distiller_state_dict(distiller_options())}, path)
    with pytest.raises(ValueError, match="task_emb_type"):
        hub.distiller_local(path)
    sd = distiller_state_dict(distiller_options())
    del sd["output_layer.2.bias"]
    torch.save({"Config": {"distiller": distiller_options()}, "Distiller": sd, "Args": argparse.Namespace(a=1)}, path)
    with pytest.raises(ValueError, match=r"heads\.bias"):
        hub.distiller_local(path)
    with pytest.raises(ValueError, match="distiller_url"):
        hub.distiller_local("https://example.com/x.ckpt")


def test_short_wav_train_mode_and_url(tmp_path):
    from test.http_server import serve_directory

    path = write_distiller(tmp_path / "files", seed=5)
    model = hub.distiller_local(path)
    with pytest.raises(ValueError, match="399 samples"):
        model([torch.zeros(399)])
    wav = torch.randn(8000, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model([wav])["hidden_states"]
    with serve_directory(tmp_path / "files") as server:
        by_url = hub.distiller_url(server.url + path.name)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(by_url([wav])["hidden_states"], expected))
    model.train()
    model.config.layerdrop = 0.9
    torch.manual_seed(0)
    assert all(len(model([torch.randn(6000)])["hidden_states"]) == 6 for _ in range(3))


def test_golden(tmp_path):
    from test.regenerate_goldens import build_model, golden_result

    _, model = build_model(build_distilhubert, tmp_path)
    assert_matches_golden("distilhubert_reduced", golden_result(model))
