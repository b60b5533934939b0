"""Reduced-size HuBERT checkpoints in the original s3prl toolkit's converted layout
(seeded random weights): the files s3prl 0.4.18 hosts on huggingface.co/s3prl
(``contentvec_km100.pt``, ``mhubert_base_vp_en_es_fr_it3.pt``, MS-HuBERT ``iter3.pt``).

Layout (s3prl 0.4.18 ``upstream/hubert/convert.py``, ``load_and_convert_fairseq_ckpt``):
``{"task_cfg": cfg["task"] (plain dict), "model_cfg": cfg["model"] (plain dict),
"model_weight": the fairseq state dict, "dictionaries_symbols": [[symbols of each target
dictionary]]}``; its loader builds s3prl's ``HubertModel`` and loads the weights strictly,
so the keys are fairseq ``HubertModel``'s (see ``hubert.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .hubert import hubert_options, hubert_task
from .wav2vec2 import make_state


def build_converted(dst: Path, name: str = "contentvec_km100.pt", seed: int = 51, clusters: int = 100):
    opts = hubert_options()
    Path(dst).mkdir(parents=True, exist_ok=True)
    symbols = [["<s>", "<pad>", "</s>", "<unk>", *[str(i) for i in range(clusters)]]]
    path = Path(dst) / name
    torch.save({"task_cfg": hubert_task(False), "model_cfg": opts, "model_weight": make_state(opts, seed, "hubert"),
                "dictionaries_symbols": symbols}, path)
    return "hubert_local", path


def build_contentvec(dst: Path) -> tuple[str, Path]:
    """Like s3prl's converted ``contentvec_km100.pt`` (HuBERT Base, 100 clusters)."""
    return build_converted(dst)


BUILDERS = {"hubert_s3prl_converted_reduced": build_contentvec}
