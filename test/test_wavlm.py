"""WavLM: parity with transformers' WavLMModel, UniLM/fairseq layouts, padding, golden, errors.

Reduced-size checkpoints with seeded random weights are written in the UniLM release
layout by ``test/checkpoint_builders/wavlm.py`` and loaded through ``wavlm_local``;
the same weights are mapped (independently of s3prl's loader) into ``transformers``'
``WavLMModel``, and every hidden state is compared.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from test.checkpoint_builders.wavlm import (
    base_cfg,
    build_wavlm_base,
    hf_config_kwargs,
    large_cfg,
    unilm_state_dict,
    unilm_to_hf_state_dict,
    write_unilm,
)
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
    needs,
    optional_import,
)

transformers = optional_import("transformers")  # only the parity tests need it

CFGS = {"base": base_cfg, "large": large_cfg}


def _hf_reference(cfg: dict, seed: int):
    model = transformers.WavLMModel(transformers.WavLMConfig(**hf_config_kwargs(cfg))).eval()
    model.load_state_dict(unilm_to_hf_state_dict(unilm_state_dict(cfg, seed), cfg), strict=True)
    return model


def _reference_hidden_states(model, wavs: torch.Tensor, normalize: bool) -> list[torch.Tensor]:
    x = F.layer_norm(wavs, wavs.shape[-1:]) if normalize else wavs
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    # transformers (5.x) records the input of each layer and the last layer's output
    # before the final LayerNorm; s3prl's last hidden state is last_hidden_state.
    return [*out.hidden_states[:-1], out.last_hidden_state]


@needs("transformers")
@pytest.mark.parametrize("variant", ["base", "large"])
def test_parity_with_transformers(variant, tmp_path):
    cfg = CFGS[variant]()
    ours = hub.wavlm_local(write_unilm(tmp_path, cfg, seed=5))
    ref = _hf_reference(cfg, seed=5)
    gen = torch.Generator().manual_seed(0)
    # 5 s = 249 frames: relative distances beyond the 80 exact buckets are exercised
    batch = torch.randn(2, 80000, generator=gen) * 0.1
    expected = _reference_hidden_states(ref, batch, cfg["normalize"])
    with torch.no_grad():
        out = ours(list(batch))
    assert len(out["hidden_states"]) == cfg["encoder_layers"] + 1 == len(expected)
    worst = max((a - b).abs().max().item() for a, b in zip(out["hidden_states"], expected))
    assert worst <= 1e-4, f"{variant}: max abs diff {worst:.3g}"
    assert out["hidden_states_len"].tolist() == [249, 249]


def test_relative_position_bias_matters(tmp_path):
    """Zeroing the bucket embedding changes the output (the bias is really used)."""
    cfg = base_cfg()
    path = write_unilm(tmp_path, cfg, seed=5)
    model = hub.wavlm_local(path)
    wav = torch.randn(32000, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        a = model([wav])["last_hidden_state"]
        model.model.encoder.layers[0].self_attn.relative_attention_bias.weight.zero_()
        b = model([wav])["last_hidden_state"]
    assert (a - b).abs().max().item() > 1e-2


@needs("transformers")
def test_buckets_match_transformers():
    from transformers.models.wavlm.modeling_wavlm import WavLMAttention

    from s3prl.upstream.wavlm.attention import relative_position_buckets

    attn = WavLMAttention(32, 4, num_buckets=320, max_distance=800)
    n = 1100  # beyond max_distance: the last bucket of each direction is used
    pos = torch.arange(n)
    expected = attn._relative_positions_bucket(pos[None, :] - pos[:, None])
    ours = relative_position_buckets(n, 320, 800)
    assert torch.equal(ours, expected)
    assert int(ours.max()) == 319 and int(ours.min()) == 0


@pytest.mark.parametrize("variant", ["base", "large"])
def test_padding_invariance(variant, tmp_path):
    model = hub.wavlm_local(write_unilm(tmp_path, CFGS[variant](), seed=6))
    wavs = mixed_length_wavs(seed=3, seconds=(0.5, 16.0, 3.2, 7.3))
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_fairseq_training_layout_and_legacy_names(tmp_path):
    """The fairseq checkpoint UniLM's files were cleaned from: cfg.model/cfg.task,
    training-only weights, ``gate_ur_linear``/``eco_a`` names; same numbers."""
    cfg = large_cfg()
    clean = write_unilm(tmp_path, cfg, seed=7)
    state = unilm_state_dict(cfg, 7)
    raw = {}
    for k, v in state.items():
        k = k.replace(".grep_linear.", ".gate_ur_linear.").replace(".grep_a", ".eco_a")
        raw[k] = v
    raw.update({
        "label_embs_concat": torch.randn(504, 16),
        "final_proj.weight": torch.randn(16, 32),
        "final_proj.bias": torch.randn(16),
        "encoder.layer_norm_for_extract.weight": torch.randn(32),
        "encoder.layer_norm_for_extract.bias": torch.randn(32),
    })
    model_cfg = {k: v for k, v in cfg.items() if k != "normalize"}
    model_cfg["_name"] = "wavlm"
    path = tmp_path / "fairseq.pt"
    torch.save({"cfg": {"model": model_cfg, "task": {"normalize": True, "sample_rate": 16000}},
                "model": raw, "optimizer_history": [], "extra_state": {}}, path)
    wav = torch.randn(24000, generator=torch.Generator().manual_seed(2)) * 0.1
    a, b = hub.wavlm_local(clean), hub.wavlm_local(path)
    assert b.config.normalize is True
    assert_same_hidden_states(a, b, [wav])


def test_s3prl_converted_layout(tmp_path):
    """The original s3prl toolkit's converted layout (``task_cfg``/``model_cfg``/``model_weight``)
    loads too, with the same numbers."""
    cfg = large_cfg()
    path = tmp_path / "converted.pt"
    torch.save({"task_cfg": {"normalize": True, "sample_rate": 16000},
                "model_cfg": {k: v for k, v in cfg.items() if k != "normalize"},
                "model_weight": unilm_state_dict(cfg, 3)}, path)
    wav = torch.randn(12000, generator=torch.Generator().manual_seed(5)) * 0.1
    a, b = hub.wavlm_custom(write_unilm(tmp_path, cfg, seed=3)), hub.wavlm_custom(str(path))
    assert_same_hidden_states(a, b, [wav])


def test_missing_and_unexpected_keys_are_errors(tmp_path):
    cfg = base_cfg()
    state = unilm_state_dict(cfg, 0)
    del state["encoder.layers.1.self_attn.grep_a"]
    state["encoder.layers.1.self_attn.mystery"] = torch.zeros(3)
    path = tmp_path / "bad.pt"
    torch.save({"cfg": cfg, "model": state}, path)
    with pytest.raises(ValueError, match=r"encoder\.layers\.1\.self_attn\.grep_a") as err:
        hub.wavlm_local(path)
    assert "mystery" in str(err.value)


def test_short_wav_and_train_mode(tmp_path):
    model = hub.wavlm_local(write_unilm(tmp_path, base_cfg(), seed=8))
    with pytest.raises(ValueError, match="wav 1 has 399 samples"):
        model([torch.zeros(16000), torch.zeros(399)])
    assert model([torch.zeros(400)])["hidden_states_len"].tolist() == [1]
    model.train()
    model.config.layerdrop = 0.9  # most layers dropped: the count must not change
    torch.manual_seed(0)
    for _ in range(3):
        out = model([torch.randn(8000)])
        assert len(out["hidden_states"]) == model.num_layers == 3


def test_entries_and_url(tmp_path):
    from test.http_server import serve_directory

    path = write_unilm(tmp_path / "files", base_cfg(), seed=9)
    with serve_directory(tmp_path / "files") as server:
        url = server.url + path.name
        by_url = hub.wavlm_url(url)
        by_custom = hub.wavlm_custom(url)
        with pytest.raises(ValueError, match="wavlm_url"):
            hub.wavlm_local(url)
    with pytest.raises(ValueError, match="wavlm_local"):
        hub.wavlm_url(str(path))
    wav = torch.randn(9000, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = hub.wavlm_local(path)([wav])["last_hidden_state"]
        assert torch.equal(by_url([wav])["last_hidden_state"], expected)
        assert torch.equal(by_custom([wav])["last_hidden_state"], expected)
    for name, layers, size in [("wavlm", 13, 768), ("wavlm_base", 13, 768), ("wavlm_base_plus", 13, 768),
                               ("wavlm_large", 25, 1024)]:
        info = getattr(hub, name).info
        assert (info.layers, info.hidden_size, info.stride) == (layers, size, 320)
        assert info.ckpt.startswith("https://huggingface.co/s3prl/converted_ckpts/")
    assert hub.wavlm.info.ckpt == hub.wavlm_base_plus.info.ckpt


def test_golden(tmp_path):
    from test.regenerate_goldens import build_model, golden_result

    _, model = build_model(build_wavlm_base, tmp_path)
    assert_matches_golden("wavlm_base_reduced", golden_result(model))


@needs("transformers")
@pytest.mark.slow
def test_full_size_base_parity(tmp_path):
    """WavLM Base+ sizes (12 x 768, 512-channel conv) against transformers."""
    cfg = base_cfg()
    cfg.update(encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
               conv_feature_layers="[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2", conv_pos=128,
               conv_pos_groups=16)
    ours = hub.wavlm_local(write_unilm(tmp_path, cfg, seed=10))
    ref = _hf_reference(cfg, seed=10)
    wav = torch.randn(1, 16000 * 4, generator=torch.Generator().manual_seed(0)) * 0.1
    expected = _reference_hidden_states(ref, wav, False)
    with torch.no_grad():
        out = ours(list(wav))["hidden_states"]
    assert max((a - b).abs().max().item() for a, b in zip(out, expected)) <= 1e-4


def test_bfloat16_dtype(tmp_path):
    """``dtype`` converts the parameters (meant for GPUs); the gated bias follows it."""
    path = write_unilm(tmp_path, base_cfg(), seed=11)
    wav = torch.randn(20000, generator=torch.Generator().manual_seed(6)) * 0.1
    with torch.no_grad():
        ref = hub.wavlm_local(path)([wav])["hidden_states"]
        out = hub.wavlm_local(path, dtype=torch.bfloat16)([wav])["hidden_states"]
    assert all(h.dtype == torch.bfloat16 for h in out)
    for a, b in zip(out, ref):
        assert (a.float() - b).abs().max().item() <= 0.1 * b.abs().max().item()
    with pytest.raises(TypeError, match="dtype"):
        hub.wavlm_local(path, dtype=torch.int8)
