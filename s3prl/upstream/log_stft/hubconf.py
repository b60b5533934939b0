"""Entry of the STFT magnitude baseline (s3prl 0.4.18's ``upstream/log_stft``)."""

import os

from s3prl.util.registry import entry

__all__ = ["stft_mag"]

_DIR = os.path.dirname(os.path.abspath(__file__))


@entry(
    model="STFT magnitude (512-point, hop 320)",
    input="wav",
    stride=320,
    layers=1,
    hidden_size=257,
    verified="numpy rfft re-statement (reflect-padded Hann frames)",
)
def stft_mag(model_config=None, **kwargs):
    """Magnitude of the short-time Fourier transform, the ``stft_mag`` baseline of s3prl 0.4.18.

    Default config (s3prl's ``stft_mag.yaml``): 512-point FFT over a 512-sample periodic
    Hann window every 320 samples (20 ms), centred frames (reflect padding), linear
    magnitude (``log: true`` in a user yaml gives ``log(max(|X|, 1e-8))``).

    * stride: 320 samples (20 ms); receptive field 257 samples
    * hidden size: 257; hidden states: 1
    * checkpoint: none

    Args:
        model_config: path of a yaml with s3prl's fields (``spectrogram: {n_fft,
            hop_length, win_length, window, center, log}``); default the bundled one.
    """
    from .expert import UpstreamExpert

    return UpstreamExpert(model_config or os.path.join(_DIR, "stft_mag.yaml"), **kwargs)
