"""wav2vec 2.0 Conformer (relative-position and rotary attention): fairseq-layout checkpoints,
parity with transformers' ``Wav2Vec2ConformerModel``, padding, goldens, errors.

The reference is ``transformers.Wav2Vec2ConformerModel`` (an independent implementation,
converted from fairseq), loaded with the same seeded weights renamed to its names. Its
hidden states are the input of each block and the raw output of the last one; the encoder
LayerNorm of these pre-LN models is in ``last_hidden_state``, our last hidden state (s3prl's
convention: the encoder output).
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.modules.position import relative_position_table, relative_shift
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import wav2vec2 as W
from test.checkpoint_builders import wav2vec2_conformer as C
from test.utils import assert_matches_golden, assert_padding_invariant, mixed_length_wavs

BUILDERS = {"rel_pos": C.build_relpos, "rope": C.build_rope}

_RULES = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(\w+)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(\w+)", r"feature_extractor.conv_layers.\1.layer_norm.\2"),
    (r"layer_norm\.(\w+)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(\w+)", r"feature_projection.projection.\1"),
    (r"mask_emb", "masked_spec_embed"),
    (r"encoder\.pos_conv\.0\.weight_g", "encoder.pos_conv_embed.conv.parametrizations.weight.original0"),
    (r"encoder\.pos_conv\.0\.weight_v", "encoder.pos_conv_embed.conv.parametrizations.weight.original1"),
    (r"encoder\.pos_conv\.0\.bias", "encoder.pos_conv_embed.conv.bias"),
    (r"encoder\.layers\.(\d+)\.(ffn[12])\.layer_norm\.(\w+)", r"encoder.layers.\1.\2_layer_norm.\3"),
    (r"encoder\.layers\.(\d+)\.(ffn[12])\.w_1\.(\w+)", r"encoder.layers.\1.\2.intermediate_dense.\3"),
    (r"encoder\.layers\.(\d+)\.(ffn[12])\.w_2\.(\w+)", r"encoder.layers.\1.\2.output_dense.\3"),
    (r"(encoder\.layer_norm\.\w+|encoder\.layers\.\d+\.(self_attn_layer_norm|self_attn|conv_module|"
     r"final_layer_norm)\..+)", r"\1"),
]


def fairseq_to_hf(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        if k.startswith(("quantizer.", "project_q.", "final_proj.")) or k.endswith("rotary_emb.inv_freq"):
            continue
        for pattern, repl in _RULES:
            if re.fullmatch(pattern, k):
                out[re.sub(pattern, repl, k)] = v
                break
        else:
            raise AssertionError(f"no transformers name for {k}")
    return out


def reference_model(position: str, sd: dict):
    import transformers

    config = transformers.Wav2Vec2ConformerConfig(
        hidden_size=W.DIM, num_hidden_layers=W.LAYERS, num_attention_heads=W.HEADS, intermediate_size=W.FFN,
        conv_dim=[c for c, _, _ in W.CONV], conv_kernel=[k for _, k, _ in W.CONV],
        conv_stride=[s for _, _, s in W.CONV], num_conv_pos_embeddings=W.CONV_POS,
        num_conv_pos_embedding_groups=W.CONV_POS_GROUPS, feat_extract_norm="layer", conv_bias=True,
        do_stable_layer_norm=True, hidden_act="swish", feat_extract_activation="gelu",
        position_embeddings_type={"rel_pos": "relative", "rope": "rotary"}[position],
        conv_depthwise_kernel_size=C.KERNEL, rotary_embedding_base=10000,
    )
    model = transformers.Wav2Vec2ConformerModel(config).eval()
    missing, unexpected = model.load_state_dict(fairseq_to_hf(sd), strict=False)
    assert not unexpected, unexpected
    assert set(missing) <= {"encoder.embed_positions.inv_freq"}, missing
    return model


@pytest.mark.parametrize("position", ["rel_pos", "rope"])
def test_parity_with_transformers(position, tmp_path):
    entry, path = BUILDERS[position](tmp_path)
    ours = hub.load(entry, ckpt=str(path))
    assert ours.config.extra["position"] == position and ours.config.normalize
    ref = reference_model(position, load_checkpoint(path)["model"])
    gen = torch.Generator().manual_seed(1)
    worst = 0.0
    for batch in (torch.randn(1, 16000 * 2 + 123, generator=gen) * 0.1, torch.randn(2, 16000, generator=gen) * 0.1):
        with torch.no_grad():
            out = ref(F.layer_norm(batch, batch.shape[-1:]), output_hidden_states=True)
            got = ours(list(batch))["hidden_states"]
        expected = [*out.hidden_states[:-1], out.last_hidden_state]
        assert len(got) == len(expected) == W.LAYERS + 1
        for k, (a, b) in enumerate(zip(got, expected)):
            assert a.shape == b.shape, (k, a.shape, b.shape)
            worst = max(worst, (a - b).abs().max().item())
    print(f"{position}: max abs diff vs transformers {worst:.3g}")
    assert worst <= 1e-4, f"{position}: max abs diff vs transformers {worst:.3g}"


@pytest.mark.parametrize("position", ["rel_pos", "rope"])
def test_padding_invariance(position, tmp_path):
    entry, path = BUILDERS[position](tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert assert_padding_invariant(model, mixed_length_wavs(seed=11, seconds=(0.4, 3.0, 1.3))) <= 1e-4


@pytest.mark.parametrize("position, golden", [("rel_pos", "wav2vec2_conformer_relpos_reduced"),
                                              ("rope", "wav2vec2_conformer_rope_reduced")])
def test_golden(position, golden, tmp_path):
    entry, path = BUILDERS[position](tmp_path)
    model = hub.load(entry, ckpt=str(path))
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))


def test_relative_shift_and_table():
    frames, dim = 5, 6
    table = relative_position_table(frames, dim)
    # row r is relative position T - 1 - r: sin(p w_k), cos(p w_k)
    for r in range(2 * frames - 1):
        p = frames - 1 - r
        w = torch.tensor([10000 ** (-2 * k / dim) for k in range(dim // 2)])
        assert torch.allclose(table[r, 0::2], torch.sin(p * w), atol=1e-6)
        assert torch.allclose(table[r, 1::2], torch.cos(p * w), atol=1e-6)
    scores = torch.randn(2, 3, frames, 2 * frames - 1)
    shifted = relative_shift(scores)
    for i in range(frames):
        for j in range(frames):
            assert torch.equal(shifted[..., i, j], scores[..., i, frames - 1 - i + j])


def test_named_entries_and_errors(tmp_path):
    for name, position in [("wav2vec2_conformer_relpos", "rel_pos"), ("wav2vec2_conformer_rope", "rope"),
                           ("wav2vec2_conformer_large_s2st_es_voxpopuli", "rel_pos"),
                           ("wav2vec2_conformer_large_s2st_en_librilight", "rope")]:
        fn = getattr(hub, name)
        assert fn.info.ckpt.startswith("https://dl.fbaipublicfiles.com/fairseq/")
        assert (fn.info.layers, fn.info.hidden_size, fn.info.stride) == (25, 1024, 320)
        _, path = BUILDERS[position](tmp_path / name)
        assert hub.load(name, ckpt=str(path)).config.extra["position"] == position
    # a transformer checkpoint is refused with a pointer to the wav2vec2 entries
    _, plain = W.build_large(tmp_path)
    with pytest.raises(ValueError, match="layer_type is 'transformer', not 'conformer': use wav2vec2_local"):
        hub.wav2vec2_conformer_local(str(plain))
    # a corrupted rotary table and a missing block weight are named
    _, path = C.build_rope(tmp_path / "bad")
    ck = load_checkpoint(path)
    ck["model"]["encoder.layers.1.self_attn.rotary_emb.inv_freq"] *= 2
    torch.save(ck, tmp_path / "bad_rope.pt")
    with pytest.raises(ValueError, match=r"encoder\.layers\.1\.self_attn\.rotary_emb\.inv_freq is not the base"):
        hub.wav2vec2_conformer_local(str(tmp_path / "bad_rope.pt"))
    ck = load_checkpoint(path)
    del ck["model"]["encoder.layers.0.conv_module.depthwise_conv.weight"]
    torch.save(ck, tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"missing keys \['encoder\.layers\.0\.conv_module\.depthwise_conv"):
        hub.wav2vec2_conformer_local(str(tmp_path / "missing.pt"))


def test_conformer_model_is_wav2vec2_model_with_conformer_encoder():
    """The Conformer model is the shared wav2vec 2.0 model with the encoder swapped: same
    front-end submodules, a ConformerEncoder as ``encoder``; giving both an encoder and a
    layer factory is refused."""
    from s3prl.modules.conformer import ConformerEncoder
    from s3prl.upstream.wav2vec2.modules import Wav2Vec2Config, Wav2Vec2Model, default_layer_factory
    from s3prl.upstream.wav2vec2_conformer.expert import ConformerWav2Vec2Model

    config = Wav2Vec2Config(conv_layers=[(8, 10, 5), (8, 3, 2)], embed_dim=16, ffn_dim=32, num_heads=2,
                            num_layers=2, extra={"kernel": 3, "position": "rope"})
    model = ConformerWav2Vec2Model(config)
    assert isinstance(model, Wav2Vec2Model) and isinstance(model.encoder, ConformerEncoder)
    assert sorted(n for n, _ in model.named_children()) == [
        "dropout_input", "encoder", "feature_extractor", "layer_norm", "post_extract_proj"]
    torch.manual_seed(0)
    hidden, frames = model.eval()(torch.randn(2, 400), torch.tensor([400, 300]))
    assert len(hidden) == 3 and hidden[0].shape == (2, 39, 16) and frames.tolist() == [39, 29]
    with pytest.raises(ValueError, match="not both"):
        Wav2Vec2Model(config, default_layer_factory, ConformerEncoder(16, 32, 2, 1, 3, "rope"))
