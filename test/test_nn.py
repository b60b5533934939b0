"""s3prl.nn: S3PRLUpstream equals the hub model; Featurizer equals a hand computation."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

import s3prl.hub as hub
from s3prl.nn import Featurizer, S3PRLUpstream
from test.utils import sample_wavs


def _padded(wavs):
    lens = torch.tensor([w.numel() for w in wavs])
    batch = torch.zeros(len(wavs), int(lens.max()))
    for i, w in enumerate(wavs):
        batch[i, : w.numel()] = w
    return batch, lens


@pytest.mark.parametrize("name, conf", [("fbank", None), ("example", {"hidden_size": 12, "seed": 3})])
def test_s3prl_upstream_equals_hub_load_on_padded_batch(name, conf):
    _, wavs = sample_wavs()
    wavs = [w[: 16000 + 3000 * i] for i, w in enumerate(wavs)]  # different lengths
    batch, lens = _padded(wavs)
    up = S3PRLUpstream(name, extra_conf=conf).eval()
    ref = hub.load(name, **(conf or {})).eval()
    with torch.no_grad():
        all_hs, all_hs_len = up(batch, lens)
        out = ref(wavs)
    assert up.num_layers == ref.num_layers == len(all_hs) == len(all_hs_len)
    assert up.hidden_sizes == list(ref.hidden_sizes)
    assert up.downsample_rates == [ref.downsample_rate] * ref.num_layers
    for hs, hs_len, r in zip(all_hs, all_hs_len, out["hidden_states"]):
        assert torch.equal(hs_len, out["hidden_states_len"])
        assert hs.shape == r.shape
        assert torch.allclose(hs, r, atol=1e-5, rtol=0)


def test_s3prl_upstream_normalize():
    _, wavs = sample_wavs()
    wavs = [wavs[0][:16000], wavs[1][:12000]]
    batch, lens = _padded(wavs)
    with torch.no_grad():
        plain, plain_len = S3PRLUpstream("example").eval()(batch, lens)
        normed, _ = S3PRLUpstream("example", normalize=True).eval()(batch, lens)
    for p, q in zip(plain, normed):
        n = int(plain_len[0][1])
        np.testing.assert_allclose(q[1, :n].numpy(), _layer_norm(p[1, :n].double().numpy()), atol=1e-4)
        assert torch.equal(q[1, n:], torch.zeros_like(q[1, n:]))


def test_s3prl_upstream_errors():
    with pytest.raises(ValueError, match="fbank"):
        S3PRLUpstream("fbnak")
    with pytest.raises(TypeError, match="takes no checkpoint"):
        S3PRLUpstream("fbank", path_or_url="/x.ckpt")
    up = S3PRLUpstream("fbank")
    with pytest.raises(ValueError, match=r"wavs_len\[1\]=9000 is outside"):
        up(torch.zeros(2, 8000), torch.tensor([8000, 9000]))
    with pytest.raises(ValueError, match="wavs_len must be"):
        up(torch.zeros(2, 8000), torch.tensor([8000]))


def _fake_upstream(sizes, rate=160):
    return types.SimpleNamespace(num_layers=len(sizes), hidden_sizes=sizes, downsample_rate=rate)


def _hidden_states(num_layers=4, batch=3, frames=7, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    all_hs = [torch.randn(batch, frames, dim, generator=g) for _ in range(num_layers)]
    hs_len = torch.tensor([frames, frames - 2, 3])
    return all_hs, [hs_len] * num_layers


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _layer_norm(x, eps=1e-5):  # torch.nn.functional.layer_norm without affine, restated
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def test_featurizer_weighted_sum_equals_hand_computation():
    all_hs, all_hs_len = _hidden_states()
    feat = Featurizer(_fake_upstream([5] * 4))
    assert feat.output_size == 5 and feat.downsample_rate == 160
    assert torch.equal(feat.weights.detach(), torch.zeros(4))  # uniform start
    with torch.no_grad():
        feat.weights.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
    hs, hs_len = feat(all_hs, all_hs_len)
    w = _softmax(np.array([0.5, -1.0, 2.0, 0.0]))
    expected = sum(w[i] * all_hs[i].double().numpy() for i in range(4))
    np.testing.assert_allclose(hs.detach().numpy(), expected, atol=1e-6, rtol=0)
    assert torch.equal(hs_len, all_hs_len[0])
    table = feat.weights_table()
    assert [r["layer"] for r in table] == [0, 1, 2, 3]
    np.testing.assert_allclose([r["weight"] for r in table], w, atol=1e-7)
    # gradients reach the weights
    hs.sum().backward()
    assert feat.weights.grad is not None and feat.weights.grad.abs().sum() > 0


def test_featurizer_uniform_start_is_the_mean():
    all_hs, all_hs_len = _hidden_states(num_layers=3)
    hs, _ = Featurizer(_fake_upstream([5] * 3))(all_hs, all_hs_len)
    expected = np.mean([h.numpy() for h in all_hs], axis=0)
    np.testing.assert_allclose(hs.detach().numpy(), expected, atol=1e-6, rtol=0)


def test_featurizer_normalize():
    all_hs, all_hs_len = _hidden_states(num_layers=2)
    all_hs = [all_hs[0] * 10 + 3, all_hs[1]]
    hs, _ = Featurizer(_fake_upstream([5, 5]), normalize=True)(all_hs, all_hs_len)
    expected = 0.5 * _layer_norm(all_hs[0].double().numpy()) + 0.5 * _layer_norm(all_hs[1].double().numpy())
    np.testing.assert_allclose(hs.detach().numpy(), expected, atol=1e-5, rtol=0)


def test_featurizer_layer_selection():
    sizes = [5, 5, 5, 5, 5]
    all_hs, all_hs_len = _hidden_states(num_layers=5)
    single = Featurizer(_fake_upstream(sizes), layer_selections=[-2])
    assert single.weights is None and single.layer_selections == [3]
    assert single.weights_table() == [{"layer": 3, "weight": 1.0}]
    hs, _ = single(all_hs, all_hs_len)
    assert torch.equal(hs, all_hs[3])
    pair = Featurizer(_fake_upstream(sizes), layer_selections=[1, 4])
    hs, _ = pair(all_hs, all_hs_len)
    np.testing.assert_allclose(hs.detach().numpy(), 0.5 * (all_hs[1] + all_hs[4]).numpy(), atol=1e-6)
    # the selected hidden states alone (cached features) give the same output
    hs2, _ = pair([all_hs[1], all_hs[4]], all_hs_len[:2])
    assert torch.equal(hs, hs2)


def test_featurizer_errors():
    with pytest.raises(ValueError, match=r"differ in size \(layer 0: 4, layer 1: 8\)"):
        Featurizer(_fake_upstream([4, 8]))
    Featurizer(_fake_upstream([4, 8]), layer_selections=[1])  # one size: fine
    with pytest.raises(ValueError, match="layer 5 is out of range"):
        Featurizer(_fake_upstream([4, 4]), layer_selections=[5])
    feat = Featurizer(_fake_upstream([5] * 3))
    all_hs, all_hs_len = _hidden_states(num_layers=3)
    bad = [all_hs[0], all_hs[1][:, :5], all_hs[2]]
    with pytest.raises(ValueError, match="hidden state 1 has 5 frames"):
        feat(bad, all_hs_len)
    with pytest.raises(ValueError, match="expected 3 hidden states"):
        feat(all_hs[:2] + all_hs, all_hs_len + all_hs_len)
    lens = [all_hs_len[0], all_hs_len[0], all_hs_len[0] - 1]
    with pytest.raises(ValueError, match="valid frame counts of hidden state 2"):
        feat(all_hs, lens)


def test_featurizer_on_s3prl_upstream():
    _, wavs = sample_wavs()
    batch, lens = _padded([w[:20000] for w in wavs[:2]])
    up = S3PRLUpstream("example").eval()
    feat = Featurizer(up, layer_selections=[0, 2])
    with torch.no_grad():
        hs, hs_len = feat(*up(batch, lens))
    assert hs.shape == (2, int(hs_len.max()), up.hidden_sizes[0])
    assert feat.downsample_rate == 160
