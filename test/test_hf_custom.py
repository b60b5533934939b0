"""Hugging Face model folders (hf_custom / hf_wav2vec2_custom / hf_hubert_custom /
hf_wavlm_custom): seeded reduced ``transformers`` models saved with ``save_pretrained``
are read back without ``transformers`` and compared hidden state by hidden state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import s3prl.hub as hub
from test.utils import assert_padding_invariant, mixed_length_wavs, needs, optional_import

transformers = optional_import("transformers")
# every test here builds its folder with transformers' save_pretrained: each is skipped
# without it (per test, reported one by one)
pytestmark = needs("transformers")

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             conv_dim=(24,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
LARGE = dict(do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)

CASES = {
    "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model", {}),
    "wav2vec2_large": ("Wav2Vec2Config", "Wav2Vec2Model", LARGE),
    "hubert": ("HubertConfig", "HubertModel", {}),
    # the Hub's DistilHuBERT conversion (ntu-spml/distilhubert): no LayerNorm on conv features
    "hubert_no_feature_ln": ("HubertConfig", "HubertModel", dict(feat_proj_layer_norm=False)),
    "wavlm": ("WavLMConfig", "WavLMModel", {}),
    "wavlm_large": ("WavLMConfig", "WavLMModel", LARGE),
    "unispeech_sat": ("UniSpeechSatConfig", "UniSpeechSatModel", {}),
}


def _seeded_model(case: str, seed: int = 0, model_cls: str | None = None):
    config_cls, default_cls, extra = CASES[case]
    torch.manual_seed(seed)
    config = getattr(transformers, config_cls)(**SMALL, **extra)
    model = getattr(transformers, model_cls or default_cls)(config).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # perturb every weight, norms and biases included
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def _expected(model, wavs: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(wavs, output_hidden_states=True)
    return [*out.hidden_states[:-1], out.last_hidden_state]


def _max_diff(ours, expected) -> float:
    assert len(ours) == len(expected)
    return max((a - b).abs().max().item() for a, b in zip(ours, expected))


@pytest.mark.parametrize("case", sorted(CASES))
def test_parity_save_pretrained(case, tmp_path):
    model = _seeded_model(case)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    ours = hub.hf_custom(str(tmp_path), normalize=False)
    batch = torch.randn(2, 40000, generator=torch.Generator().manual_seed(3)) * 0.1
    with torch.no_grad():
        got = ours(list(batch))["hidden_states"]
    assert _max_diff(got, _expected(model, batch)) <= 1e-4


def test_pytorch_model_bin_and_family_entries(tmp_path):
    model = _seeded_model("wavlm", seed=2)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    model.config.to_json_file(tmp_path / "config.json")
    wav = torch.randn(1, 30000, generator=torch.Generator().manual_seed(1)) * 0.1
    with torch.no_grad():
        got = hub.hf_wavlm_custom(tmp_path, normalize=False)(list(wav))["hidden_states"]
    assert _max_diff(got, _expected(model, wav)) <= 1e-4
    with pytest.raises(ValueError, match="'wavlm' model"):
        hub.hf_hubert_custom(tmp_path, normalize=False)
    with pytest.raises(ValueError, match="'wavlm' model"):
        hub.hf_wav2vec2_custom(tmp_path, normalize=False)


def test_task_model_prefix_and_heads_ignored(tmp_path):
    """A *ForCTC checkpoint: ``hubert.`` prefix, the ``lm_head`` is ignored."""
    ctc = _seeded_model("hubert", seed=4, model_cls="HubertForCTC")
    ctc.save_pretrained(tmp_path)
    wav = torch.randn(1, 20000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.no_grad():
        got = hub.hf_hubert_custom(str(tmp_path), normalize=False)(list(wav))["hidden_states"]
    assert _max_diff(got, _expected(ctc.hubert, wav)) <= 1e-4


def test_unknown_or_missing_parameters_are_errors(tmp_path):
    from safetensors.torch import load_file, save_file

    _seeded_model("wav2vec2", seed=5).save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    state["encoder.layers.0.attention.mystery"] = torch.zeros(2)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="mystery"):
        hub.hf_custom(str(tmp_path), normalize=False)
    del state["encoder.layers.0.attention.mystery"], state["encoder.layers.1.final_layer_norm.bias"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"encoder\.layers\.1\.final_layer_norm\.bias"):
        hub.hf_custom(str(tmp_path), normalize=False)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model_type"] = "speecht5"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="speecht5"):
        hub.hf_custom(str(tmp_path), normalize=False)


def test_repo_id_from_local_cache_only(tmp_path, monkeypatch):
    model = _seeded_model("wav2vec2", seed=6)
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--someone--tiny-w2v2" / "snapshots" / commit
    model.save_pretrained(snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(commit)
    (snapshot / "preprocessor_config.json").write_text(json.dumps({"do_normalize": True}))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    ours = hub.hf_wav2vec2_custom("someone/tiny-w2v2")
    assert ours.config.normalize is True  # follows preprocessor_config.json
    assert hub.hf_wav2vec2_custom("someone/tiny-w2v2", normalize=False).config.normalize is False
    wav = torch.randn(1, 20000, generator=torch.Generator().manual_seed(3))
    normed = torch.nn.functional.layer_norm(wav, wav.shape[-1:])
    with torch.no_grad():
        got = ours(list(wav))["hidden_states"]
    assert _max_diff(got, _expected(model, normed)) <= 1e-4
    with pytest.raises(FileNotFoundError, match="not in the local cache"):
        hub.hf_custom("someone/not-downloaded")


def test_padding_invariance(tmp_path):
    _seeded_model("wavlm", seed=7).save_pretrained(tmp_path)
    model = hub.hf_wavlm_custom(str(tmp_path), normalize=False)
    assert assert_padding_invariant(model, mixed_length_wavs(seed=6, seconds=(0.5, 16.0, 3.3))) <= 1e-4


def test_loading_does_not_import_transformers(tmp_path):
    _seeded_model("wavlm", seed=8).save_pretrained(tmp_path)
    code = (
        "import sys, torch, s3prl.hub as hub\n"
        f"m = hub.hf_wavlm_custom({str(tmp_path)!r}, normalize=False)\n"
        "m([torch.zeros(16000)])\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_normalize_from_preprocessor_config_or_explicit(tmp_path):
    """save_pretrained on a model writes no preprocessor_config.json: normalize= is then required;
    with the file, do_normalize decides (absent key: True, transformers' feature-extractor default)."""
    model = _seeded_model("wav2vec2", seed=9)
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"no preprocessor_config\.json.*normalize=True.*normalize=False"):
        hub.hf_custom(str(tmp_path))
    with pytest.raises(ValueError, match="no preprocessor_config.json"):
        hub.hf_wav2vec2_custom(str(tmp_path))
    assert hub.hf_custom(str(tmp_path), normalize=True).config.normalize is True
    pre = tmp_path / "preprocessor_config.json"
    for content, expected in [({"do_normalize": False}, False), ({"do_normalize": True}, True),
                              ({"feature_size": 1}, True)]:
        pre.write_text(json.dumps(content))
        assert hub.hf_custom(str(tmp_path)).config.normalize is expected, content
    # the normalised model gives transformers' hidden states of the normalised wav
    wav = torch.randn(1, 20000, generator=torch.Generator().manual_seed(4)) * 3
    normed = torch.nn.functional.layer_norm(wav, wav.shape[-1:])
    with torch.no_grad():
        got = hub.hf_custom(str(tmp_path))(list(wav))["hidden_states"]
    assert _max_diff(got, _expected(model, normed)) <= 1e-4
    pre.write_text(json.dumps({"do_normalize": "yes"}))
    with pytest.raises(ValueError, match="do_normalize must be true or false"):
        hub.hf_custom(str(tmp_path))
