"""MR-HuBERT: a re-statement of the original forward written from its source (s3prl 0.4.18
``upstream/multires_hubert/hubert_model.py`` ``MultiresHubertModel.forward``, ``ConvAdapter`` /
``ConvDownsampler`` / ``ConvUpsampler``, fairseq's ``TransformerEncoder``; the s3prl expert's
hooks, ``repeat_interleave`` upsampling and cut to the shortest), on the raw converted
state dict, one unpadded wav at a time, in float64. Plus padding, goldens, entries, errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import multires_hubert as M
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs


def _ln(x, w, p):
    return F.layer_norm(x, x.shape[-1:], w[p + ".weight"], w[p + ".bias"], 1e-5)


def _block(w, prefix, x, cfg):
    """fairseq TransformerEncoder.forward (post-LN layers as configured); returns the hooks'
    view: the input of every layer, then the block output."""
    if prefix + "pos_conv.0.weight_g" in w:
        g, v = w[prefix + "pos_conv.0.weight_g"], w[prefix + "pos_conv.0.weight_v"]
        weight = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
        k = cfg["conv_pos"]
        pos = F.conv1d(x.T[None], weight, w[prefix + "pos_conv.0.bias"], padding=k // 2, groups=cfg["conv_pos_groups"])
        if k % 2 == 0:
            pos = pos[..., :-1]
        x = x + F.gelu(pos)[0].T
    first = cfg["layer_norm_first"]
    if not first:
        x = _ln(x, w, prefix + "layer_norm")
    states, heads, dim = [], cfg["encoder_attention_heads"], cfg["encoder_embed_dim"]
    j = 0
    while f"{prefix}layers.{j}.fc1.weight" in w:
        p = f"{prefix}layers.{j}."
        states.append(x)

        def lin(t, name, p=p):
            return F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

        def attn(t):
            q, k_, v_ = (lin(t, f"self_attn.{n}_proj").view(-1, heads, dim // heads).transpose(0, 1) for n in "qkv")
            a = torch.softmax(q @ k_.transpose(-1, -2) / math.sqrt(dim // heads), -1) @ v_
            return lin(a.transpose(0, 1).reshape(-1, dim), "self_attn.out_proj")

        if first:
            x = x + attn(_ln(x, w, p + "self_attn_layer_norm"))
            x = x + lin(F.gelu(lin(_ln(x, w, p + "final_layer_norm"), "fc1")), "fc2")
        else:
            x = _ln(x + attn(x), w, p + "self_attn_layer_norm")
            x = _ln(x + lin(F.gelu(lin(x, "fc1")), "fc2"), w, p + "final_layer_norm")
        j += 1
    if first:
        x = _ln(x, w, prefix + "layer_norm")
    return states + [x], x


def _adapter(w, prefix, x, up, down, k):
    """ConvAdapter / ConvDownsampler / ConvUpsampler.forward on (T, C)."""
    s = math.sqrt(0.4)
    x = x.T[None]
    has_up, has_down = prefix + "upsample_conv.0.weight" in w, prefix + "downsample_conv.0.weight" in w
    if has_up:
        res_up = torch.repeat_interleave(x, up, dim=2)
        h = F.conv_transpose1d(x, w[prefix + "upsample_conv.0.weight"], stride=up, output_padding=up - 1)
        h = F.gelu(F.group_norm(h, 1, w[prefix + "upsample_conv.2.weight"], w[prefix + "upsample_conv.2.bias"]))
        n = min(h.size(2), res_up.size(2))
        x = (h[..., :n] + res_up[..., :n]) * s
    if has_down:
        before = x
        h = F.conv1d(x, w[prefix + "downsample_conv.0.weight"], stride=down, padding=(k - 1) // 2)
        h = F.gelu(F.group_norm(h, 1, w[prefix + "downsample_conv.2.weight"], w[prefix + "downsample_conv.2.bias"]))
        res = before[..., ::down]
        n = min(h.size(2), res.size(2))
        x = (h[..., :n] + res[..., :n]) * s
        if has_up:  # highway (ConvAdapter only)
            hw = res_up[..., ::down]
            n = min(x.size(2), hw.size(2))
            x = (x[..., :n] + hw[..., :n]) * s
    return x[0].T


def reference(ckpt: dict, wav: torch.Tensor) -> list[torch.Tensor]:
    cfg = ckpt["model_cfg"]
    w = {k: v.double() for k, v in ckpt["model_weight"].items()}
    x = wav.double()[None, None]
    for i, (c, _k, st) in enumerate(eval(cfg["conv_feature_layers"])):  # noqa: S307 - our own test literal
        x = F.conv1d(x, w[f"feature_extractor.conv_layers.{i}.0.weight"], stride=st)
        if i == 0:
            x = F.group_norm(x, c, w["feature_extractor.conv_layers.0.2.weight"], w["feature_extractor.conv_layers.0.2.bias"])
        x = F.gelu(x)
    x = _ln(x[0].T, w, "layer_norm")
    x = F.linear(x, w["post_extract_proj.weight"], w["post_extract_proj.bias"])
    raw = list(cfg["label_rate_ratios"])
    ratios = [(raw[2 * i], raw[2 * i + 1]) for i in range(len(raw) // 2)]
    kk = cfg["conv_adapator_kernal"]
    hooks, kept = [], []
    for i, (u, d) in enumerate(ratios):
        states, x = _block(w, f"encoders.{i}.", x, cfg)
        hooks.append(states)
        kept.append(x)
        x = _adapter(w, f"downsample_modules.{i}.", x, u, d, kk)
    states, out = _block(w, "middle_encoder.", x, cfg)
    hooks.append(states)
    x = x + out
    for i, (u, d) in enumerate(ratios):
        x = _adapter(w, f"upsample_modules.{i}.", x, d, u, kk)
        states, x = _block(w, f"decoders.{i}.", x, cfg)
        hooks.append(states)
        res = kept[len(kept) - 1 - i]
        n = min(x.size(0), res.size(0))
        x = x[:n] + res[:n]
    rates = [320]
    for u, d in ratios:
        rates.append(rates[-1] * d // u)
    lcm = int(np.lcm.reduce(rates))
    up = [lcm // r for r in rates][::-1]
    r = len(ratios)
    factors = up[:r] + [up[r]] + up[::-1][1:][:r]
    hidden = [torch.repeat_interleave(h, f, dim=0) for states, f in zip(hooks, factors) for h in states]
    n = min(h.size(0) for h in hidden)
    return [h[:n].float() for h in hidden]


@pytest.mark.parametrize("build", [M.build_base, M.build_three_resolutions_plain])
def test_matches_original_restatement(build, tmp_path):
    entry, path = build(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    ckpt = load_checkpoint(path)
    wavs = mixed_length_wavs(seed=51, seconds=(1.37, 0.41))
    with torch.no_grad():
        out = model(wavs)
    worst = 0.0
    for b, wav in enumerate(wavs):
        ref = reference(ckpt, wav)
        n = int(out["hidden_states_len"][b])
        assert len(ref) == len(out["hidden_states"]) == model.num_layers
        assert n == ref[0].size(0), (n, ref[0].size(0))
        worst = max(worst, *((h[b, :n] - r).abs().max().item() for h, r in zip(out["hidden_states"], ref)))
    print(f"parity max abs diff (multires_hubert): {worst:.2e}")  # pytest -s
    assert worst <= 1e-4, worst


def test_golden_padding_entries_and_errors(tmp_path):
    entry, path = M.build_base(tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden("multires_hubert_reduced", hidden_states_of_files(model, sample_speech_files()))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=52, seconds=(0.5, 2.9, 1.03))) <= 1e-4
    _, plain = M.build_three_resolutions_plain(tmp_path)
    assert assert_padding_invariant(hub.multires_hubert_local(str(plain)),
                                    mixed_length_wavs(seed=53, seconds=(0.45, 2.0))) <= 1e-4
    for name in ("multires_hubert_base", "multires_hubert_large", "multires_hubert_multilingual_base",
                 "multires_hubert_multilingual_large400k", "multires_hubert_multilingual_large600k"):
        fn = getattr(hub, name)
        assert fn.info.ckpt.startswith("https://huggingface.co/s3prl/mr_hubert/resolve/main/")
        assert hub.load(name, ckpt=str(path)).num_layers == model.num_layers
    ck = load_checkpoint(path)
    del ck["model_weight"]["upsample_modules.0.downsample_conv.2.bias"]
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing keys \['upsample_modules\.0\.downsample_conv\.2\.bias'\]"):
        hub.multires_hubert_local(str(tmp_path / "bad.pt"))


def test_fairseq_layout_empty_override_and_missing_ratios(tmp_path):
    """fairseq main's own layout reads as the converted one; with ``override_encoder_layers`` ""
    every block has ``encoder_layers`` layers (fairseq main ``MultiresHubertModel.__init__``
    passes ``override_encoder_layer=None`` -> ``TransformerEncoder`` uses ``encoder_layers``);
    no ``label_rate_ratios`` (``MISSING`` in ``MultiresHubertConfig``) is refused."""
    _, conv = M.build_base(tmp_path)
    _, fair = M.build_base_fairseq(tmp_path)
    assert set(load_checkpoint(fair)) >= {"cfg", "model", "task_state"}
    wavs = mixed_length_wavs(seed=54, seconds=(0.6, 0.3))
    with torch.no_grad():
        a, b = hub.multires_hubert_local(str(conv))(wavs), hub.multires_hubert_local(str(fair))(wavs)
    assert len(a["hidden_states"]) == 2 + 1 + 1 + 1 + 2 + 1  # override [2, 1, 2]: layers + 1 per block
    assert all(torch.equal(x, y) for x, y in zip(a["hidden_states"], b["hidden_states"]))
    _, plain = M.build_three_resolutions_plain(tmp_path)
    ck = load_checkpoint(plain)
    assert ck["model_cfg"]["override_encoder_layers"] == "" and ck["model_cfg"]["encoder_layers"] == 2
    assert hub.multires_hubert_local(str(plain)).num_layers == 5 * (2 + 1)  # 5 blocks of 2 layers
    del ck["model_cfg"]["label_rate_ratios"]
    torch.save(ck, tmp_path / "no_ratios.pt")
    with pytest.raises(ValueError, match=r"no_ratios\.pt.*no label_rate_ratios"):
        hub.multires_hubert_local(str(tmp_path / "no_ratios.pt"))
