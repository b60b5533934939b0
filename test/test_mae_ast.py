"""MAE-AST encoder: seeded checkpoints in the released fairseq layout vs a re-statement of
``MAE_AST.forward(mask=False, features_only=True)`` (MAE-AST-Public ``mae_ast/models/mae_ast.py``)
built on ``torch.nn.TransformerEncoderLayer`` (post-LN, GELU) and hand-cut patches."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import s3prl.hub as hub
from s3prl.upstream.baseline.features import kaldi_fbank
from test.checkpoint_builders.mae_ast import (
    DIM,
    FFN,
    HEADS,
    KINDS,
    LAYERS,
    build_frame,
    build_patch,
    make_state,
    write_checkpoint,
)  # fmt: skip
from test.utils import assert_padding_invariant


def torch_layer(state: dict, i: int) -> nn.TransformerEncoderLayer:
    layer = nn.TransformerEncoderLayer(DIM, HEADS, FFN, dropout=0.0, activation="gelu",
                                       batch_first=True, norm_first=False, layer_norm_eps=1e-5).eval()
    p = f"encoder.layers.{i}."
    a = p + "self_attn."
    layer.load_state_dict({
        "self_attn.in_proj_weight": torch.cat([state[a + f"{x}_proj.weight"] for x in "qkv"]),
        "self_attn.in_proj_bias": torch.cat([state[a + f"{x}_proj.bias"] for x in "qkv"]),
        "self_attn.out_proj.weight": state[a + "out_proj.weight"], "self_attn.out_proj.bias": state[a + "out_proj.bias"],
        "linear1.weight": state[p + "fc1.weight"], "linear1.bias": state[p + "fc1.bias"],
        "linear2.weight": state[p + "fc2.weight"], "linear2.bias": state[p + "fc2.bias"],
        "norm1.weight": state[p + "self_attn_layer_norm.weight"], "norm1.bias": state[p + "self_attn_layer_norm.bias"],
        "norm2.weight": state[p + "final_layer_norm.weight"], "norm2.bias": state[p + "final_layer_norm.bias"],
    })
    return layer


def reference(state: dict, kind: str, wav: torch.Tensor) -> list[torch.Tensor]:
    kt, kc = KINDS[kind]
    fb, _ = kaldi_fbank(wav[None].double(), torch.tensor([wav.numel()]), num_mel_bins=128)
    x = fb[0].float()
    x = (x - state["batch_norm.running_mean"]) / torch.sqrt(state["batch_norm.running_var"] + 1e-5) * 0.5
    n_t, n_c = (x.size(0) - kt) // kt + 1, (128 - kc) // kc + 1
    patches = torch.stack([x[i * kt : i * kt + kt, j * kc : j * kc + kc].reshape(-1)
                           for i in range(n_t) for j in range(n_c)])
    h = patches @ state["post_extract_proj.weight"].T + state["post_extract_proj.bias"]
    h = h + state["enc_sine_pos_embed.pe"][0, : h.size(0)]
    h = nn.functional.layer_norm(h, (DIM,), state["encoder.layer_norm.weight"], state["encoder.layer_norm.bias"])
    out = []
    for i in range(LAYERS):
        h = torch_layer(state, i)(h[None])[0]
        out.append(h.reshape(n_t, n_c * DIM))
    return out


@pytest.mark.parametrize("kind, build", [("frame", build_frame), ("patch", build_patch)])
def test_encoder_matches_reference(kind, build, tmp_path):
    entry, path = build(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    kt, kc = KINDS[kind]
    assert model.downsample_rate == 160 * kt and model.receptive_field == 400 + 160 * (kt - 1)
    assert model.hidden_sizes == [(128 // kc) * DIM] * LAYERS
    gen = torch.Generator().manual_seed(9)
    wavs = [torch.randn(37000, generator=gen) * 0.1, torch.randn(9000, generator=gen) * 0.1]
    state = make_state(kind)
    with torch.no_grad():
        out = model(wavs)
        for b, wav in enumerate(wavs):
            ref = reference(state, kind, wav)
            n = ref[0].size(0)
            assert int(out["hidden_states_len"][b]) == n == (1 + (wav.numel() - 400) // 160 - kt) // kt + 1
            for ours, r in zip(out["hidden_states"], ref):
                assert (ours[b, :n] - r).abs().max() <= 1e-4


def test_patch_model_padding_invariant(tmp_path):
    """The partial last time patch of a shorter wav is masked (s3prl 0.4.18 attended to it)."""
    entry, path = build_patch(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(10)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (3000, 51234, 17777)]
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_bad_checkpoints(tmp_path):
    state = make_state("frame")
    del state["encoder.layers.1.fc2.weight"]
    bad = write_checkpoint(tmp_path / "bad.pt", "frame", state)
    with pytest.raises(ValueError, match="missing keys.*encoder.layers.1.fc2.weight"):
        hub.mae_ast_local(str(bad))
    torch.save({"model": {}}, bad)
    with pytest.raises(ValueError, match="'cfg' and 'model'"):
        hub.mae_ast_local(str(bad))
    with pytest.raises(ValueError, match="mae_ast_url"):
        hub.mae_ast_local("https://example.com/x.pt")


def test_sine_positions_without_the_buffer(tmp_path):
    """A checkpoint without ``enc_sine_pos_embed.pe``: the table is rebuilt,
    ``pe[t, 2i] = sin(t / 10000^(2i/D))``, ``pe[t, 2i+1] = cos(...)`` (MAE-AST ``SinusoidalPositionalEncoding``)."""
    import math

    state = make_state("frame")
    expected = state.pop("enc_sine_pos_embed.pe")
    model = hub.mae_ast_local(str(write_checkpoint(tmp_path / "nope.pt", "frame", state)))
    pe = model.pe
    assert pe.shape == expected.shape and pe.dtype == torch.float32
    for t in (0, 1, 17, 999, pe.size(1) - 1):
        for j in (0, 1, 2, 3, DIM - 2, DIM - 1):
            angle = t / 10000 ** ((j - j % 2) / DIM)
            ref = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(float(pe[0, t, j]) - ref) <= 1e-6, (t, j)
