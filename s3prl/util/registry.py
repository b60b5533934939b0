"""Entry metadata: one typed record per upstream entry (timm-style).

Each entry function in a ``hubconf.py`` is decorated with :func:`entry`::

    @entry(
        model="HuBERT Base", paper="https://arxiv.org/abs/2106.07447", date="2021-06",
        input="wav", stride=320, layers=13, hidden_size=768,
        data="LibriSpeech 960 h", ckpt="https://dl.fbaipublicfiles.com/hubert/hubert_base_ls960.pt",
        verified="parity with transformers HubertModel (seeded weights)",
    )
    def hubert_base(refresh: bool = False, **kwargs):
        \"\"\"HuBERT Base (Hsu et al., 2021), pre-trained on LibriSpeech 960 h.\"\"\"
        ...

The record is kept on the function (``fn.info``), the generated upstream
collection page reads it, and a metadata block is appended to the docstring so
``torch.hub.help`` / ``s3prl.hub.help`` print it. Importing this module is cheap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["EntryInfo", "entry"]


@dataclass(frozen=True)
class EntryInfo:
    """Published facts about one upstream entry.

    Attributes:
        model: model name as published ("wav2vec 2.0 Base").
        paper: paper URL (arXiv / ISCA), or "" for non-pretrained entries.
        date: publication date "YYYY-MM".
        input: what the model consumes: "wav", "mel", "fbank", "linear", "mfcc".
        stride: downsample rate in samples at 16 kHz (160 = 10 ms, 320 = 20 ms).
        layers: number of hidden states the entry returns.
        hidden_size: feature dim of the last hidden state.
        data: pre-training data ("LibriSpeech 960 h", "LibriLight 60 k h", ...).
        ckpt: official checkpoint URL, or "" when none (features, local entries).
        sha256: sha256 of the official checkpoint when known, else None.
        verified: how the test-suite checks it against a reference ("" = not).
        family: upstream folder name (filled in by the hub).
    """

    model: str
    paper: str = ""
    date: str = ""
    input: str = "wav"
    stride: Optional[int] = None
    layers: Optional[int] = None
    hidden_size: Optional[int] = None
    data: str = ""
    ckpt: str = ""
    sha256: Optional[str] = None
    verified: str = ""
    family: str = ""

    def as_text(self) -> str:
        rows = [
            ("model", self.model),
            ("paper", self.paper),
            ("published", self.date),
            ("input", self.input),
            # checkpoint-dependent entries (*_local, *_url, *_custom) still state each fact
            (
                "stride",
                f"{self.stride} samples ({self.stride / 16:g} ms)"
                if self.stride
                else "set by the checkpoint/options (model.downsample_rate)",
            ),
            (
                "hidden states",
                self.layers
                if self.layers is not None
                else "set by the checkpoint/options (len(model.hidden_sizes))",
            ),
            (
                "hidden size",
                self.hidden_size
                if self.hidden_size is not None
                else "set by the checkpoint/options (model.hidden_sizes[-1])",
            ),
            ("pre-training data", self.data),
            ("checkpoint", self.ckpt),
            ("sha256", self.sha256),
            ("verified", self.verified),
        ]
        return "\n".join(f"    {k}: {v}" for k, v in rows if v not in (None, ""))


def entry(**info) -> Callable[[Callable], Callable]:
    """Decorator: attach an :class:`EntryInfo` to an entry function and append it
    to the docstring."""
    record = EntryInfo(**info)

    def wrap(fn: Callable) -> Callable:
        module = fn.__module__ or ""
        parts = module.split(".")
        family = parts[-2] if len(parts) >= 2 and parts[-1] == "hubconf" else ""
        fn.info = dataclasses.replace(record, family=record.family or family)
        doc = (fn.__doc__ or "").rstrip()
        fn.__doc__ = f"{doc}\n\n    Facts:\n{fn.info.as_text()}\n"
        return fn

    return wrap
