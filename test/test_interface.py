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


@pytest.mark.parametrize("name", ["fbank", "mfcc", "mel", "example"])
def test_meta_device_wav_is_refused_clearly(name):
    model = hub.load(name)
    with pytest.raises(ValueError, match="wav 1 is on the meta device"):
        model([torch.zeros(16000), torch.zeros(16000, device="meta")])


def test_samples_beyond_int32_full_scale_are_refused():
    """|x| <= 2**31 passes (int32 PCM full scale as float); larger samples are refused, also for
    float64 input; the message names the wav and the magnitude."""
    from s3prl.upstream.interface import MAX_ABS_SAMPLE

    assert MAX_ABS_SAMPLE == 2.0**31
    model = hub.example()
    wav = torch.randn(16000, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    wav[5] = -1.0
    out = model([wav * 2.0**31])  # the int32 extreme -2**31 itself is accepted
    assert all(bool(torch.isfinite(h).all()) for h in out["hidden_states"])
    for big in (torch.full((800,), 3e38), torch.full((800,), -2.0**32, dtype=torch.float64)):
        with pytest.raises(ValueError, match=r"wav 1 has a sample of magnitude [34].*e\+\d\d, above"):
            model([wav, big])
    with pytest.raises(ValueError, match="wav 0 contains NaN"):  # NaN keeps its own message
        model([torch.tensor([float("nan"), 3e38] * 400)])


def test_float32_max_input_refused_where_families_overflow(tmp_path):
    """Near the float32 maximum, the convolutional encoders of HuBERT / wav2vec 2.0 and CPC return
    Inf/NaN hidden states without an error (measured on reduced models: 3e38 -> non-finite; 1e30
    and below -> finite); the input check refuses such samples with a clear error instead."""
    from test.checkpoint_builders import cpc, hubert, wav2vec2

    wav = torch.randn(16000, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
    for build in (hubert.build_base, wav2vec2.build_base, cpc.build_cpc):
        entry, path = build(tmp_path)
        model = hub.load(entry, ckpt=str(path)).eval()
        with torch.no_grad():
            out = model([wav * 1e9])  # large but accepted: finite
            assert all(bool(torch.isfinite(h).all()) for h in out["hidden_states"]), entry
            with pytest.raises(ValueError, match="magnitude 3e\\+38"):
                model([wav * 3e38])


# --------------------------------------------------------------------------- required metadata


def _upstream_class(**attrs):
    from s3prl.upstream.interface import UpstreamBase

    return type("Probe", (UpstreamBase,), dict(attrs))


def test_metadata_has_no_defaults_and_is_required():
    from s3prl.upstream.interface import REQUIRED_METADATA, UpstreamBase

    for name in REQUIRED_METADATA:  # no inherited default, shared mutable list included
        assert name not in UpstreamBase.__dict__, name
    full = dict(downsample_rate=160, receptive_field=400, hidden_sizes=[8, 8])
    for name in REQUIRED_METADATA:
        partial = {k: v for k, v in full.items() if k != name}
        with pytest.raises(TypeError, match=f"Probe does not set {name}"):
            _upstream_class(**partial)()
    # set in __init__, also by a subclass after super().__init__(): checked after the outermost one
    base = _upstream_class(downsample_rate=320)

    class Late(base):
        def __init__(self):
            super().__init__()
            self.receptive_field = 400
            self.hidden_sizes = [4]

    late = Late()
    assert (late.downsample_rate, late.receptive_field, late.hidden_sizes) == (320, 400, [4])


@pytest.mark.parametrize(
    "attrs, exc, words",
    [
        (dict(downsample_rate=160.0), TypeError, "Probe.downsample_rate must be an int"),
        (dict(receptive_field=0), ValueError, "Probe.receptive_field must be a positive"),
        (dict(hidden_sizes=[]), ValueError, "Probe.hidden_sizes is empty"),
        (dict(hidden_sizes=[16, -1]), ValueError, r"Probe.hidden_sizes\[1\]"),
        (dict(hidden_sizes=16), TypeError, "Probe.hidden_sizes must be a list"),
    ],
)
def test_bad_class_metadata_fails_when_the_subclass_is_created(attrs, exc, words):
    with pytest.raises(exc, match=words):
        _upstream_class(**attrs)  # no instance needed


def test_hidden_sizes_not_shared_between_instances():
    cls = _upstream_class(downsample_rate=160, receptive_field=400, hidden_sizes=[8, 8])
    a, b = cls(), cls()
    a.hidden_sizes.append(8)
    assert b.hidden_sizes == [8, 8] and cls.hidden_sizes == [8, 8] and a.num_layers == 3


def test_padding_mask_or_none():
    """None when nothing is padded (lengths >= width), else the bool mask, True at valid frames."""
    from s3prl.upstream.interface import padding_mask_or_none

    assert padding_mask_or_none(torch.tensor([4, 4]), 4) is None
    assert padding_mask_or_none(torch.tensor([5, 4]), 4) is None
    mask = padding_mask_or_none(torch.tensor([4, 2]), 4)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [[True, True, True, True], [True, True, False, False]]
