"""Entries of the example upstream (the template for new upstreams)."""

from s3prl.util.registry import entry

__all__ = ["example", "customized_upstream"]


@entry(
    model="Example (untrained template)",
    input="wav",
    stride=160,
    layers=3,
    hidden_size=16,
    verified="golden hidden states",
)
def example(hidden_size: int = 16, seed: int = 0, **kwargs):
    """Example upstream: a tiny checkpoint-free model, the template for new upstreams.

    Not a pretrained model: its weights are drawn from ``seed``. Use it to try
    the interface and as the starting point of a new upstream.

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: ``hidden_size`` (16); hidden states: 3
    * checkpoint: none
    """
    from .expert import UpstreamExpert

    return UpstreamExpert(hidden_size=hidden_size, seed=seed, **kwargs)


@entry(
    model="Example (untrained template)",
    input="wav",
    stride=160,
    layers=3,
    hidden_size=16,
    verified="same code path as example",
)
def customized_upstream(hidden_size: int = 16, seed: int = 0, **kwargs):
    """The template upstream under the name of s3prl 0.4.18's add-an-upstream guide
    (``upstream/example/hubconf.py``): the same model as :func:`example`.

    * stride: 160 samples (10 ms); receptive field 400 samples (25 ms)
    * hidden size: ``hidden_size`` (16); hidden states: 3
    * checkpoint: none
    """
    return example(hidden_size=hidden_size, seed=seed, **kwargs)
