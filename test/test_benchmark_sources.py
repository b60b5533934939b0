"""The benchmarks run in any clone: real speech from the bundled ``sample_speech/`` by default
(an optional folder only through a documented environment variable), no absolute path outside
the repository, no tracker numbers in their descriptions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from s3prl.util.audio import load_audio, sample_speech_files

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_no_outside_paths_or_tracker_numbers(path):
    text = path.read_text()
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for token in re.findall(r"(?<![\w.])/(?:work|home|data|mnt|tmp|root)/[\w./-]*", node.value):
                pytest.fail(f"{path.name}: absolute path {token!r} outside the repository")
    doc = ast.get_docstring(tree) or ""
    assert not re.search(r"\bissues? \d+|#\d+\b", doc, flags=re.IGNORECASE), f"{path.name} cites a tracker number"


def test_w2v2_benchmark_defaults_to_the_bundled_speech(monkeypatch):
    from benchmarks import bench_w2v2

    monkeypatch.delenv(bench_w2v2.SPEECH_ENV, raising=False)
    assert bench_w2v2.SPEECH_ENV in bench_w2v2.__doc__
    speech = torch.cat([load_audio(f) for f in sample_speech_files()])
    for make, quick, seconds in [(bench_w2v2.mixed_batch, False, bench_w2v2.MIXED_SECONDS),
                                 (bench_w2v2.mixed_batch, True, [2.0, 3.3, 4.7, 6.0]),
                                 (bench_w2v2.uniform_batch, True, [4.0] * 4)]:
        wavs, source = make(quick)
        assert source == "bundled sample_speech"
        assert [w.numel() for w in wavs] == [int(s * 16000) for s in seconds]
        stream = torch.cat(wavs)
        reps = -(-stream.numel() // speech.numel())
        assert torch.equal(stream, speech.repeat(reps)[: stream.numel()])  # real speech, in order
