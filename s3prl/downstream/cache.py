"""On-disk cache of the selected hidden states of each utterance (``--cache-features DIR``).

With a frozen upstream, an utterance's hidden states never change between
epochs, so they are computed once and read back afterwards: later epochs cost
the data loading, the featurizer and the task head only.

Layout: ``DIR/<setting>/<kk>/<key>.safetensors`` where

* ``<setting>`` = first 16 hex digits of the SHA-256 of a JSON description of
  what determines the features: upstream name, checkpoint (path or URL; for a
  local file also its size and modification time), upstream options, the
  selected layers, the cache format version (also written to
  ``DIR/<setting>/setting.json``);
* ``<key>`` = SHA-256 of the wav's samples (float32, little endian) and length,
  so the same audio is found again whatever file or dataset it came from;
* each file holds one ``(frames, dim)`` tensor per selected layer
  (``layer.<index>``), in the upstream's output dtype.

Files are written to a temporary name in their folder and renamed
(``os.replace``), so concurrent writers (DDP ranks) and killed runs never leave
a partial file under a final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import Tensor

CACHE_VERSION = 1


def _ckpt_identity(ckpt: str | None) -> object:
    if ckpt is None:
        return None
    path = Path(ckpt)
    if path.is_file():
        stat = path.stat()
        return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return str(ckpt)


def wav_key(wav: Tensor) -> str:
    """SHA-256 (hex) of a 1-D wav's float32 samples and length."""
    data = wav.detach().to(device="cpu", dtype=torch.float32).contiguous()
    h = hashlib.sha256()
    h.update(str(data.numel()).encode())
    h.update(data.numpy().tobytes())
    return h.hexdigest()


class FeatureCache:
    """Per-utterance cache of selected hidden states.

    Args:
        root: cache folder (created on demand).
        upstream: upstream entry name.
        ckpt: its checkpoint path/URL (``None``: the entry's default).
        upstream_kwargs: the entry's other options (must be JSON-serialisable).
        layers: selected hidden-state indices (>= 0), in featurizer order.

    Attributes:
        hits, misses (int): utterances read from / written to the cache so far.
    """

    def __init__(self, root, upstream: str, ckpt: str | None, upstream_kwargs: dict | None, layers):
        self.layers = [int(i) for i in layers]
        setting = {
            "version": CACHE_VERSION,
            "upstream": upstream,
            "ckpt": _ckpt_identity(ckpt),
            "upstream_kwargs": upstream_kwargs or {},
            "layers": self.layers,
        }
        text = json.dumps(setting, sort_keys=True)
        self.setting = setting
        self.dir = Path(root) / hashlib.sha256(text.encode()).hexdigest()[:16]
        self.hits = 0
        self.misses = 0
        self._described = False

    def path(self, key: str) -> Path:
        """Cache file of wav key ``key``."""
        return self.dir / key[:2] / f"{key}.safetensors"

    def _describe(self) -> None:
        if self._described:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        target = self.dir / "setting.json"
        if not target.exists():
            tmp = self.dir / f".setting.json.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            tmp.write_text(json.dumps(self.setting, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, target)
        self._described = True

    def _write(self, key: str, layers: Sequence[Tensor]) -> None:
        from safetensors.torch import save_file

        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        tensors = {f"layer.{i}": t.detach().cpu().contiguous() for i, t in zip(self.layers, layers)}
        try:
            save_file(tensors, str(tmp))
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _read(self, key: str) -> list[Tensor] | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
            return [tensors[f"layer.{i}"] for i in self.layers]
        except (SafetensorError, KeyError, OSError):
            # unreadable (e.g. a disk error): compute again and overwrite
            return None

    def get(
        self,
        wavs: Sequence[Tensor],
        compute: Callable[[list[Tensor]], tuple[list[Tensor], Tensor]],
    ) -> tuple[list[Tensor], Tensor]:
        """Selected hidden states of ``wavs``, from the cache or computed and stored.

        Args:
            wavs: list of 1-D float wavs (any device).
            compute: ``compute(list_of_wavs) -> (selected_hs, hs_len)`` with
                ``selected_hs`` one ``(batch, frames, dim)`` tensor per selected
                layer; called once, on the wavs not in the cache.

        Returns:
            ``(selected_hs, hs_len)`` as ``compute`` returns them for the whole
            batch: zero-padded ``(batch, frames, dim)`` tensors on the wavs'
            device and a ``(batch,)`` long tensor.
        """
        self._describe()
        # one device-to-host copy for the batch, not one per wav (same keys as wav_key(w))
        host = torch.cat([w.detach().reshape(-1).float() for w in wavs]).cpu()
        keys = [wav_key(w) for w in host.split([int(w.numel()) for w in wavs])]
        per_utt: list[list[Tensor] | None] = [self._read(k) for k in keys]
        missing = [i for i, layers in enumerate(per_utt) if layers is None]
        if missing:
            hs, hs_len = compute([wavs[i] for i in missing])
            # one device-to-host copy per layer for the whole batch (not one per utterance and
            # layer, twice: for the file and for the batch assembled below)
            hs = [h.detach().cpu() for h in hs]
            for j, (i, n) in enumerate(zip(missing, hs_len.tolist())):
                layers = [h[j, :n].contiguous() for h in hs]
                self._write(keys[i], layers)
                per_utt[i] = layers
        self.hits += len(wavs) - len(missing)
        self.misses += len(missing)
        device = wavs[0].device
        lengths = torch.tensor([layers[0].size(0) for layers in per_utt], dtype=torch.long)
        max_len = int(lengths.max())
        out = []
        for li in range(len(self.layers)):
            first = per_utt[0][li]
            batch = first.new_zeros(len(wavs), max_len, first.size(-1))
            for b, layers in enumerate(per_utt):
                batch[b, : layers[li].size(0)] = layers[li]
            out.append(batch.to(device))
        return out, lengths.to(device)
