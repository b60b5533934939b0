"""Optional test dependencies (transformers, kaldi-native-fbank) skip only the tests that use them.

A subprocess runs pytest with both modules made unimportable (``sys.modules[name] = None`` from a
``sitecustomize``): the test modules that compare with them must still be collected, their
comparison tests reported as skipped one by one, and a test that needs neither must still run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["test_baseline.py", "test_wavlm.py", "test_unispeech_sat.py", "test_decoar2.py",
           "test_apc.py", "test_w2v2_family.py", "test_hf_custom.py"]


def _pytest_without_optional_deps(tmp_path, *args) -> subprocess.CompletedProcess:
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['transformers'] = None\nsys.modules['kaldi_native_fbank'] = None\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )


def test_modules_are_collected_without_optional_deps(tmp_path):
    proc = _pytest_without_optional_deps(tmp_path, "--collect-only", *[f"test/{m}" for m in MODULES])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = proc.stdout
    for module in MODULES:
        assert f"test/{module}::" in collected, f"{module} was skipped as a whole"
    # tests that need neither module are still there
    for node in ["test_wavlm.py::test_golden", "test_unispeech_sat.py::test_padding_invariance",
                 "test_baseline.py::test_entry_padding_invariant", "test_decoar2.py::test_golden"]:
        assert node in collected, node


def test_comparison_tests_skip_one_by_one(tmp_path):
    proc = _pytest_without_optional_deps(
        tmp_path, "test/test_wavlm.py::test_buckets_match_transformers",
        "test/test_baseline.py::test_kaldi_fbank_exact", "test/test_wavlm.py::test_short_wav_and_train_mode",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed, 2 skipped" in proc.stdout, proc.stdout[-2000:]
    assert "transformers is not installed" in proc.stdout
    assert "kaldi_native_fbank is not installed" in proc.stdout
