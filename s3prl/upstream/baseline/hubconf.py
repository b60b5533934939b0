"""Entries of the baseline upstream: classic acoustic features (no checkpoint).

Each entry is defined by a yaml file next to this module, with the fields and
values of the original s3prl baseline (https://github.com/s3prl/s3prl,
``s3prl/upstream/baseline/*.yaml``); ``baseline_local`` takes a user yaml with
the same fields.
"""

import os

from s3prl.util.registry import entry

__all__ = [
    "baseline",
    "baseline_local",
    "fbank",
    "fbank_no_cmvn",
    "linear",
    "mel",
    "mfcc",
    "spectrogram",
]

_DIR = os.path.dirname(os.path.abspath(__file__))
_KALDI = "https://kaldi-asr.org/doc/feat.html"


def _build(model_config, **kwargs):
    from .expert import UpstreamExpert

    return UpstreamExpert(model_config, **kwargs)


def _from_yaml(name: str, **kwargs):
    return _build(os.path.join(_DIR, f"{name}.yaml"), **kwargs)


@entry(
    model="Baseline features from a yaml config",
    input="wav",
    stride=160,
    layers=1,
    verified="same code path as the built-in baseline entries",
)
def baseline_local(model_config, **kwargs):
    """Baseline acoustic features defined by a user yaml (``model_config``: path).

    The yaml takes the fields of the built-in entries' files (see
    ``s3prl/upstream/baseline/fbank.yaml`` for the Kaldi schema ``kaldi`` /
    ``delta`` / ``cmvn``, ``mel.yaml`` for the STFT schema ``win_ms`` /
    ``hop_ms`` / ``n_freq`` / ``n_mels`` / ``input``). Unknown or missing
    fields raise ``ValueError`` naming them.

    * stride: ``frame_shift`` / ``hop_ms`` (160 samples for 10 ms)
    * hidden states: 1 (the features); hidden size from the config
    * checkpoint: none

    Raises:
        ValueError: ``model_config`` is a URL (configs are read from local files).
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import is_url

    if isinstance(model_config, str) and is_url(model_config):
        raise ValueError(f"baseline_local takes a local yaml path, got the URL {model_config!r}")
    return _build(model_config, **kwargs)


@entry(
    model="Kaldi fbank (80 log mel + deltas, CMVN)",
    paper=_KALDI,
    input="wav",
    stride=160,
    layers=1,
    hidden_size=240,
    verified="kaldi-native-fbank (fbank before deltas/CMVN)",
)
def fbank(**kwargs):
    """Kaldi fbank: 80 log mel bins + delta + delta-delta, per-utterance CMVN.

    Kaldi ``compute-fbank-feats`` (25 ms povey window, 10 ms shift,
    pre-emphasis 0.97, DC removal, snip edges, 20 Hz to 8 kHz, no dither),
    deltas of order 2 with window 5, per-utterance mean/variance normalisation.

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: 240; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("fbank", **kwargs)


@entry(
    model="Kaldi fbank (80 log mel + deltas)",
    paper=_KALDI,
    input="wav",
    stride=160,
    layers=1,
    hidden_size=240,
    verified="kaldi-native-fbank (fbank before deltas)",
)
def fbank_no_cmvn(**kwargs):
    """Kaldi fbank: 80 log mel bins + delta + delta-delta, without CMVN.

    As ``fbank`` without the per-utterance normalisation.

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: 240; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("fbank_no_cmvn", **kwargs)


@entry(
    model="Kaldi MFCC (13 + deltas, CMVN)",
    paper=_KALDI,
    input="wav",
    stride=160,
    layers=1,
    hidden_size=39,
    verified="kaldi-native-fbank (MFCC before deltas/CMVN)",
)
def mfcc(**kwargs):
    """Kaldi MFCC: 13 cepstra + delta + delta-delta, per-utterance CMVN.

    Kaldi ``compute-mfcc-feats`` with 23 mel bins and cepstral lifter 22 (25 ms
    povey window, 10 ms shift), as the original s3prl ran it through
    ``torchaudio.compliance.kaldi.mfcc`` (``use_energy=False``: c0 is the
    DCT's c0), deltas of order 2 with window 5, per-utterance CMVN.

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: 39; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("mfcc", **kwargs)


@entry(
    model="Kaldi log power spectrogram (CMVN)",
    paper=_KALDI,
    input="wav",
    stride=160,
    layers=1,
    hidden_size=257,
    verified="kaldi-native-fbank window + FFT (spectrogram before CMVN)",
)
def spectrogram(**kwargs):
    """Kaldi log power spectrogram: 257 bins (n_fft 512), per-utterance CMVN.

    Kaldi ``compute-spectrogram-feats`` (25 ms povey window zero-padded to 512,
    10 ms shift; bin 0 = log frame energy floored at 0).

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: 257; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("spectrogram", **kwargs)


@entry(
    model="Log mel spectrogram (80 bins, CMVN)",
    input="wav",
    stride=160,
    layers=1,
    hidden_size=80,
    verified="librosa (stft + filters.mel htk, reflect padding)",
)
def mel(**kwargs):
    """Log mel spectrogram: 80 HTK mel bins, per-utterance CMVN.

    ``log(|STFT|^2 @ mel + 1e-10)``: 25 ms periodic Hann window, 10 ms hop,
    n_fft 400, centred frames with reflect padding, mel filters 0 Hz to 8 kHz
    without normalisation (the original s3prl ``mel`` entry).

    * stride: 160 samples (10 ms); receptive field 201 samples; frames ``1 + samples // 160``
    * hidden size: 80; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("mel", **kwargs)


@entry(
    model="Log linear spectrogram (201 bins, CMVN)",
    input="wav",
    stride=160,
    layers=1,
    hidden_size=201,
    verified="librosa (stft, reflect padding)",
)
def linear(**kwargs):
    """Log linear spectrogram: 201 bins, per-utterance CMVN.

    ``log(|STFT|^2 + 1e-10)``: 25 ms periodic Hann window, 10 ms hop, n_fft 400,
    centred frames with reflect padding (the original s3prl ``linear`` entry).

    * stride: 160 samples (10 ms); receptive field 201 samples; frames ``1 + samples // 160``
    * hidden size: 201; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("linear", **kwargs)


@entry(
    model="Kaldi fbank (80 log mel + deltas, CMVN)",
    paper=_KALDI,
    input="wav",
    stride=160,
    layers=1,
    hidden_size=240,
    verified="same code path as fbank",
)
def baseline(**kwargs):
    """The default baseline feature, :func:`fbank` (s3prl 0.4.18's ``baseline`` alias).

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: 240; hidden states: 1
    * checkpoint: none
    """
    return _from_yaml("fbank", **kwargs)
