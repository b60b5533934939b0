"""pytest configuration: no test reaches the network beyond 127.0.0.1."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _seed_and_cache(tmp_path, monkeypatch):
    """Seed torch and point the checkpoint cache at a fresh folder per test."""
    torch.manual_seed(0)
    monkeypatch.setenv("S3PRL_CACHE", str(tmp_path / "s3prl_cache"))
    yield
