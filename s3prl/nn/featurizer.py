"""``Featurizer``: the learned weighted sum of an upstream's hidden states.

SUPERB (Yang et al., 2021, "SUPERB: Speech processing Universal PERformance
Benchmark", Sec. 3) trains one scalar per hidden state, normalised with a
softmax, and feeds the weighted sum of the hidden states to the task head.
s3prl 0.4 (``s3prl/nn/upstream.py``, ``Featurizer``) starts the scalars at zero
(uniform weights) and optionally layer-normalises each hidden state first
(``--upstream_feature_normalize``); this module follows that definition.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _downsample_rates(upstream) -> list[int]:
    rates = getattr(upstream, "downsample_rates", None)
    if rates is not None:
        return [int(r) for r in rates]
    return [int(upstream.downsample_rate)] * int(upstream.num_layers)


class Featurizer(nn.Module):
    """Softmax-weighted sum of the selected hidden states of an upstream.

    ``hs = sum_i softmax(w)_i * LN(all_hs[l_i])`` over the selected layers
    ``l_i``, where ``LN`` is a layer norm over the feature dimension without
    affine parameters when ``normalize`` is true and the identity otherwise.
    The weights ``w`` start at zero (a uniform average). With a single selected
    layer there are no weights: the output is that hidden state (normalised
    if asked).

    Args:
        upstream: an :class:`s3prl.nn.S3PRLUpstream` or any upstream of the hub
            (needs ``num_layers``, ``hidden_sizes`` and ``downsample_rates`` or
            ``downsample_rate``).
        layer_selections: indices of the hidden states to combine (negative
            indices count from the end); ``None``: all of them.
        normalize: layer-normalise (no affine) each hidden state before the sum.

    Attributes:
        output_size (int): feature dimension of the output.
        downsample_rate (int): stride of the output in samples at 16 kHz.
        layer_selections (list[int]): the selected hidden-state indices (>= 0).
        weights (nn.Parameter | None): ``(len(layer_selections),)`` unnormalised
            layer weights, ``None`` for a single layer.

    Raises:
        ValueError: an index is out of range or repeated, or the selected hidden
            states differ in size or stride (the message names the layers).
    """

    def __init__(self, upstream, layer_selections: Sequence[int] | None = None, normalize: bool = False):
        super().__init__()
        num_layers = int(upstream.num_layers)
        sizes = [int(s) for s in upstream.hidden_sizes]
        rates = _downsample_rates(upstream)
        if layer_selections is None:
            selected = list(range(num_layers))
        else:
            if isinstance(layer_selections, int):
                layer_selections = [layer_selections]
            selected = []
            for layer in layer_selections:
                layer = int(layer)
                if not -num_layers <= layer < num_layers:
                    raise ValueError(
                        f"Featurizer: layer {layer} is out of range: the upstream has {num_layers} "
                        f"hidden states (0..{num_layers - 1})"
                    )
                selected.append(layer % num_layers)
            if not selected:
                raise ValueError("Featurizer: layer_selections is empty")
            if len(set(selected)) != len(selected):
                raise ValueError(f"Featurizer: layer_selections repeats a layer: {list(layer_selections)}")
        if len({sizes[i] for i in selected}) != 1:
            detail = ", ".join(f"layer {i}: {sizes[i]}" for i in selected)
            raise ValueError(
                f"Featurizer: the selected hidden states differ in size ({detail}); "
                "select layers of one size with layer_selections"
            )
        if len({rates[i] for i in selected}) != 1:
            detail = ", ".join(f"layer {i}: {rates[i]}" for i in selected)
            raise ValueError(f"Featurizer: the selected hidden states differ in stride ({detail})")
        self.upstream_num_layers = num_layers
        self.layer_selections = selected
        self.normalize = bool(normalize)
        self.output_size = sizes[selected[0]]
        self.downsample_rate = rates[selected[0]]
        if len(selected) > 1:
            self.weights = nn.Parameter(torch.zeros(len(selected)))
        else:
            self.register_parameter("weights", None)

    def layer_weights(self) -> Tensor:
        """``(len(layer_selections),)`` softmax-normalised weights (detached, fp32, CPU)."""
        if self.weights is None:
            return torch.ones(1)
        return F.softmax(self.weights.detach().float().cpu(), dim=-1)

    def weights_table(self) -> list[dict]:
        """The learned weights as rows ``{"layer": index, "weight": float}``, one per
        selected hidden state (what users plot)."""
        return [
            {"layer": layer, "weight": float(w)}
            for layer, w in zip(self.layer_selections, self.layer_weights().tolist())
        ]

    def select(self, all_hs: Sequence[Tensor], all_hs_len: Sequence[Tensor]):
        """The selected entries of ``all_hs`` / ``all_hs_len`` (lists with one entry
        per hidden state of the upstream)."""
        if len(all_hs) != self.upstream_num_layers or len(all_hs_len) != self.upstream_num_layers:
            raise ValueError(
                f"Featurizer: expected {self.upstream_num_layers} hidden states and lengths, got "
                f"{len(all_hs)} and {len(all_hs_len)}"
            )
        return [all_hs[i] for i in self.layer_selections], [all_hs_len[i] for i in self.layer_selections]

    def forward(self, all_hs: Sequence[Tensor], all_hs_len: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Combine the hidden states.

        Args:
            all_hs: one ``(batch, frames, dim)`` tensor per hidden state of the
                upstream (as :class:`S3PRLUpstream` returns), or only the selected
                ones, in ``layer_selections`` order (cached features).
            all_hs_len: matching ``(batch,)`` long tensors of valid frames.

        Returns:
            ``(hs, hs_len)``: ``(batch, frames, output_size)`` in the hidden
            states' dtype and ``(batch,)`` long.

        Raises:
            ValueError: wrong number of hidden states, or the selected ones
                differ in shape / frame count / valid lengths (the message names
                the layers).
        """
        n_sel = len(self.layer_selections)
        if len(all_hs) == n_sel and n_sel != self.upstream_num_layers and len(all_hs_len) == n_sel:
            hs_list, len_list = list(all_hs), list(all_hs_len)
        else:
            hs_list, len_list = self.select(all_hs, all_hs_len)
        first = hs_list[0]
        for layer, hs, hs_len in zip(self.layer_selections, hs_list, len_list):
            if hs.dim() != 3 or hs.size(-1) != self.output_size:
                raise ValueError(
                    f"Featurizer: hidden state {layer} has shape {tuple(hs.shape)}, expected "
                    f"(batch, frames, {self.output_size})"
                )
            if hs.shape[:2] != first.shape[:2]:
                raise ValueError(
                    f"Featurizer: hidden state {layer} has {hs.size(1)} frames x {hs.size(0)} wavs, "
                    f"but hidden state {self.layer_selections[0]} has {first.size(1)} x "
                    f"{first.size(0)}; the selected layers must have the same frames"
                )
            # the usual call passes one length tensor for every layer: no comparison (and no
            # device-to-host copy per layer and step) is needed then
            if hs_len is not len_list[0] and not torch.equal(hs_len.cpu(), len_list[0].cpu()):
                raise ValueError(
                    f"Featurizer: valid frame counts of hidden state {layer} ({hs_len.tolist()}) differ "
                    f"from those of hidden state {self.layer_selections[0]} ({len_list[0].tolist()})"
                )
        if self.normalize:
            hs_list = [F.layer_norm(hs, hs.shape[-1:]) for hs in hs_list]
        if self.weights is None:
            return hs_list[0], len_list[0]
        weights = F.softmax(self.weights, dim=-1).to(first.dtype)
        stacked = torch.stack(hs_list, dim=0)
        hs = (weights.view(-1, 1, 1, 1) * stacked).sum(dim=0)
        return hs, len_list[0]
