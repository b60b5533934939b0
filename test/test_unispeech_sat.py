"""UniSpeech-SAT: parity with transformers' UniSpeechSatModel in both released layouts
(the original s3prl toolkit's converted ``{"cfg", "model"}`` files and the fairseq
training checkpoints with their training-only weights), padding, golden, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from test.checkpoint_builders.unispeech_sat import (
    build_base,
    sat_cfg,
    write_converted,
    write_fairseq,
)
from test.checkpoint_builders.wavlm import (
    hf_config_kwargs,
    unilm_state_dict,
    unilm_to_hf_state_dict,
)
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    mixed_length_wavs,
    needs,
    optional_import,
)

transformers = optional_import("transformers")  # only the parity test needs it


def _reference(cfg: dict, seed: int, wavs: torch.Tensor) -> list[torch.Tensor]:
    model = transformers.UniSpeechSatModel(transformers.UniSpeechSatConfig(**hf_config_kwargs(cfg))).eval()
    model.load_state_dict(unilm_to_hf_state_dict(unilm_state_dict(cfg, seed), cfg), strict=True)
    x = F.layer_norm(wavs, wavs.shape[-1:]) if cfg["normalize"] else wavs
    with torch.no_grad():
        out = model(x, output_hidden_states=True)
    return [*out.hidden_states[:-1], out.last_hidden_state]


@needs("transformers")
@pytest.mark.parametrize("large", [False, True], ids=["base", "large"])
@pytest.mark.parametrize("layout", ["converted", "fairseq"])
def test_parity_with_transformers(large, layout, tmp_path):
    writer = write_converted if layout == "converted" else write_fairseq
    model = hub.unispeech_sat_local(writer(tmp_path, large=large, seed=4))
    assert model.config.normalize is large
    assert model.config.extra["relative_position_embedding"] is False
    batch = torch.randn(2, 48000, generator=torch.Generator().manual_seed(0)) * 0.1
    expected = _reference(sat_cfg(large), 4, batch)
    with torch.no_grad():
        out = model(list(batch))["hidden_states"]
    assert len(out) == len(expected) == 3
    worst = max((a - b).abs().max().item() for a, b in zip(out, expected))
    assert worst <= 1e-4, f"max abs diff {worst:.3g}"


@pytest.mark.parametrize("large", [False, True], ids=["base", "large"])
def test_padding_invariance(large, tmp_path):
    model = hub.unispeech_sat_local(write_converted(tmp_path, large=large, seed=5))
    wavs = mixed_length_wavs(seed=4, seconds=(0.5, 16.0, 2.7, 9.1))
    assert assert_padding_invariant(model, wavs) <= 1e-4


def test_errors_and_train_mode(tmp_path):
    cfg = sat_cfg()
    cfg["expand_attention_head_size"] = 128
    path = tmp_path / "expand.pt"
    torch.save({"cfg": cfg, "model": unilm_state_dict(sat_cfg(), 0)}, path)
    with pytest.raises(ValueError, match="expand_attention_head_size"):
        hub.unispeech_sat_local(path)
    state = unilm_state_dict(sat_cfg(), 0)
    state["spk_proj_typo.weight"] = torch.zeros(2)
    torch.save({"cfg": sat_cfg(), "model": state}, path)
    with pytest.raises(ValueError, match="spk_proj_typo.weight"):
        hub.unispeech_sat_local(path)

    model = hub.unispeech_sat_local(write_converted(tmp_path, seed=6))
    with pytest.raises(ValueError, match="399 samples"):
        model([torch.zeros(399)])
    model.train()
    model.config.layerdrop = 0.9
    torch.manual_seed(0)
    assert all(len(model([torch.randn(6000)])["hidden_states"]) == 3 for _ in range(3))


def test_entries_and_url(tmp_path):
    from test.http_server import serve_directory

    path = write_converted(tmp_path / "files", seed=7)
    wav = torch.randn(7000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hub.unispeech_sat_local(path)([wav])["last_hidden_state"]
        with serve_directory(tmp_path / "files") as server:
            got = hub.unispeech_sat_url(server.url + path.name)([wav])["last_hidden_state"]
    assert torch.equal(got, expected)
    with pytest.raises(ValueError, match="unispeech_sat_local"):
        hub.unispeech_sat_url(str(path))
    for name, layers, size in [("unispeech_sat", 13, 768), ("unispeech_sat_base", 13, 768),
                               ("unispeech_sat_base_plus", 13, 768), ("unispeech_sat_large", 25, 1024)]:
        info = getattr(hub, name).info
        assert (info.layers, info.hidden_size, info.stride) == (layers, size, 320)
        assert info.ckpt.startswith(
            "https://huggingface.co/s3prl/converted_ckpts/resolve/main/unispeech_sat_")


def test_golden(tmp_path):
    from test.regenerate_goldens import build_model, golden_result

    _, model = build_model(build_base, tmp_path)
    assert_matches_golden("unispeech_sat_base_reduced", golden_result(model))
