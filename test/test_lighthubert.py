"""LightHuBERT: a re-statement of the original subnet forward, written from its source (s3prl
0.4.18 ``upstream/lighthubert``: ``SLinear._sample_parameters`` split slicing, ``SLayerNorm``,
``SConv1d`` slicing of the weight-normed positional conv, ``SMHA`` with 64-wide heads,
``STransformerEncoder`` depth maps, ``LightHuBERT.forward`` hidden states), on the raw
supernet state dict, one unpadded wav at a time, in float64. Plus padding, goldens, entries.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.lighthubert.expert import DEPTH_MAPS, SUBNETS, default_subnet
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import lighthubert as L
from test.checkpoint_builders import wav2vec2 as W
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs


def _slinear(weight, bias, in_dim, out_dim, in_splits, out_splits, s_in_splits, s_out_splits):
    """SLinear._sample_parameters, restated."""
    w = weight
    if in_splits == 1 or in_dim == weight.size(1):
        w = w[:, :in_dim]
    else:
        size = int(in_dim / s_in_splits)
        parts = torch.split(w, weight.size(1) // in_splits, dim=1)[: int(np.ceil(s_in_splits))]
        w = torch.cat([p[:, : min(size, in_dim - i * size)] for i, p in enumerate(parts)], dim=1)
    if out_splits == 1 or out_dim == weight.size(0):
        return w[:out_dim], None if bias is None else bias[:out_dim]
    size = int(out_dim / s_out_splits)
    parts = torch.split(w, weight.size(0) // out_splits, dim=0)[: int(np.ceil(s_out_splits))]
    bparts = torch.split(bias, weight.size(0) // out_splits, dim=0)[: int(np.ceil(s_out_splits))]
    return (torch.cat([p[: min(size, out_dim - i * size)] for i, p in enumerate(parts)]),
            torch.cat([p[: min(size, out_dim - i * size)] for i, p in enumerate(bparts)]))


def reference(ckpt: dict, subnet: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    cfg = ckpt["cfg"]["model"]
    w = {k: v.double() for k, v in ckpt["model"].items()}
    x = F.layer_norm(wav.double(), wav.shape)[None, None]
    for i, (c, _k, st) in enumerate(W.CONV):
        x = F.conv1d(x, w[f"feature_extractor.conv_layers.{i}.0.weight"], stride=st)
        if i == 0:
            x = F.group_norm(x, c, w["feature_extractor.conv_layers.0.2.weight"], w["feature_extractor.conv_layers.0.2.bias"])
        x = F.gelu(x)
    x = F.layer_norm(x[0].T, (c,), w["layer_norm.weight"], w["layer_norm.bias"])
    d = subnet["embed_dim"]
    pw, pb = _slinear(w["post_extract_proj.weight"], w["post_extract_proj.bias"], c, d, 1, 1, 1, 1)
    feats = F.linear(x, pw, pb)
    states = [feats]
    g, v = w["encoder.pos_conv.0.weight_g"], w["encoder.pos_conv.0.weight_v"]
    full = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    groups, k = cfg["conv_pos_groups"], cfg["conv_pos"]
    pos = F.conv1d(feats.T[None], full[:d, : d // groups], w["encoder.pos_conv.0.bias"][:d], padding=k // 2, groups=groups)
    if k % 2 == 0:
        pos = pos[..., :-1]
    x = feats + F.gelu(pos)[0].T

    def sln(t, name):
        return F.layer_norm(t, (d,), w[name + ".weight"][:d], w[name + ".bias"][:d])

    x = sln(x, "encoder.layer_norm")  # post-LN supernet: before the layers
    full_dim, full_ffn = cfg["encoder_embed_dim"], cfg["encoder_ffn_embed_dim"]
    splits = full_ffn // full_dim
    j = 0
    for i, keep in enumerate(DEPTH_MAPS[subnet["layer_num"]]):
        if not keep:
            continue
        p = f"encoder.layers.{i}."
        heads, att, ffn = subnet["heads_num"][j], subnet["atten_dim"][j], subnet["ffn_embed"][j]
        q, kk, vv = (F.linear(x, *_slinear(w[p + f"self_attn.{n}_proj.weight"], w[p + f"self_attn.{n}_proj.bias"],
                                           d, att, 1, 1, 1, 1)).view(-1, heads, 64).transpose(0, 1) for n in "qkv")
        a = torch.softmax((q * 64**-0.5) @ kk.transpose(-1, -2), -1) @ vv
        a = F.linear(a.transpose(0, 1).reshape(-1, att),
                     *_slinear(w[p + "self_attn.out_proj.weight"], w[p + "self_attn.out_proj.bias"], att, d, 1, 1, 1, 1))
        x = sln(x + a, p + "self_attn_layer_norm")
        h = F.gelu(F.linear(x, *_slinear(w[p + "fc1.weight"], w[p + "fc1.bias"], d, ffn, 1, splits, 1, ffn / d)))
        h = F.linear(h, *_slinear(w[p + "fc2.weight"], w[p + "fc2.bias"], ffn, d, splits, 1, ffn / d, 1))
        x = sln(x + h, p + "final_layer_norm")
        states.append(x)
        j += 1
    return [s.float() for s in states]


SUBNET_10 = {"embed_dim": 64, "atten_dim": [64] * 10, "heads_num": [1] * 10, "ffn_embed": [192, 224] * 5,
             "layer_num": 10}


@pytest.mark.parametrize("subnet", [None, SUBNET_10])
def test_matches_original_restatement(subnet, tmp_path):
    _, path = L.build_supernet(tmp_path)
    model = hub.lighthubert_local(str(path), subnet=subnet)
    ckpt = load_checkpoint(path)
    sub = subnet or default_subnet(ckpt["cfg"]["model"])
    wavs = mixed_length_wavs(seed=61, seconds=(1.1, 0.35))
    with torch.no_grad():
        out = model(wavs)
    assert model.num_layers == sub["layer_num"] + 1 and model.hidden_sizes[0] == sub["embed_dim"]
    worst = 0.0
    for b, wav in enumerate(wavs):
        ref = reference(ckpt, sub, wav)
        n = int(out["hidden_states_len"][b])
        assert n == ref[0].size(0)
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], ref)))
    print(f"parity max abs diff (lighthubert): {worst:.2e}")  # pytest -s
    assert worst <= 1e-4, worst


def test_golden_padding_subnets_and_entries(tmp_path):
    entry, tiny = L.build_stage1_tiny(tmp_path / "tiny")
    assert_matches_golden("lighthubert_stage1_tiny", hidden_states_of_files(hub.load(entry, ckpt=str(tiny)),
                                                                             sample_speech_files()))
    _, path = L.build_supernet(tmp_path)
    model = hub.lighthubert_local(str(path))
    assert assert_padding_invariant(hub.lighthubert_local(str(path), subnet=SUBNET_10),
                                    mixed_length_wavs(seed=62, seconds=(0.5, 2.2))) <= 1e-4
    # the released subnets (s3prl 0.4.18's tables) for the released 768-dim supernets
    assert default_subnet({"_name": "hubert_pruner", "pruner_supernet": "x/small.yaml"}) == SUBNETS[("small", "subnet")]
    assert default_subnet({"_name": "hubert_pruner", "pruner_supernet": "x/base.yaml"})["embed_dim"] == 640
    assert default_subnet({"_name": "student_hubert"})["embed_dim"] == 768
    with pytest.raises(ValueError, match="model _name 'hubert' is not a LightHuBERT one"):
        default_subnet({"_name": "hubert"})
    for name, dim in (("lighthubert", 384), ("lighthubert_small", 384), ("lighthubert_base", 640),
                      ("lighthubert_stage1", 768)):
        fn = getattr(hub, name)
        assert fn.info.ckpt.startswith("https://huggingface.co/mechanicalsea/lighthubert/") and fn.info.hidden_size == dim
        assert hub.load(name, ckpt=str(path)).num_layers == 13
    with pytest.raises(ValueError, match="atten_dim 64 must be heads_num \\* 64 and equal embed_dim 128"):
        hub.lighthubert_local(str(path), subnet={**SUBNET_10, "embed_dim": 128})
    assert math.isclose(model.hidden_sizes[0], L.DIM)


def test_supernet_weight_errors_name_file_and_key(tmp_path):
    """A supernet weight the slice needs is missing, or the positional convolution's weight
    norm is int64: one error type naming the file and the key (before: a raw KeyError / a
    silent cast to float)."""
    from s3prl.util.checkpoint import CheckpointKeyError

    _, path = L.build_supernet(tmp_path)
    ck = load_checkpoint(path)
    weights = ck["model"]
    del weights["encoder.layers.1.fc2.bias"]
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(CheckpointKeyError, match=rf"^checkpoint {tmp_path / 'bad.pt'}: missing keys "
                       r"\['encoder\.layers\.1\.fc2\.bias'\] \(a LightHuBERT supernet weight"):
        hub.lighthubert_local(str(tmp_path / "bad.pt"))
    ck = load_checkpoint(path)
    ck["model"]["encoder.pos_conv.0.weight_v"] = ck["model"]["encoder.pos_conv.0.weight_v"].round().long()
    torch.save(ck, tmp_path / "int.pt")
    with pytest.raises(CheckpointKeyError, match=r"\[\"encoder\.pos_conv\.weight_v has dtype torch\.int64, "
                       r"the model's is torch\.float32"):
        hub.lighthubert_local(str(tmp_path / "int.pt"))
