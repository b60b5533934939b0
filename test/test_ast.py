"""AST: shared ViT blocks / patch embedding vs Hugging Face transformers' ``ViTLayer`` /
``ViTPatchEmbeddings`` / ``ASTPatchEmbeddings``, the fbank front end vs kaldi-native-fbank, and the
seeded AudioSet checkpoint (released layout) vs transformers' ``ASTForAudioClassification``
(its port of ``ASTModel``, Gong et al., ``ast_models.py``; s3prl 0.4.18 ``upstream/ast``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import s3prl.hub as hub
from s3prl.modules.vit import PatchEmbed, ViTBlock, resize_pos_grid
from s3prl.upstream.ast.frontend import FBANK_MEAN, FBANK_STD, ast_fbank
from test.checkpoint_builders.ast import DEPTH, DIM, ast_state, build_ast
from test.hf_reference import hf_ast, hf_vit_blocks
from test.utils import assert_padding_invariant, needs


@needs("transformers")
def test_vit_block_matches_transformers_vit_layer():
    torch.manual_seed(0)
    ours = ViTBlock(96, 3).eval()
    for p in ours.parameters():
        nn.init.normal_(p, std=0.3)
    state = {f"blocks.0.{k}": v for k, v in ours.state_dict().items()}
    (ref,) = hf_vit_blocks(state, "", 1, 96, 3)
    x = torch.randn(2, 37, 96)
    with torch.no_grad():
        y = ref(x)
        assert 0.1 < float((y - x).abs().max())  # the block did something
        assert (ours(x) - y).abs().max() <= 1e-5


@needs("transformers")
@pytest.mark.parametrize("patch, size", [((16, 16), (128, 1024)), ((128, 2), (128, 100))])
def test_patch_embed_matches_transformers_vit(patch, size):
    from transformers import ViTConfig
    from transformers.models.vit.modeling_vit import ViTPatchEmbeddings

    torch.manual_seed(1)
    ours = PatchEmbed(1, 32, patch, patch)
    ref = ViTPatchEmbeddings(ViTConfig(hidden_size=32, image_size=list(size), patch_size=list(patch),
                                       num_channels=1))  # fmt: skip
    ref.projection.load_state_dict(ours.proj.state_dict())
    x = torch.randn(2, 1, *size)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() <= 1e-5
    f, t = ours.grid(*size)
    assert f * t == ref.num_patches and (f, t) == (size[0] // patch[0], size[1] // patch[1])


@needs("transformers")
def test_strided_patch_embed_matches_transformers_ast():
    """AST's overlapping 16 x 16 patches at stride 10 (input ``(N, T, F)`` for transformers)."""
    from transformers import ASTConfig
    from transformers.models.audio_spectrogram_transformer import (
        modeling_audio_spectrogram_transformer as m,
    )

    cfg = ASTConfig(hidden_size=32, patch_size=16, frequency_stride=10, time_stride=10, max_length=100,
                    num_mel_bins=128)  # fmt: skip
    torch.manual_seed(2)
    ours = PatchEmbed(1, 32, (16, 16), (10, 10))
    ref = m.ASTPatchEmbeddings(cfg)
    ref.projection.load_state_dict(ours.proj.state_dict())
    x = torch.randn(2, 100, 128)
    with torch.no_grad():
        assert (ours(x.transpose(1, 2).unsqueeze(1)) - ref(x)).abs().max() <= 1e-5
    assert ours.grid(128, 100) == tuple(m.ASTEmbeddings(cfg).get_shape(cfg)) == (12, 9)


@pytest.mark.parametrize("bins", [64, 100])
def test_fbank_front_end_matches_kaldi_native_fbank(bins):
    """AST's options (hanning, no dither/energy, htk_compat) vs kaldi-native-fbank.

    kaldi-native-fbank (like Kaldi) refuses AST's 128 bins with a 512-point FFT: mel bin 3
    (counting from 0) covers no FFT bin. torchaudio's ``kaldi.fbank``, which AST used, does not
    check and gives that bin log(FLT_EPSILON); the 128-bin case is checked for that below.
    """
    knf = pytest.importorskip("kaldi_native_fbank")
    gen = torch.Generator().manual_seed(4)
    wav = torch.randn(16000, generator=gen) * 0.1
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = bins
    opts.use_energy = False
    opts.htk_compat = True
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, wav.tolist())
    fb.input_finished()
    ref = torch.stack([torch.tensor(fb.get_frame(i)) for i in range(fb.num_frames_ready)])
    ref = (ref - FBANK_MEAN) / (2 * FBANK_STD)
    ours = ast_fbank(wav[None], target_length=100, num_mel_bins=bins)[0]
    assert ref.shape == (98, bins)
    assert (ours[:98] - ref).abs().max() <= 1e-4
    assert torch.equal(ours[98:], torch.zeros(2, bins))  # zero padded to target_length


def test_fbank_128_bins_empty_bin():
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.MelBanksOptions()
    opts.num_bins = 128
    with pytest.raises(Exception, match="num_mel_bins too large"):
        knf.MelBanks(opts, knf.FrameExtractionOptions(), 1.0)
    wav = torch.randn(1, 16000, generator=torch.Generator().manual_seed(4)) * 0.1
    ours = ast_fbank(wav, target_length=98)[0]
    floor = (torch.log(torch.tensor(1.1920928955078125e-07)) - FBANK_MEAN) / (2 * FBANK_STD)
    assert torch.allclose(ours[:, 3], floor.expand(98), rtol=0, atol=1e-6)
    assert (ours[:, [0, 2, 4]] > floor + 0.1).all()  # its neighbours hold energy


def reference_ast(state: dict, fbank: torch.Tensor, grid_t: int = 101) -> tuple[list, torch.Tensor]:
    """transformers' ``ASTForAudioClassification`` on the checkpoint: per-block (N, t, 12 D)
    (patch tokens regrouped per time patch, frequency-major, as s3prl 0.4.18 upstream/ast does) and
    the logits."""
    out = hf_ast(state, DEPTH, DIM, DIM // 64)(fbank, output_hidden_states=True)
    assert len(out.hidden_states) == DEPTH + 1  # the embeddings, then one per block
    n = fbank.size(0)
    per_block = [h[:, 2:].reshape(n, 12, grid_t, DIM).transpose(1, 2).flatten(2) for h in out.hidden_states[1:]]
    return per_block, out.logits


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_ast(tmp_path_factory.mktemp("ast"))[1]


@needs("transformers")
def test_checkpoint_matches_transformers_ast(ckpt):
    state = ast_state()
    gen = torch.Generator().manual_seed(5)
    wavs = [torch.randn(200000, generator=gen) * 0.1, torch.randn(30000, generator=gen) * 0.1]
    cls = hub.ast(ckpt=str(ckpt)).eval()
    hs = hub.ast(ckpt=str(ckpt), feature_selection="hidden_states").eval()
    assert cls.hidden_sizes == [527] and cls.downsample_rate == 163840
    assert hs.hidden_sizes == [12 * DIM] * DEPTH and hs.downsample_rate == 1600
    with torch.no_grad():
        out_cls, out_hs = cls(wavs), hs(wavs)
        # windows of 163840 samples: wav 0 has two (the second zero padded), wav 1 one
        win = torch.zeros(3, 163840)
        win[0], win[1, : 200000 - 163840], win[2, :30000] = wavs[0][:163840], wavs[0][163840:], wavs[1]
        ref_blocks, ref_logits = reference_ast(state, ast_fbank(win, 1024))
    assert out_cls["hidden_states_len"].tolist() == [2, 1]
    assert (out_cls["hidden_states"][0][0] - ref_logits[:2]).abs().max() <= 1e-4
    assert (out_cls["hidden_states"][0][1, 0] - ref_logits[2]).abs().max() <= 1e-4
    # ceil(200000 / 1600) = 125 frames (101 from window 0, 24 from window 1); ceil(30000 / 1600) = 19
    assert out_hs["hidden_states_len"].tolist() == [125, 19]
    for ours, ref in zip(out_hs["hidden_states"], ref_blocks):
        assert (ours[0, :101] - ref[0]).abs().max() <= 1e-4
        assert (ours[0, 101:125] - ref[1, :24]).abs().max() <= 1e-4
        assert (ours[1, :19] - ref[2, :19]).abs().max() <= 1e-4


def test_hidden_states_padding_invariant(ckpt):
    model = hub.ast(ckpt=str(ckpt), feature_selection="hidden_states").eval()
    gen = torch.Generator().manual_seed(6)
    wavs = [torch.randn(n, generator=gen) * 0.1 for n in (8000, 170000, 40000)]
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_shorter_window_crops_positional_grid(ckpt):
    """5 s windows: 500 frames, 49 time patches: the middle of the 101 saved ones (AST's rule)."""
    model = hub.ast(ckpt=str(ckpt), window_secs=5.0, stride_secs=5.0)
    pos = ast_state()["module.v.pos_embed"]
    grid = pos[:, 2:].reshape(12, 101, DIM)[:, 50 - 24 : 50 - 24 + 49].reshape(1, -1, DIM)
    assert model.model.grid == (12, 49)
    assert torch.equal(model.model.pos_embed.data, torch.cat([pos[:, :2], grid], dim=1))
    # a grid that grows is interpolated (identity when the size is unchanged)
    same = resize_pos_grid(pos[:, 2:], (12, 101), (12, 101))
    assert torch.equal(same, pos[:, 2:])


def test_bad_checkpoint_and_options(tmp_path, ckpt):
    state = ast_state()
    del state["module.v.blocks.1.mlp.fc2.bias"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError, match="missing keys.*blocks.1.mlp.fc2.bias"):
        hub.ast(ckpt=str(bad))
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="not an AST/SSAST checkpoint"):
        hub.ast(ckpt=str(bad))
    with pytest.raises(ValueError, match="feature_selection"):
        hub.ast(ckpt=str(ckpt), feature_selection="logits")
