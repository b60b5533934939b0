"""wav2vec (v1) and vq-wav2vec: fairseq-layout checkpoints, reference numbers, padding, goldens."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import s3prl.hub as hub
from s3prl.util.audio import sample_speech_files
from s3prl.util.checkpoint import load_checkpoint
from s3prl.util.extract import hidden_states_of_files
from test.checkpoint_builders import vq_wav2vec as vq_builders
from test.checkpoint_builders import wav2vec as w2v_builders
from test.utils import (
    assert_matches_golden,
    assert_padding_invariant,
    assert_same_hidden_states,
    mixed_length_wavs,
)

ALL = {**w2v_builders.BUILDERS, **vq_builders.BUILDERS}


def reference_forward(ckpt_path: Path, wav: torch.Tensor) -> list[torch.Tensor]:
    """fairseq wav2vec semantics written with plain torch ops, on one unpadded wav.

    GroupNorm(1, C) over the whole (unpadded) sequence, replication pad on the left
    of each aggregator conv, fairseq's Gumbel (one-hot x vars) / k-means (full
    distance tensor) quantizers. Returns z, aggregator blocks 0..n-2, c as (frames, dim).
    """
    ck = load_checkpoint(ckpt_path)
    a, sd = ck["args"], ck["model"]
    act = F.gelu if a.activation == "gelu" else F.relu
    feat = eval(a.conv_feature_layers)  # noqa: S307 - test literal
    agg = eval(a.conv_aggregator_layers)  # noqa: S307
    x = wav[None, None, :]
    for i, (_dim, _k, s) in enumerate(feat):
        x = F.conv1d(x, sd[f"feature_extractor.conv_layers.{i}.0.weight"], stride=s)
        x = F.group_norm(x, 1, sd[f"feature_extractor.conv_layers.{i}.2.weight"], sd[f"feature_extractor.conv_layers.{i}.2.bias"])
        x = act(x)
    if a.log_compression:
        x = (x.abs() + 1).log()
    out = [x[0].T]
    if a.vq_type == "gumbel":
        h = x[0].T
        h = act(F.linear(h, sd["vector_quantizer.weight_proj.0.0.weight"], sd["vector_quantizer.weight_proj.0.0.bias"]))
        h = F.linear(h, sd["vector_quantizer.weight_proj.1.weight"], sd["vector_quantizer.weight_proj.1.bias"])
        t = h.shape[0]
        h = h.view(t * a.vq_groups, -1)
        hard = torch.zeros_like(h).scatter_(-1, h.argmax(-1, keepdim=True), 1.0).view(t, -1)
        vars_ = sd["vector_quantizer.vars"]
        if a.combine_groups:
            vars_ = vars_.repeat(1, a.vq_groups, 1)
        q = (hard.unsqueeze(-1) * vars_).view(t, a.vq_groups, a.vq_vars, -1).sum(-2).view(t, -1)
        x = q.T[None]
    elif a.vq_type == "kmeans":
        ze = F.conv1d(x, sd["vector_quantizer.projection.0.weight"], groups=a.vq_groups)
        ze = F.group_norm(ze, a.vq_groups, sd["vector_quantizer.projection.1.weight"], sd["vector_quantizer.projection.1.bias"])
        b, c, t = ze.shape
        emb = sd["vector_quantizer.embedding"]
        ze_ = ze.view(b, a.vq_groups, c // a.vq_groups, t).permute(0, 3, 1, 2)
        d = (ze_.unsqueeze(0) - emb.unsqueeze(1).unsqueeze(1)).norm(dim=-1)
        idx = d.argmin(dim=0)
        zq = torch.stack([emb[idx[..., g], g] for g in range(a.vq_groups)], dim=-2).view(b, t, -1).permute(0, 2, 1)
        x = zq
    scale = math.sqrt(a.residual_scale)
    in_d = x.shape[1]
    for i, (dim, k, _s) in enumerate(agg):
        res = x
        h = F.pad(x, (k - 1, 0), mode="replicate")
        h = F.conv1d(h, sd[f"feature_aggregator.conv_layers.{i}.1.weight"], sd[f"feature_aggregator.conv_layers.{i}.1.bias"])
        h = act(F.group_norm(h, 1, sd[f"feature_aggregator.conv_layers.{i}.3.weight"], sd[f"feature_aggregator.conv_layers.{i}.3.bias"]))
        if in_d != dim:
            res = F.conv1d(res, sd[f"feature_aggregator.residual_proj.{i}.weight"])
        x = (h + res) * scale
        in_d = dim
        out.append(x[0].T)
    return out


@pytest.mark.parametrize("golden", sorted(ALL))
def test_local_matches_reference_and_padding(golden, tmp_path):
    entry_name, path = ALL[golden](tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert model.downsample_rate == 160
    assert model.receptive_field == 465  # 10 + 7*5 + 3*20 + 3*40 + 3*80
    assert model.hidden_sizes == [32, 32, 32, 40]
    wavs = mixed_length_wavs(seed=1, seconds=(0.2, 2.0, 1.1))
    with torch.no_grad():
        out = model(wavs)
    assert len(out["hidden_states"]) == 4
    expect_frames = []
    for w in wavs:
        n = w.numel()
        for _, k, s in w2v_builders.FEAT:
            n = (n - k) // s + 1
        expect_frames.append(n)
    assert out["hidden_states_len"].tolist() == expect_frames
    worst = 0.0
    for i, wav in enumerate(wavs):
        ref = reference_forward(path, wav)
        n = int(out["hidden_states_len"][i])
        assert len(ref) == 4
        for k, r in enumerate(ref):
            assert r.shape[0] == n
            worst = max(worst, (out["hidden_states"][k][i, :n] - r).abs().max().item())
    assert worst < 1e-4, worst
    assert assert_padding_invariant(model, mixed_length_wavs()) <= 1e-4


def test_codewords_really_quantized(tmp_path):
    """vq models feed codewords to the aggregator: block-0 input has few distinct rows."""
    _, path = vq_builders.build_gumbel(tmp_path)
    ck = load_checkpoint(path)
    vars_ = ck["model"]["vector_quantizer.vars"][0]
    model = hub.vq_wav2vec_local(str(path))
    wav = mixed_length_wavs(seed=3, seconds=(1.0,))[0]
    ref = reference_forward(path, wav)
    with torch.no_grad():
        out = model([wav])
    assert torch.allclose(out["hidden_states"][-1][0], ref[-1], atol=1e-4)
    assert vars_.shape == (24, 16)


@pytest.mark.parametrize("golden", sorted(ALL))
def test_golden(golden, tmp_path):
    entry_name, path = ALL[golden](tmp_path)
    model = hub.load(entry_name, ckpt=str(path))
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))


def test_url_entries(tmp_path):
    from test.http_server import serve_directory

    _, path = w2v_builders.build_wav2vec(tmp_path / "files")
    _, vpath = vq_builders.build_kmeans(tmp_path / "files")
    wav = mixed_length_wavs(seed=4, seconds=(0.7,))
    with serve_directory(tmp_path / "files") as server:
        m1 = hub.wav2vec_url(server.url + path.name)
        m2 = hub.vq_wav2vec_url(server.url + vpath.name)
        assert server.requests["/" + path.name] >= 1
    assert_same_hidden_states(m1, hub.wav2vec_local(str(path)), wav)
    assert_same_hidden_states(m2, hub.vq_wav2vec_local(str(vpath)), wav)


def _rewrite(path: Path, fn) -> Path:
    ck = load_checkpoint(path)
    fn(ck)
    out = path.with_name("bad_" + path.name)
    torch.save(ck, out)
    return out


CONVERTED = {
    "wav2vec_tiny": (w2v_builders._args(), 11),
    "vq_wav2vec_gumbel_tiny": (w2v_builders._args(vq_type="gumbel", vq_groups=2, vq_depth=2, combine_groups=True,
                                                  vq_vars=24, activation="gelu", log_compression=False), 12),
    "vq_wav2vec_kmeans_tiny": (w2v_builders._args(vq_type="kmeans", vq_groups=2, vq_vars=24, log_compression=False), 13),
}  # fmt: skip


@pytest.mark.parametrize("golden", sorted(CONVERTED))
def test_s3prl_converted_layout(golden, tmp_path):
    """s3prl 0.4.18's converted file (``task_cfg``/``model_cfg``/``model_weight``, its default download)
    gives the golden hidden states of the fairseq file it was converted from, via _local, _url and _custom."""
    from test.http_server import serve_directory

    args, seed = CONVERTED[golden]
    entry_name = ALL[golden](tmp_path)[0]
    path = w2v_builders.write_s3prl_converted(tmp_path / "files", args, seed, "converted.pt")
    model = hub.load(entry_name, ckpt=str(path))
    assert model.layout == "s3prl-converted"
    assert_matches_golden(golden, hidden_states_of_files(model, sample_speech_files()))
    custom = entry_name.replace("_local", "_custom")
    wav = mixed_length_wavs(seed=4, seconds=(0.7,))
    with serve_directory(tmp_path / "files") as server:
        assert_same_hidden_states(model, hub.load(entry_name.replace("_local", "_url"), ckpt=server.url + path.name), wav)
        assert_same_hidden_states(model, hub.load(custom, ckpt=server.url + path.name), wav)
    assert_same_hidden_states(model, hub.load(custom, ckpt=str(path)), wav)


def test_converted_defaults_are_wav2vec_config(tmp_path):
    """A converted ``model_cfg`` lacking a field takes fairseq ``Wav2VecConfig``'s default (as s3prl's
    ``merge_with_parent``): skip_connections_agg and log_compression on; the argparse era's are off."""
    drop = ("skip_connections_agg", "log_compression")
    args = w2v_builders._args()  # both True
    assert args.skip_connections_agg and args.log_compression
    full = hub.wav2vec_local(str(w2v_builders.write_s3prl_converted(tmp_path, args, 11, "full.pt")))
    lean = hub.wav2vec_local(str(w2v_builders.write_s3prl_converted(tmp_path, args, 11, "lean.pt", drop=drop)))
    wav = mixed_length_wavs(seed=5, seconds=(0.6,))
    assert_same_hidden_states(full, lean, wav)
    assert (lean.model.cfg["skip_connections_agg"], lean.model.cfg["log_compression"]) == (True, True)
    legacy = w2v_builders.write_fairseq_wav2vec(tmp_path, w2v_builders._args(skip_connections_agg=False,
                                                                              log_compression=False), 11, "a.pt")
    ck = load_checkpoint(legacy)
    for k in drop:
        delattr(ck["args"], k)
    torch.save(ck, legacy)
    assert hub.wav2vec_local(str(legacy)).model.cfg["log_compression"] is False


def test_bad_keys_are_errors(tmp_path):
    _, path = w2v_builders.build_wav2vec(tmp_path)
    missing = _rewrite(path, lambda ck: ck["model"].pop("feature_aggregator.conv_layers.1.3.bias"))
    with pytest.raises(KeyError, match=r"missing keys \['feature_aggregator.conv_layers.1.3.bias'\]"):
        hub.wav2vec_local(str(missing))
    extra = _rewrite(path, lambda ck: ck["model"].__setitem__("encoder.extra.weight", torch.zeros(2)))
    with pytest.raises(KeyError, match=r"unexpected keys \['encoder.extra.weight'\]"):
        hub.wav2vec_local(str(extra))
    no_args = _rewrite(path, lambda ck: ck.pop("args"))
    with pytest.raises(ValueError, match=r"not a wav2vec checkpoint: .*top-level keys are \['extra_state'"):
        hub.wav2vec_local(str(no_args))
    bad_layers = _rewrite(path, lambda ck: setattr(ck["args"], "conv_feature_layers", "__import__('os')"))
    with pytest.raises(ValueError, match="conv_feature_layers"):
        hub.wav2vec_local(str(bad_layers))
    with pytest.raises(FileNotFoundError):
        hub.wav2vec_local(str(tmp_path / "nope.pt"))


def test_too_short_wav_is_an_error(tmp_path):
    _, path = w2v_builders.build_wav2vec(tmp_path)
    model = hub.wav2vec_local(str(path))
    with pytest.raises(ValueError, match="wav 1 has 400 samples"):
        model([torch.zeros(1000), torch.zeros(400)])


def test_entries_metadata(monkeypatch):
    """Default checkpoints as in s3prl 0.4.18's hubconf: its converted mirror; ``legacy=True``: fairseq's file."""
    import s3prl.upstream.vq_wav2vec.hubconf as vq_hubconf
    import s3prl.upstream.wav2vec.hubconf as w2v_hubconf

    mirror = "https://huggingface.co/s3prl/converted_ckpts/resolve/main/"
    fairseq = "https://dl.fbaipublicfiles.com/fairseq/wav2vec/"
    files = {"wav2vec": "wav2vec_large.pt", "wav2vec_large": "wav2vec_large.pt", "vq_wav2vec": "vq-wav2vec.pt",
             "vq_wav2vec_gumbel": "vq-wav2vec.pt", "vq_wav2vec_kmeans": "vq-wav2vec_kmeans.pt"}
    asked = []
    for mod in (w2v_hubconf, vq_hubconf):
        monkeypatch.setattr(mod, "_load", lambda ckpt, **kw: asked.append(ckpt))
    for name, file in files.items():
        info = getattr(hub, name).info
        assert info.ckpt == mirror + file
        assert (info.stride, info.layers, info.hidden_size) == (160, 13, 512)
        getattr(hub, name)()
        getattr(hub, name)(legacy=True)
        getattr(hub, name)(ckpt="/x.pt", legacy=True)
        assert asked[-3:] == [mirror + file, fairseq + file, "/x.pt"]


LARGE_FEAT = "[(512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2), (512, 1, 1), (512, 1, 1), (512, 1, 1)]"
LARGE_AGG = str([(512, k, 1) for k in range(2, 14)])


@pytest.mark.slow
@pytest.mark.parametrize("entry,over", [
    ("wav2vec_large", {}),
    ("vq_wav2vec_gumbel", dict(vq_type="gumbel", vq_groups=2, vq_depth=2, combine_groups=True, activation="gelu",
                               log_compression=False)),
    ("vq_wav2vec_kmeans", dict(vq_type="kmeans", vq_groups=2, log_compression=False)),
])  # fmt: skip
def test_full_size_layout_matches_registry(entry, over, tmp_path):
    """Full-size seeded checkpoints with the released args give the registry's layer count / size / stride."""
    args = w2v_builders._args(conv_feature_layers=LARGE_FEAT, conv_aggregator_layers=LARGE_AGG, vq_vars=320,
                              prediction_steps=12, **over)  # fmt: skip
    path = w2v_builders.write_fairseq_wav2vec(tmp_path, args, seed=1, name="large.pt")
    model = getattr(hub, entry)(ckpt=str(path))
    info = getattr(hub, entry).info
    assert (model.num_layers, model.hidden_sizes[-1], model.downsample_rate) == (info.layers, info.hidden_size, info.stride)
    assert model.receptive_field == 465
    wav = mixed_length_wavs(seed=9, seconds=(1.0,))
    with torch.no_grad():
        out = model(wav)
    assert out["hidden_states_len"].tolist() == [98]  # (16000 - 465) // 160 + 1 (the 1x1 layers keep it)
