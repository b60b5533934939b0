"""VGGish vs ``torchvggish`` (harritaylor/torchvggish, installed as a test dependency when
available): the log-mel examples vs ``vggish_input.waveform_to_examples``, the network and
the PCA post-processing vs ``torchvggish.VGG`` (full size: slow) or an ``nn.Sequential``
re-statement (reduced, quick)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import s3prl.hub as hub
from s3prl.upstream.vggish.expert import vggish_log_mel
from s3prl.util.checkpoint import CheckpointKeyError
from test.checkpoint_builders.vggish import CONV_IDS, build_vggish, make_pca, make_state
from test.utils import assert_padding_invariant


def test_examples_match_torchvggish():
    vi = pytest.importorskip("torchvggish.vggish_input")
    wav = torch.randn(40000, generator=torch.Generator().manual_seed(5)) * 0.1
    ref = vi.waveform_to_examples(wav.double().numpy(), 16000)  # (2, 1, 96, 64)
    ours = vggish_log_mel(wav[None].double())[0]
    assert ours.shape == (1 + (40000 - 400) // 160, 64) and ref.shape == (2, 1, 96, 64)
    assert (ours[:192].reshape(2, 1, 96, 64).float() - ref).abs().max() <= 1e-4


def reference(state: dict, pca: dict, examples: torch.Tensor, postprocess: bool) -> torch.Tensor:
    convs = [state[f"features.{i}.weight"].shape[0] for i in CONV_IDS]
    layers, cin = [], 1
    for k, c in enumerate(convs):
        layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU()] + ([nn.MaxPool2d(2, 2)] if k in (0, 1, 3, 5) else [])
        cin = c
    feats = nn.Sequential(*layers)
    feats.load_state_dict({f"{i}.{p}": state[f"features.{j}.{p}"] for i, j in zip(
        [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d)], CONV_IDS) for p in ("weight", "bias")})
    x = feats(examples).transpose(1, 3).transpose(1, 2).reshape(examples.size(0), -1)
    for i in (0, 2, 4):
        x = torch.relu(x @ state[f"embeddings.{i}.weight"].T + state[f"embeddings.{i}.bias"])
    if postprocess:
        m = torch.as_tensor(pca["pca_eigen_vectors"]).float()
        mu = torch.as_tensor(pca["pca_means"]).float().reshape(-1, 1)
        x = torch.round((torch.mm(m, x.t() - mu).t().clamp(-2, 2) + 2) * (255.0 / 4))
    return x


@pytest.mark.parametrize("postprocess", [True, False])
def test_reduced_checkpoint_matches_reference(tmp_path, postprocess):
    entry, path = build_vggish(tmp_path)
    model = hub.load(entry, ckpt=str(path), postprocess=postprocess).eval()
    assert model.hidden_sizes == [128] and model.downsample_rate == 15360 and model.receptive_field == 15600
    gen = torch.Generator().manual_seed(6)
    wavs = [torch.randn(50000, generator=gen) * 0.1, torch.randn(16000, generator=gen) * 0.1]
    with torch.no_grad():
        out = model(wavs)
        ex = [vggish_log_mel(w[None])[0] for w in wavs]
        ref0 = reference(make_state(), make_pca(), ex[0][:288].reshape(3, 1, 96, 64), postprocess)
        ref1 = reference(make_state(), make_pca(), ex[1][:96].reshape(1, 1, 96, 64), postprocess)
    assert out["hidden_states_len"].tolist() == [3, 1]
    tol = 1.0 if postprocess else 1e-4  # quantised: a value on a rounding edge may flip by one step
    assert (out["hidden_states"][0][0] - ref0).abs().max() <= tol
    assert (out["hidden_states"][0][1, :1] - ref1).abs().max() <= tol
    if postprocess:
        assert (out["hidden_states"][0][0] != ref0).float().mean() < 0.02


def test_padding_invariant_and_errors(tmp_path):
    entry, path = build_vggish(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    gen = torch.Generator().manual_seed(7)
    assert assert_padding_invariant(model, [torch.randn(n, generator=gen) * 0.1 for n in (15600, 47000)]) <= 1e-4
    (tmp_path / "vggish_pca_params-970ea276.pth").unlink()
    torch.save({"pca_means": np.zeros(128)}, tmp_path / "pca.pth")
    with pytest.raises(ValueError, match="expected keys 'pca_eigen_vectors' and 'pca_means'"):
        hub.vggish(ckpt=str(path), pca=str(tmp_path / "pca.pth"))
    # PCA parameters are weights too: int64 / NaN entries are refused naming the file and entry
    pca = make_pca()
    pca["pca_means"] = pca["pca_means"].round().astype(np.int64)
    pca["pca_eigen_vectors"][3, 5] = np.nan
    torch.save(pca, tmp_path / "pca.pth")
    with pytest.raises(CheckpointKeyError) as err:
        hub.vggish(ckpt=str(path), pca=str(tmp_path / "pca.pth"))
    assert str(err.value) == (
        f"checkpoint {tmp_path / 'pca.pth'}: ['pca_eigen_vectors has 1 non-finite (NaN/Inf) value(s)', "
        "'pca_means has dtype torch.int64, not floating point']"
    )
    raw = hub.vggish(ckpt=str(path), postprocess=False)
    assert not hasattr(raw, "pca_matrix")


@pytest.mark.slow
def test_full_size_matches_torchvggish(tmp_path):
    tv = pytest.importorskip("torchvggish.torchvggish")
    vi = pytest.importorskip("torchvggish.vggish_input")
    entry, path = build_vggish(tmp_path, full=True)
    ours = hub.load(entry, ckpt=str(path)).eval()
    ref = tv._vgg(postprocess=False).eval()
    ref.load_state_dict(make_state(full=True))
    pproc = object.__new__(tv.Postprocessor)
    pca = make_pca()
    pproc._pca_matrix = torch.as_tensor(pca["pca_eigen_vectors"]).float()
    pproc._pca_means = torch.as_tensor(pca["pca_means"].reshape(-1, 1)).float()
    wav = torch.randn(48000, generator=torch.Generator().manual_seed(8)) * 0.1
    with torch.no_grad():
        raw = ref(vi.waveform_to_examples(wav.double().numpy(), 16000))
        expected = pproc.postprocess(raw)
        got = ours([wav])["hidden_states"][0][0]
    assert got.shape == expected.shape == (3, 128)
    assert (got - expected).abs().max() <= 1.0 and (got != expected).float().mean() < 0.02


def test_metadata_and_receptive_field(tmp_path):
    entry, path = build_vggish(tmp_path)
    model = hub.load(entry, ckpt=str(path)).eval()
    with torch.no_grad():
        out = model([torch.randn(4 * 16000) * 0.1])
        assert int(out["hidden_states_len"][0]) == 4 == 1 + ((4 * 16000 - 400) // 160 - 96) // 96
        assert int(model([torch.randn(15600) * 0.1])["hidden_states_len"][0]) == 1
    with pytest.raises(ValueError, match="at least 15600 samples"):
        model([torch.randn(15599)])
