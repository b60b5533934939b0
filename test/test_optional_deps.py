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


def test_only_the_comparison_tests_skip(tmp_path):
    """One run over every module that uses an optional dependency, selecting two comparison
    tests and one that needs neither: a module skipped as a whole would show up as a skip of
    its own (and its tests would not be deselected one by one)."""
    selected = "test_buckets_match_transformers or test_kaldi_fbank_exact or test_short_wav_and_train_mode"
    proc = _pytest_without_optional_deps(tmp_path, "-k", selected, *[f"test/{m}" for m in MODULES])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("1 passed, 2 skipped, ") and "deselected" in summary, proc.stdout[-2000:]
    assert int(summary.split(", ")[2].split()[0]) > 100  # every module's other tests were collected
    assert "transformers is not installed" in proc.stdout
    assert "kaldi_native_fbank is not installed" in proc.stdout
    assert "could not import" not in proc.stdout
