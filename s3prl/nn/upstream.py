"""``S3PRLUpstream``: a hub entry behind a padded-batch interface (s3prl 0.4's ``s3prl.nn`` API)."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class S3PRLUpstream(nn.Module):
    """Upstream ``name`` from :mod:`s3prl.hub`, taking a padded batch.

    There is no second model code path: the module holds ``hub.load(name, ...)``
    (as :attr:`upstream`) and unpads the batch for it.

    Args:
        name: a hub entry name (``s3prl.hub.options()``).
        path_or_url: checkpoint file or URL, given to the entry as ``ckpt``
            (``None``: the entry's default, e.g. the official URL).
        refresh: download the checkpoint again (entries with a checkpoint).
        extra_conf: further keyword options of the entry (e.g.
            ``{"hidden_size": 32}`` for ``example``, ``{"dtype": "bf16"}``).
        normalize: layer-normalise (no affine) every returned hidden state over
            its feature dimension (s3prl 0.4's ``normalize`` option, which
            ESPnet's ``S3prlFrontend`` passes by keyword).

    Raises:
        ValueError: unknown entry name (the message lists close names).
        TypeError: the entry takes no checkpoint but ``path_or_url`` or
            ``refresh`` was given, or ``extra_conf`` is not a dict.
    """

    def __init__(
        self,
        name: str,
        path_or_url: str | None = None,
        refresh: bool = False,
        extra_conf: dict | None = None,
        *,
        normalize: bool = False,
    ):
        super().__init__()
        import s3prl.hub as hub

        if extra_conf is not None and not isinstance(extra_conf, dict):
            raise TypeError(f"S3PRLUpstream: extra_conf must be a dict, got {type(extra_conf).__name__}")
        kwargs = dict(extra_conf or {})
        entry = hub._entry(name)
        params = inspect.signature(entry).parameters
        takes_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        takes_ckpt = "ckpt" in params
        if path_or_url is not None:
            if not takes_ckpt:
                raise TypeError(f"S3PRLUpstream: upstream {name!r} takes no checkpoint (path_or_url)")
            kwargs["ckpt"] = str(path_or_url)
        if refresh:
            if "refresh" not in params and not takes_var_kw:
                raise TypeError(f"S3PRLUpstream: upstream {name!r} takes no refresh option")
            kwargs["refresh"] = True
        self.name = name
        self.normalize = bool(normalize)
        self.path_or_url = None if path_or_url is None else str(path_or_url)
        self.upstream = hub.load(name, **kwargs)

    @property
    def num_layers(self) -> int:
        """Number of hidden states of every forward pass."""
        return self.upstream.num_layers

    @property
    def hidden_sizes(self) -> list[int]:
        """Feature dimension of each hidden state."""
        return list(self.upstream.hidden_sizes)

    @property
    def downsample_rates(self) -> list[int]:
        """Stride in samples (16 kHz) of each hidden state (160 = 10 ms frames)."""
        return [int(self.upstream.downsample_rate)] * self.num_layers

    @property
    def receptive_field(self) -> int:
        """Fewest samples that give one frame."""
        return int(self.upstream.receptive_field)

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Hidden states of a zero-padded batch.

        Args:
            wavs: ``(batch, samples)`` float, 16 kHz mono, padded on the right
                (a ``(batch, samples, 1)`` tensor is accepted too).
            wavs_len: ``(batch,)`` integer tensor, valid samples per wav.

        Returns:
            ``(all_hs, all_hs_len)``: lists with one entry per hidden state:
            ``(batch, frames, hidden_sizes[i])`` tensors (zero past the valid
            frames) and ``(batch,)`` long tensors of valid frames.

        Raises:
            ValueError: shapes disagree, or a length is out of range (the
                message names the wav index); bad wavs as in
                :func:`s3prl.upstream.interface.check_wavs`.
        """
        if wavs.dim() == 3 and wavs.size(-1) == 1:
            wavs = wavs.squeeze(-1)
        if wavs.dim() != 2:
            raise ValueError(f"S3PRLUpstream: wavs must be (batch, samples), got shape {tuple(wavs.shape)}")
        wavs_len = torch.as_tensor(wavs_len)
        if wavs_len.dim() != 1 or wavs_len.numel() != wavs.size(0):
            raise ValueError(
                f"S3PRLUpstream: wavs_len must be ({wavs.size(0)},), got shape {tuple(wavs_len.shape)}"
            )
        lengths = [int(n) for n in wavs_len.tolist()]
        for i, n in enumerate(lengths):
            if not 0 < n <= wavs.size(1):
                raise ValueError(
                    f"S3PRLUpstream: wavs_len[{i}]={n} is outside 1..{wavs.size(1)} (padded length)"
                )
        out = self.upstream([wavs[i, :n] for i, n in enumerate(lengths)])
        all_hs = list(out["hidden_states"])
        hs_len = out["hidden_states_len"]
        if self.normalize:  # padded frames are zero vectors and stay zero
            all_hs = [F.layer_norm(h, h.shape[-1:]) for h in all_hs]
        return all_hs, [hs_len] * len(all_hs)
