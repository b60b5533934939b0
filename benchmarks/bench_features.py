"""Time the baseline feature front end (``s3prl.upstream.baseline.features``) against
kaldi-native-fbank and against an earlier version of the same code.

Usage::

    OMP_NUM_THREADS=2 python benchmarks/bench_features.py [--entries fbank_no_cmvn,fbank,mfcc]
        [--batch 32] [--seconds 1.0] [--long-seconds 10.0] [--repeats 7] [--before REV]

Cases, each on real speech cut from the bundled ``sample_speech/`` recordings:

* a batch of ``--batch`` wavs of ``--seconds`` each (what a downstream training step feeds);
* one wav of ``--long-seconds``.

Columns: ``ours`` = the entry's :class:`FeatureExtractor` on the padded batch (float64 inside,
float32 out: what the upstream runs), ``before`` = the same entry with ``features.py`` as it
was at git revision ``--before`` (read with ``git show``; the version before the batched
rewrite by default; skipped when git or the revision is not available), ``knf`` =
kaldi-native-fbank's ``OnlineFbank`` / ``OnlineMfcc`` with the same options, one wav at a
time (base features only: knf has no deltas / CMVN, so it does less work than the entry),
plus ``base`` = our base features alone (``kaldi_fbank`` / ``kaldi_mfcc``, no deltas / CMVN),
the like-for-like comparison with knf. Times are medians of ``--repeats`` alternating runs
(the machine may be shared), in milliseconds; ratios below 1 mean ours is faster. The
numbers of ``ours`` and ``before`` are compared too (max abs difference).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FEATURES = "s3prl/upstream/baseline/features.py"
#: The last revision with the per-step (unbatched) feature code.
DEFAULT_BEFORE = "fd389bd"


def load_features_at(rev: str):
    """``features.py`` as of git revision ``rev`` as a module, or ``None`` if unavailable."""
    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{FEATURES}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location(f"features_{rev}", f.name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Path(f.name).unlink()
    return module


def knf_fn(entry: str, settings: dict):
    """A per-wav kaldi-native-fbank loop with the entry's base options, or ``None``."""
    try:
        import kaldi_native_fbank as knf
    except ImportError:
        return None
    import numpy as np

    opts_in = settings["options"]
    if settings["feat_type"] == "fbank":
        opts = knf.FbankOptions()
        opts.mel_opts.num_bins = int(opts_in.get("num_mel_bins", 23))
        cls = knf.OnlineFbank
    elif settings["feat_type"] == "mfcc":
        opts = knf.MfccOptions()
        opts.mel_opts.num_bins = int(opts_in.get("num_mel_bins", 23))
        opts.num_ceps = int(opts_in.get("num_ceps", 13))
        opts.use_energy = False
        cls = knf.OnlineMfcc
    else:
        return None
    opts.frame_opts.dither = 0.0

    def run(wavs):
        for wav in wavs:
            online = cls(opts)
            online.accept_waveform(16000, wav.tolist())
            online.input_finished()
            np.stack([np.asarray(online.get_frame(i)) for i in range(online.num_frames_ready)])

    return run


def format_row(row: dict) -> str:
    """One table line: times in ms, ratios, the max abs difference ours vs before."""

    def ms(key):
        return f"{row[key]:8.1f}" if key in row else f"{'-':>8s}"

    ratio = f"{row['ours'] / row['before']:6.2f}" if "before" in row else f"{'-':>6s}"
    base_knf = f"{row['base'] / row['knf']:8.2f}" if "base" in row and "knf" in row else f"{'-':>8s}"
    diff = f"{row['diff']:9.2g}" if row["diff"] is not None else f"{'-':>9s}"
    return (f"{row['entry']:14s} {row['case']:12s} {ms('ours')} {ms('before')} {ratio} "
            f"{ms('base')} {ms('knf')} {base_knf} {diff}")  # fmt: skip


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", default="fbank_no_cmvn,fbank,mfcc")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--long-seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision for 'before'")
    args = parser.parse_args(argv)

    import torch

    from benchmarks.common import bundled_speech_batch, median_times
    from s3prl.upstream.baseline import features as F
    from s3prl.upstream.baseline.expert import CONFIG_DIR, load_feature_config

    old = load_features_at(args.before) if args.before else None
    print(f"torch threads {torch.get_num_threads()}; before = {args.before if old else 'n/a'}")
    cases = {
        f"{args.batch} x {args.seconds:g} s": bundled_speech_batch([args.seconds] * args.batch),
        f"1 x {args.long_seconds:g} s": bundled_speech_batch([args.long_seconds]),
    }
    header = f"{'entry':14s} {'case':12s} {'ours':>8s} {'before':>8s} {'ratio':>6s} " \
             f"{'base':>8s} {'knf':>8s} {'base/knf':>8s} {'max|diff|':>9s}"  # fmt: skip
    print(header)
    rows = []
    for entry in args.entries.split(","):
        config = load_feature_config(CONFIG_DIR / f"{entry}.yaml")
        ours = F.FeatureExtractor(config).eval()
        before = old.FeatureExtractor(config).eval() if old else None
        settings = ours.settings
        base_fn = {"fbank": F.kaldi_fbank, "mfcc": F.kaldi_mfcc}.get(settings["feat_type"])
        knf_run = knf_fn(entry, settings) if settings["kind"] == "kaldi" else None
        for case, wavs in cases.items():
            lens = torch.tensor([w.numel() for w in wavs])
            batch = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)
            fns = {"ours": partial(ours, batch, lens)}
            if before is not None:
                fns["before"] = partial(before, batch, lens)
            if base_fn is not None:
                fns["base"] = partial(base_fn, batch.double(), lens, **settings["options"])
            if knf_run is not None:
                fns["knf"] = partial(knf_run, wavs)
            with torch.inference_mode():
                t = median_times(fns, repeats=args.repeats)
                diff = None
                if before is not None:
                    diff = (ours(batch, lens)[0] - before(batch, lens)[0]).abs().max().item()
            row = {"entry": entry, "case": case, **{k: v * 1e3 for k, v in t.items()}, "diff": diff}
            rows.append(row)
            print(format_row(row))
    return rows


if __name__ == "__main__":
    main()
