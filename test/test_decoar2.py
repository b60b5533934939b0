"""DeCoAR 2.0: released-layout checkpoint, transformers / kaldi-native-fbank references, padding, goldens."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.upstream.decoar2.expert import decoar2_features
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import decoar2 as builders
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
    needs,
)


def reference_features(wav: torch.Tensor) -> torch.Tensor:
    """kaldi-native-fbank (80 bins, hamming, no dither), CMVN with unbiased std, every 2nd frame."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hamming"
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(16000, wav.double().tolist())
    fb.input_finished()
    y = torch.tensor(np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)]), dtype=torch.float64)
    y = (y - y.mean(0, keepdim=True)) / (1e-10 + y.std(0, keepdim=True))
    return y[::2]


def reference_encoder(state: dict, feats: torch.Tensor) -> list[torch.Tensor]:
    """transformers' Wav2Vec2Encoder (post-LN = fairseq layer_norm_first=False) with the checkpoint weights."""
    from transformers import Wav2Vec2Config
    from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Encoder

    cfg = Wav2Vec2Config(
        hidden_size=builders.DIM, num_hidden_layers=builders.LAYERS, num_attention_heads=12,
        intermediate_size=builders.FFN, num_conv_pos_embeddings=builders.KERNEL,
        num_conv_pos_embedding_groups=builders.GROUPS, hidden_act="gelu", layer_norm_eps=1e-5,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
    )  # fmt: skip
    cfg._attn_implementation = "eager"
    enc = Wav2Vec2Encoder(cfg).eval()
    own = enc.state_dict()
    mapped = {}
    for k, v in state.items():
        if not k.startswith("encoder."):
            continue
        k = k[len("encoder."):]
        k = k.replace("pos_conv.0.", "pos_conv_embed.conv.").replace("self_attn.", "attention.")
        k = k.replace("self_attn_layer_norm", "layer_norm").replace("attention_layer_norm", "layer_norm")
        k = k.replace("fc1", "feed_forward.intermediate_dense").replace("fc2", "feed_forward.output_dense")
        if "pos_conv_embed.conv.weight_g" in k and k not in own:
            k = k.replace("weight_g", "parametrizations.weight.original0")
        if "pos_conv_embed.conv.weight_v" in k and k not in own:
            k = k.replace("weight_v", "parametrizations.weight.original1")
        mapped[k] = v
    # attention layer norm: fairseq self_attn_layer_norm -> transformers layers.i.layer_norm
    missing = set(own) - set(mapped)
    assert not missing and not set(mapped) - set(own), (missing, set(mapped) - set(own))
    enc.load_state_dict(mapped)
    x = torch.nn.functional.linear(feats, state["post_extract_proj.weight"], state["post_extract_proj.bias"])
    inputs = []  # the input of each layer, captured by pre-hooks (= the original s3prl hooks)
    hooks = [layer.register_forward_pre_hook(lambda m, a: inputs.append(a[0][0])) for layer in enc.layers]
    with torch.no_grad():
        out = enc(x[None])
    for h in hooks:
        h.remove()
    return inputs + [out.last_hidden_state[0]]


@needs("kaldi_native_fbank")
def test_features_match_kaldi_native_fbank():
    wav = mixed_length_wavs(seed=5, seconds=(1.3,))[0]
    ours, n = decoar2_features(wav[None].double(), torch.tensor([wav.numel()]))
    ref = reference_features(wav)
    assert int(n[0]) == ref.shape[0] == (1 + (wav.numel() - 400) // 160 + 1) // 2
    assert (ours[0] - ref).abs().max().item() < 1e-3


@needs("transformers")
def test_local_matches_transformers_reference_and_padding(tmp_path):
    entry_name, path = builders.build_decoar2(tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert (model.downsample_rate, model.receptive_field) == (320, 400)
    assert model.hidden_sizes == [48] * 3
    state = load_checkpoint(path)["model"]
    wavs = mixed_length_wavs(seed=6, seconds=(0.5, 1.7))
    worst = 0.0
    with torch.no_grad():
        out = model(wavs)
        for i, wav in enumerate(wavs):
            feats, _ = decoar2_features(wav[None], torch.tensor([wav.numel()]))
            ref = reference_encoder(state, feats[0])
            n = int(out["hidden_states_len"][i])
            assert len(ref) == 3 and ref[0].shape[0] == n
            for k, r in enumerate(ref):
                worst = max(worst, (out["hidden_states"][k][i, :n] - r).abs().max().item())
    assert worst < 1e-4, worst
    assert assert_padding_invariant(model, mixed_length_wavs()) <= 1e-4


def test_golden(tmp_path):
    entry_name, path = builders.build_decoar2(tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert_matches_golden("decoar2_tiny", hidden_states_of_files(model, sample_speech_files()))


def test_url_entry(tmp_path):
    from test.http_server import serve_directory

    _, path = builders.build_decoar2(tmp_path / "files")
    wav = mixed_length_wavs(seed=4, seconds=(0.7,))
    with serve_directory(tmp_path / "files") as server:
        remote = hub.decoar2_url(server.url + path.name)
        assert server.requests["/" + path.name] >= 1
    assert_same_hidden_states(remote, hub.decoar2_local(str(path)), wav)


def test_bad_checkpoints(tmp_path):
    sd = builders.make_state()
    sd.pop("encoder.layers.1.fc2.bias")
    sd["encoder.extra.weight"] = torch.zeros(3)
    torch.save({"model": sd}, tmp_path / "bad.pt")
    with pytest.raises(KeyError, match=r"missing keys \['encoder.layers.1.fc2.bias'\]; unexpected keys \['encoder.extra.weight'\]"):
        hub.decoar2_local(str(tmp_path / "bad.pt"))
    torch.save(builders.make_state(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="'model' state dict"):
        hub.decoar2_local(str(tmp_path / "bare.pt"))
    _, path = builders.build_decoar2(tmp_path)
    with pytest.raises(ValueError, match="not divisible by attention_heads=5"):
        hub.decoar2_local(str(path), attention_heads=5)


def test_entry_metadata():
    info = hub.decoar2.info
    assert info.ckpt == "https://speech-representation.s3.us-west-2.amazonaws.com/checkpoint_decoar2.pt"
    assert (info.input, info.stride, info.layers, info.hidden_size) == ("fbank", 320, 13, 768)


@pytest.mark.slow
def test_full_size_layout_matches_registry(tmp_path, monkeypatch):
    """A full-size seeded DeCoAR 2.0 checkpoint (768, 12 layers, FFN 3072, pos conv 128/16) gives 13 x 768, stride 320."""
    for k, v in dict(DIM=768, FFN=3072, LAYERS=12, KERNEL=128, GROUPS=16).items():
        monkeypatch.setattr(builders, k, v)
    _, path = builders.build_decoar2(tmp_path)
    model = hub.decoar2(ckpt=str(path))
    info = hub.decoar2.info
    assert (model.num_layers, model.hidden_sizes[-1], model.downsample_rate) == (info.layers, info.hidden_size, info.stride)
    with torch.no_grad():
        out = model(mixed_length_wavs(seed=9, seconds=(1.0,)))
    assert out["hidden_states_len"].tolist() == [49]  # ceil(98 / 2)
