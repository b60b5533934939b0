"""Regenerate ``omegaconf-<version>.pt``: checkpoints pickling REAL omegaconf containers.

fairseq (which pins ``omegaconf<2.1``) and hydra-based recipes store their
config as omegaconf ``DictConfig`` objects inside ``torch.save`` checkpoints.
omegaconf is not a dependency of s3prl, so the files are committed and
``test/test_checkpoint.py`` loads them without omegaconf installed.

Run once per omegaconf version, in an environment that has it (2.0.x needs
nothing else; 2.1+ needs ``antlr4-python3-runtime`` 4.8/4.9)::

    PYTHONPATH=/path/to/omegaconf-2.0.6 python test/checkpoint_fixtures/make_omegaconf_fixtures.py

The expected plain config is ``EXPECTED`` below (the test imports it).
"""

from __future__ import annotations

from pathlib import Path

EXPECTED = {
    "common": {"seed": 1, "fp16": True, "log_format": None},
    "model": {
        "_name": "hubert",
        "encoder_layers": 2,
        "encoder_embed_dim": 32,
        "dropout": 0.1,
        "conv_feature_layers": "[(32, 10, 5)] + [(32, 3, 2)]",
        "label_rate": 50.0,
        "extractor_mode": "default",
    },
    "task": {"_name": "hubert_pretraining", "labels": ["km"], "sample_rate": 16000, "max_keep": [1, 2.5, "x"]},
}


def main() -> None:
    import omegaconf
    import torch
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(EXPECTED)
    gen = torch.Generator().manual_seed(0)
    ckpt = {
        "cfg": cfg,
        "model": {"w": torch.randn(4, 3, generator=gen)},
        "task_state": {"labels": OmegaConf.create(["km", "phn"])},
    }
    out = Path(__file__).with_name(f"omegaconf-{omegaconf.__version__}.pt")
    torch.save(ckpt, out)
    print(out, sorted(torch.serialization.get_unsafe_globals_in_checkpoint(out)))


if __name__ == "__main__":
    main()
