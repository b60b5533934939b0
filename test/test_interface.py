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
