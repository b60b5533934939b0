"""The upstream interface, on the example upstream."""

import pytest
import torch

import s3prl.hub as hub
from test.utils import assert_padding_invariant, mixed_length_wavs


def test_example_metadata_and_shapes():
    model = hub.example().eval()
    assert model.sample_rate == 16000
    assert model.downsample_rate == 160
    assert model.num_layers == 3 and model.hidden_sizes == [16, 16, 16]
    out = model([torch.zeros(16000), torch.zeros(400)])
    assert [tuple(h.shape) for h in out["hidden_states"]] == [(2, 98, 16)] * 3
    assert out["hidden_states_len"].tolist() == [98, 1]


def test_example_padding_invariance():
    model = hub.example()
    assert assert_padding_invariant(model, mixed_length_wavs()) <= 1e-4


@pytest.mark.parametrize(
    "wavs, exc, words",
    [
        ([], ValueError, "empty"),
        (torch.zeros(2, 16000), TypeError, "list"),
        ([torch.zeros(16000), [0.0] * 500], TypeError, "wav 1"),
        ([torch.zeros(2, 16000)], ValueError, "mix"),
        ([torch.zeros(16000, dtype=torch.int16)], TypeError, "int16"),
        ([torch.zeros(16000), torch.tensor([float("nan")] * 800)], ValueError, "wav 1 contains NaN"),
        ([torch.zeros(16000), torch.zeros(399)], ValueError, "at least 400 samples"),
    ],
)
def test_bad_input_errors(wavs, exc, words):
    model = hub.example()
    with pytest.raises(exc, match=words):
        model(wavs)


def test_length_groups_bounds_padding():
    from s3prl.upstream.interface import length_groups

    lengths = [8000, 160000, 51200, 159000, 8100, 400]
    groups = length_groups(lengths, 0.1)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        longest = max(lengths[i] for i in g)
        assert sum(longest - lengths[i] for i in g) <= 0.1 * len(g) * longest
    assert groups[0] == [1, 3]  # the two ~10 s wavs share a group
    assert length_groups(lengths, None) == [list(range(6))]
    assert length_groups([16000, 15900], 0.1) == [[0, 1]]


def test_regrouped_forward_equals_single_batch():
    model = hub.example().eval()
    wavs = mixed_length_wavs(seed=1, seconds=(0.5, 10.0, 3.2, 9.8, 0.6))
    with torch.no_grad():
        regrouped = model(wavs)
        model.max_padding_waste = None
        single = model(wavs)
    assert torch.equal(regrouped["hidden_states_len"], single["hidden_states_len"])
    for a, b in zip(regrouped["hidden_states"], single["hidden_states"]):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-5
