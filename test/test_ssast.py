"""SSAST frame / patch models: seeded pre-training checkpoints in the released layout
vs a re-statement of SSAST's fine-tuning ``ASTModel`` (Gong et al.,
``ssast/src/models/ast_models.py``; s3prl 0.4.18 ``upstream/ssast``) on Hugging Face
transformers ``ViTLayer`` blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.upstream.ast.frontend import ast_fbank
from s3prl.util.checkpoint import CheckpointKeyError
from test.checkpoint_builders.ast import (
    DEPTH,
    DIM,
    build_ssast_frame,
    build_ssast_patch,
    ssast_state,
)
from test.hf_reference import hf_vit_blocks
from test.utils import assert_padding_invariant, needs


def reference_ssast(state: dict, kind: str, fbank: torch.Tensor) -> list[torch.Tensor]:
    """Per-block (N, t, f D) of SSAST's fine-tuning forward, restated on transformers ``ViTLayer`` blocks."""
    pos = state["module.v.pos_embed"]
    if kind == "frame":  # pre-training grid 1 x 512; 100 frames, stride 1 -> 1 x 99: middle cut
        grid = pos[:, 2:].reshape(1, 1, 512, DIM)[:, :, 256 - 49 : 256 - 49 + 99]
        stride, f = (128, 1), 1
    else:  # 8 x 64 grid; 100 frames, stride 10 -> 12 x 9: cut time, interpolate frequency
        grid = pos[:, 2:].reshape(1, 8, 64, DIM)[:, :, 32 - 4 : 32 - 4 + 9]
        grid = F.interpolate(grid.permute(0, 3, 1, 2), size=(12, 9), mode="bilinear").permute(0, 2, 3, 1)
        stride, f = (10, 10), 12
    pos = torch.cat([pos[:, :2], grid.reshape(1, -1, DIM)], dim=1)
    x = F.conv2d(fbank.transpose(1, 2).unsqueeze(1), state["module.v.patch_embed.proj.weight"],
                 state["module.v.patch_embed.proj.bias"], stride=stride)
    n = x.size(0)
    x = torch.cat([state["module.v.cls_token"].expand(n, -1, -1),
                   state["module.v.dist_token"].expand(n, -1, -1), x.flatten(2).transpose(1, 2)], 1) + pos
    out = []
    for blk in hf_vit_blocks(state, "module.v.", DEPTH, DIM, DIM // 64):
        x = blk(x)
        out.append(x[:, 2:].reshape(n, f, -1, DIM).transpose(1, 2).flatten(2))
    return out


@needs("transformers")
@pytest.mark.parametrize("kind, build", [("frame", build_ssast_frame), ("patch", build_ssast_patch)])
def test_checkpoint_matches_reference(kind, build, tmp_path):
    entry, path = build(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    stride, per_window, size = {"frame": (160, 99, DIM), "patch": (1600, 9, 12 * DIM)}[kind]
    assert model.downsample_rate == stride and model.hidden_sizes == [size] * DEPTH
    gen = torch.Generator().manual_seed(7)
    wavs = [torch.randn(40000, generator=gen) * 0.1, torch.randn(12000, generator=gen) * 0.1]
    with torch.no_grad():
        out = model(wavs)
        win = torch.zeros(4, 16000)  # 1 s windows: 3 for wav 0 (last zero padded), 1 for wav 1
        win[0], win[1], win[2, :8000], win[3, :12000] = wavs[0][:16000], wavs[0][16000:32000], wavs[0][32000:], wavs[1]
        ref = [h for h in reference_ssast(ssast_state(kind), kind, ast_fbank(win, 100))]
    frames = [min(-(-40000 // stride), 3 * per_window), min(-(-12000 // stride), per_window)]
    assert out["hidden_states_len"].tolist() == frames
    for ours, r in zip(out["hidden_states"], ref):
        wav0 = torch.cat([r[0], r[1], r[2]])[: frames[0]]
        assert (ours[0, : frames[0]] - wav0).abs().max() <= 1e-4
        assert (ours[1, : frames[1]] - r[3, : frames[1]]).abs().max() <= 1e-4


def test_patch_model_padding_invariant_and_frame_rate(tmp_path):
    entry, path = build_ssast_patch(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(8)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (8000, 64000, 23000)]
    assert assert_padding_invariant(model, wavs) <= 1e-4
    with torch.no_grad():
        # 4 s: 4 windows x 9 time patches = 36 frames, not 64000 / 1600 = 40 (s3prl's windowing)
        assert int(model([wavs[1]])["hidden_states_len"][0]) == 36


def test_bad_checkpoints(tmp_path):
    state = ssast_state("frame")
    del state["module.p_input_tdim"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="no 'module.p_input_tdim'"):
        hub.ssast_local(str(bad))
    state = ssast_state("patch")
    state["module.v.patch_embed.proj.weight"] = torch.zeros(DIM, 1, 8, 8)
    torch.save(state, bad)
    with pytest.raises(ValueError, match="patch shape \\(8, 8\\)"):
        hub.ssast_local(str(bad))
    with pytest.raises(ValueError, match="ssast_url"):
        hub.ssast_local("https://example.com/x.pth")


def test_pretraining_heads_are_logged_once_and_weights_checked(tmp_path, caplog):
    """The pre-training heads are read by no upstream: logged once, not refused; an int64
    positional grid is refused by name (before: bilinear resize crashed in torch)."""
    _, path = build_ssast_frame(tmp_path)
    with caplog.at_level("INFO", logger="s3prl.util.checkpoint"):
        hub.ssast_local(str(path))
        hub.ssast_local(str(path))
    logged = [r.getMessage() for r in caplog.records if "training-only" in r.getMessage()]
    assert logged == [
        f"checkpoint {path}: ignoring training-only entries ['module.cpredlayer.0.bias', "
        "'module.cpredlayer.0.weight', 'module.cpredlayer.2.bias', 'module.cpredlayer.2.weight', "
        "'module.gpredlayer.0.bias', 'module.gpredlayer.0.weight', 'module.gpredlayer.2.bias', "
        "'module.gpredlayer.2.weight', 'module.mask_embed']"
    ]
    state = ssast_state("frame")
    state["module.v.pos_embed"] = state["module.v.pos_embed"].round().long()
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError, match="pos_embed has dtype torch.int64, the model's is torch.float32"):
        hub.ssast_local(str(tmp_path / "bad.pth"))
