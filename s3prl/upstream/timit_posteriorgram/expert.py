"""TIMIT phone posteriorgram: s3prl's ConvBank phone classifier (39 TIMIT phone classes)
on top of an upstream, as ``timit_posteriorgram`` of s3prl 0.4.18
(``downstream/timit_phone/upstream_expert.py`` and ``model.py``).

Checkpoint (``convbank.ckpt``, an s3prl downstream-training checkpoint)::

    {"Args": argparse.Namespace(upstream=<hub entry name>, ...),
     "Config": {"downstream_expert": {"modelrc": {"select": "ConvBank",
                "ConvBank": {"kernels": [3, 5, 7], "cnn_size": 32, "hidden_size": 64,
                             "dropout": 0.5}}}, ...},
     "Downstream": {"model.in_linear.{weight,bias}", "model.cnns.{i}.{weight,bias}",
                    "model.out_linear.{weight,bias}"}, ...}

Forward: the upstream (built by its hub entry with its defaults) -> its last hidden state ->
``relu(in_linear)`` -> Conv1d bank (one conv per kernel, padding ``k // 2``, outputs
concatenated) -> ReLU -> ``out_linear`` (39) -> softmax over classes: one hidden state of
39 phone posteriors per upstream frame.

Differences from s3prl 0.4.18, both needed for deterministic, batch-independent output:
s3prl's ``ConvBank`` called ``F.dropout`` without ``training=``, so dropout (p = 0.5) was
applied at inference too; here dropout is only active in training mode. And the frames past
a wav's end are zeroed before the convolutions (what the convolutions' zero padding gives
for the wav alone), so batching never changes a wav's posteriors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.interface import UpstreamBase, padding_mask

TIMIT_PHONE_CLASSES = 39


class ConvBank(nn.Module):
    """s3prl's ConvBank head (parameter names as saved, without the ``model.`` prefix)."""

    def __init__(self, input_dim: int, kernels: list[int], cnn_size: int, hidden_size: int, dropout: float,
                 classes: int = TIMIT_PHONE_CLASSES):
        super().__init__()
        self.drop_p = float(dropout)
        self.in_linear = nn.Linear(input_dim, hidden_size)
        self.cnns = nn.ModuleList(nn.Conv1d(hidden_size, cnn_size, k, padding=k // 2) for k in kernels)
        self.out_linear = nn.Linear(cnn_size * len(kernels), classes)

    def forward(self, feats: Tensor, valid: Tensor) -> Tensor:
        """``(B, T, input_dim)`` features, ``(B, T)`` bool valid frames -> ``(B, T, classes)`` logits."""
        h = F.dropout(F.relu(self.in_linear(feats)), self.drop_p, self.training)
        h = h.masked_fill(~valid[..., None], 0.0).transpose(1, 2)
        h = torch.cat([cnn(h) for cnn in self.cnns], dim=1).transpose(1, 2)
        return self.out_linear(F.dropout(F.relu(h), self.drop_p, self.training))


class UpstreamExpert(UpstreamBase):
    """Phone posteriorgram upstream (see the module docstring).

    Args:
        ckpt: local ``convbank.ckpt``-layout checkpoint.
        **upstream_kwargs: options for the upstream's hub entry (e.g. its ``ckpt=``).

    Raises:
        ValueError: missing ``Args`` / ``Config`` / ``Downstream``, a head other than
            ConvBank, an upstream name the hub does not know, mismatched weights.
    """

    def __init__(self, ckpt: str, **upstream_kwargs):
        super().__init__()
        import s3prl.hub as hub
        from s3prl.util.checkpoint import (
            load_checkpoint,
            load_state_dict_strict,
            note_unused_entries,
            to_plain,
        )

        where = f"TIMIT posteriorgram checkpoint {ckpt}"
        data = load_checkpoint(ckpt)
        if not isinstance(data, dict) or {"Args", "Config", "Downstream"} - set(data):
            raise ValueError(f"{where}: expected the keys 'Args', 'Config' and 'Downstream'")
        note_unused_entries(ckpt, [k for k in data if k not in ("Args", "Config", "Downstream")])
        args = to_plain(data["Args"])
        name = args.get("upstream") if isinstance(args, dict) else None
        if name not in hub.options():
            raise ValueError(f"{where}: Args.upstream is {name!r}, which is not an s3prl.hub entry")
        modelrc = to_plain(data["Config"])["downstream_expert"]["modelrc"]
        if modelrc.get("select") != "ConvBank":
            raise ValueError(f"{where}: head {modelrc.get('select')!r}; only ConvBank is supported")
        conf = modelrc["ConvBank"]
        self.upstream = hub.load(name, **upstream_kwargs)
        self.upstream_name = name
        self.head = ConvBank(self.upstream.hidden_sizes[-1], list(conf["kernels"]), int(conf["cnn_size"]),
                             int(conf["hidden_size"]), float(conf["dropout"]))
        # s3prl drops the first key component ("model.")
        load_state_dict_strict(self.head, data["Downstream"], where=ckpt, rename=lambda k: k.split(".", 1)[-1],
                               what="the ConvBank head its Config describes (Downstream)")
        self.downsample_rate = self.upstream.downsample_rate
        self.receptive_field = self.upstream.receptive_field
        self.hidden_sizes = [TIMIT_PHONE_CLASSES]
        self.max_padding_waste = self.upstream.max_padding_waste

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        hs, n = self.upstream.forward_padded(wavs, wavs_len)
        last = hs[-1]
        valid = padding_mask(n.to(last.device), last.size(1))
        return [torch.softmax(self.head(last, valid), dim=-1)], n
