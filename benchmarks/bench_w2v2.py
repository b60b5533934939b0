"""Our wav2vec 2.0 Base / HuBERT Base forward vs ``transformers``' on the same weights.

Usage::

    python benchmarks/bench_w2v2.py [--threads N] [--repeats 5] [--quick]
        [--models wav2vec2,hubert] [--cases mixed,uniform] [--device cpu] [--dtype float32]

Models: full size (12 layers, 768 dims, 512 conv channels, positional conv of
kernel 128 and 16 groups) with seeded random weights written in fairseq's layout
(``test/checkpoint_builders``), loaded through our ``<family>_local`` entry, and
copied into ``transformers``' ``Wav2Vec2Model`` / ``HubertModel``.

Cases (wav lengths are what matters: padding and length regrouping differ between them):

* ``mixed``: 8 speech wavs of different lengths, 2.0, 4.6, 5.8, 6.0, 8.1, 10.4, 17.0
  and 19.9 s, cut from the bundled ``sample_speech/`` recordings laid end to end (and
  repeated, since they last 8.3 s together); with ``$S3PRL_BENCH_SPEECH`` naming a
  folder that holds the 8 LibriSpeech recordings of :data:`MIXED_FILES` (any
  LibriSpeech copy, ``librispeech_<speaker>-<chapter>-<utterance>.flac``), those
  recordings themselves instead.
* ``uniform``: 8 wavs of exactly 10 s, consecutive 10 s windows of the same speech
  (the ``librispeech_*.flac`` files of ``$S3PRL_BENCH_SPEECH`` when it is set and
  holds 80 s of them, else the bundled speech, repeated): no padding at all.
* ``--quick``: 4 wavs of 2 to 6 s and 4 wavs of 4 s (a smoke run, not a measurement).

Ours is called on the list of wavs (the public interface, which regroups wavs by
length, see :attr:`s3prl.upstream.interface.UpstreamBase.max_padding_waste`);
transformers on the zero-padded batch with its attention mask.

Figures per case and model:

* time: median of ``--repeats`` runs after one warm-up, ours and the reference
  alternating (the machine may be shared: the ratio is the robust figure);
* peak memory: each implementation's forward in a fresh process, the growth of peak
  RSS over the loaded model (``VmHWM`` after ``malloc_trim`` and resetting it through
  ``/proc/self/clear_refs``); on CUDA, ``torch.cuda.max_memory_allocated`` growth;
* GFLOP/s: the FLOPs of OUR forward (``FlopCounterMode``: matmuls, convs, attention),
  i.e. the useful work, divided by each implementation's time; the reference's
  padded batch computes more (the padded FLOPs are printed too);
* the ceiling: the machine's fp32 matmul rate with the same threads, measured two
  ways: "quiet", :func:`benchmarks.common.matmul_ceiling_gflops` (best of 5 single
  2048^3 matmuls, before and after each case), and "same run", a block of 2048^3
  matmuls lasting about as long as one forward, timed as a third contestant in the
  alternation (median): on a shared machine only the latter sees the same load as
  the forwards, so the fractions (and the 75% target) use it; on an idle machine the
  two agree.

Targets: mixed lengths <= 0.8x the reference's time; uniform batch >= 75% of the
matmul ceiling.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    bundled_speech_batch,
    matmul_ceiling_gflops,
    median_times,
    peak_rss_mb,
)

SR = 16000
#: Optional folder of LibriSpeech recordings (see the module docstring); unset: the bundled speech.
SPEECH_ENV = "S3PRL_BENCH_SPEECH"
#: 8 LibriSpeech recordings spreading 2 to 20 s (2.0, 4.6, 5.8, 6.0, 8.1, 10.4, 17.0, 19.9 s)
MIXED_FILES = [
    "librispeech_3005-163389-0007.flac",
    "librispeech_3080-5032-0000.flac",
    "librispeech_533-1066-0003.flac",
    "librispeech_1998-15444-0001.flac",
    "librispeech_1688-142285-0006.flac",
    "librispeech_2414-128291-0004.flac",
    "librispeech_2033-164914-0006.flac",
    "librispeech_2609-156975-0007.flac",
]
MIXED_SECONDS = [2.0, 4.6, 5.8, 6.0, 8.1, 10.4, 17.0, 19.9]
QUICK_MIXED_SECONDS = [2.0, 3.3, 4.7, 6.0]


def _speech_folder() -> Path | None:
    folder = os.environ.get(SPEECH_ENV)
    return Path(folder) if folder else None


def mixed_batch(quick: bool) -> tuple[list[torch.Tensor], str]:
    """The ``mixed`` case's wavs and a description of their source."""
    from s3prl.util.audio import load_audio

    folder = _speech_folder()
    if folder is not None and all((folder / name).is_file() for name in MIXED_FILES):
        wavs = [load_audio(folder / name) for name in MIXED_FILES]
        if quick:  # 4 of them cut to 2, 3.3, 4.7, 6 s
            wavs = [w[: int(s * SR)] for w, s in zip(wavs[::2], QUICK_MIXED_SECONDS)]
        return wavs, f"LibriSpeech recordings from ${SPEECH_ENV}"
    return bundled_speech_batch(QUICK_MIXED_SECONDS if quick else MIXED_SECONDS), "bundled sample_speech"


def uniform_batch(quick: bool) -> tuple[list[torch.Tensor], str]:
    """The ``uniform`` case's wavs (consecutive windows of one length) and their source."""
    from s3prl.util.audio import load_audio

    n, seconds = (4, 4.0) if quick else (8, 10.0)
    folder = _speech_folder()
    if folder is not None and folder.is_dir():
        files = sorted(folder.glob("librispeech_*.flac"))
        audio = torch.cat([load_audio(f) for f in files]) if files else torch.zeros(0)
        if audio.numel() >= n * seconds * SR:
            size = int(seconds * SR)
            return [audio[i * size : (i + 1) * size] for i in range(n)], f"LibriSpeech recordings from ${SPEECH_ENV}"
    return bundled_speech_batch([seconds] * n), "bundled sample_speech"


def write_checkpoint(family: str, folder: Path) -> Path:
    """A full-size seeded checkpoint of ``family`` in fairseq's layout."""
    from test.checkpoint_builders import hubert as H
    from test.checkpoint_builders import wav2vec2 as W

    full = dict(encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
                conv_pos=128, conv_pos_groups=16, final_dim=256)
    if family == "wav2vec2":
        opts = W.model_options(_name="wav2vec2", **full)
        return W.write_args_layout(folder / "w2v.pt", opts, W.task_options(False), W.make_state(opts, 0))
    opts = H.hubert_options(**full)
    with W.saving_fairseq_classes():
        return W.write_cfg_layout(folder / "hubert.pt", opts, H.hubert_task(False), W.make_state(opts, 0, "hubert"))


def load_model(family: str, path: Path, which: str, device: str, dtype: torch.dtype):
    """Ours (``which="ours"``) or transformers' (``"ref"``) model on the checkpoint's weights."""
    if which == "ours":
        import s3prl.hub as hub

        return hub.load(f"{family}_local", ckpt=str(path)).to(device=device, dtype=dtype).eval()
    import transformers

    from s3prl.util.checkpoint import load_checkpoint
    from test.test_w2v2_family import fairseq_to_hf

    if family == "wav2vec2":
        ref = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(feat_extract_norm="group"))
    else:
        ref = transformers.HubertModel(transformers.HubertConfig(feat_extract_norm="group"))
    missing, unexpected = ref.load_state_dict(fairseq_to_hf(load_checkpoint(path)["model"], False), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return ref.to(device=device, dtype=dtype).eval()


def runner(model, which: str, wavs: list[torch.Tensor], device: str, dtype: torch.dtype):
    """A no-argument callable running one forward of ``model`` on ``wavs``."""
    from s3prl.upstream.interface import pad_wavs, padding_mask

    wavs = [w.to(device) for w in wavs]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if which == "ours":
        def run():
            with torch.inference_mode():
                out = model(wavs)["hidden_states"]
            sync()
            return out
        return run
    padded, lens = pad_wavs(wavs, dtype=dtype)
    mask = padding_mask(lens).long()

    def run_ref():
        with torch.inference_mode():
            out = model(padded, attention_mask=mask, output_hidden_states=True).hidden_states
        sync()
        return out
    return run_ref


def _matmul_block(device: str, flops: float):
    """(callable, its FLOPs): about ``flops`` worth of 2048^3 fp32 matmuls; None off CPU."""
    if device != "cpu":
        return None
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    count = max(1, round(flops / (2 * n**3)))

    def run():
        for _ in range(count):
            torch.mm(a, b)
    return run, count * 2 * n**3


def _sdpa_flops(q, k, v, *args, out_shape=None, **kwargs) -> int:
    """QK^T and attention x V: 2 matmuls of 2*b*h*t*s*d FLOPs each."""
    b, h, t, d = q
    return 4 * b * h * t * k[2] * d


def count_model_flops(fn) -> int:
    """FLOPs of one call; adds CPU SDPA (``FlopCounterMode`` has no formula for it)."""
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


# --------------------------------------------------------------------------- peak memory


def memory_child(family: str, path: str, case: str, which: str, quick: bool, device: str, dtype) -> None:
    model = load_model(family, Path(path), which, device, dtype)
    wavs = (mixed_batch if case == "mixed" else uniform_batch)(quick)[0]
    fn = runner(model, which, wavs, device, dtype)
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        growth = (torch.cuda.max_memory_allocated() - before) / 2**20
    else:
        before = _reset_peak_rss_mb()
        fn()
        growth = _status_mb("VmHWM") - before
    print(json.dumps({"peak_growth_mb": growth}))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return peak_rss_mb()


def _reset_peak_rss_mb() -> float:
    """Return freed heap memory to the OS (glibc ``malloc_trim``), reset this process's
    peak RSS (Linux ``clear_refs`` 5) and return the current RSS in MiB."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def peak_memory(args, family: str, path: Path, case: str, which: str) -> float:
    cmd = [sys.executable, __file__, "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
           "--memory-child", family, str(path), case, which] + (["--quick"] if args.quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_growth_mb"]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per implementation (after 1 warm-up)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="4 short wavs per case (smoke run)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--models", default="wav2vec2,hubert")
    parser.add_argument("--cases", default="mixed,uniform")
    parser.add_argument("--memory-child", nargs=4, metavar=("FAMILY", "CKPT", "CASE", "WHICH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.memory_child:
        memory_child(*args.memory_child[:3], args.memory_child[3], args.quick, args.device, dtype)
        return

    start = time.perf_counter()
    print(f"torch {torch.__version__}; device {args.device}; {args.dtype}; threads {args.threads}; "
          f"median of {args.repeats} alternating runs after 1 warm-up")
    rows = []
    for family in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            path = write_checkpoint(family, Path(tmp))
            ours = load_model(family, path, "ours", args.device, dtype)
            ref = load_model(family, path, "ref", args.device, dtype)
            for case in args.cases.split(","):
                wavs, source = (mixed_batch if case == "mixed" else uniform_batch)(args.quick)
                secs = [round(w.numel() / SR, 1) for w in wavs]
                run_ours = runner(ours, "ours", wavs, args.device, dtype)
                run_ref = runner(ref, "ref", wavs, args.device, dtype)
                a, b = run_ours(), run_ref()  # outputs on the longest wav (no padding): comparable
                i = max(range(len(wavs)), key=lambda j: wavs[j].numel())
                n = min(a[0].size(1), b[0].size(1))
                diff = max((x[i, :n].float() - y[i, :n].float()).abs().max().item() for x, y in zip(a[:-1], b[:-1]))
                flops = count_model_flops(run_ours)
                saved, ours.max_padding_waste = ours.max_padding_waste, None
                padded_flops = count_model_flops(run_ours)
                ours.max_padding_waste = saved
                quiet = matmul_ceiling_gflops() if args.device == "cpu" else float("nan")
                block = _matmul_block(args.device, flops / 2)
                fns = {"ours": run_ours, "ref": run_ref} | ({"ceiling": block[0]} if block else {})
                t = median_times(fns, repeats=args.repeats, warmup=1)
                ceiling = block[1] / 1e9 / t["ceiling"] if block else float("nan")
                if args.device == "cpu":
                    quiet = max(quiet, matmul_ceiling_gflops())
                mem = {w: peak_memory(args, family, path, case, w) for w in ("ours", "ref")}
                row = dict(family=family, case=case, source=source, secs=secs, ours_s=t["ours"], ref_s=t["ref"],
                           ratio=t["ours"] / t["ref"], mem_ours=mem["ours"], mem_ref=mem["ref"],
                           gflop=flops / 1e9, padded_gflop=padded_flops / 1e9, ceiling=ceiling, quiet=quiet,
                           gflops_ours=flops / 1e9 / t["ours"], gflops_ref=flops / 1e9 / t["ref"], diff=diff)
                rows.append(row)
                print(f"\n[{family} / {case}] {len(wavs)} wavs ({source}): {secs} s; "
                      f"{row['gflop']:.0f} GFLOP useful ({row['padded_gflop']:.0f} as one padded batch); "
                      f"max |diff| vs transformers on the longest wav {diff:.1e}", flush=True)
                print(_format(row), flush=True)
            del ours, ref
            gc.collect()
    print("\n" + _table(rows))
    print(f"(total {time.perf_counter() - start:.0f} s)")


def _format(r: dict) -> str:
    target = ("ratio <= 0.80: " + ("met" if r["ratio"] <= 0.8 else "MISSED")) if r["case"] == "mixed" else (
        "ours >= 75% of ceiling: " + ("met" if r["gflops_ours"] >= 0.75 * r["ceiling"] else "MISSED"))
    return (f"  ours {r['ours_s']:.3f} s  transformers {r['ref_s']:.3f} s  ratio {r['ratio']:.2f}x  | "
            f"peak memory {r['mem_ours']:.0f} vs {r['mem_ref']:.0f} MiB  | GFLOP/s {r['gflops_ours']:.1f} vs "
            f"{r['gflops_ref']:.1f} of ceiling {r['ceiling']:.1f} same run / {r['quiet']:.1f} quiet "
            f"({r['gflops_ours'] / r['ceiling']:.0%} vs {r['gflops_ref'] / r['ceiling']:.0%} of the same-run ceiling)  "
            f"| {target}")


def _table(rows: list[dict]) -> str:
    head = ("| model | case | ours s | transformers s | ratio | peak MiB ours / ref | GFLOP | GFLOP/s ours / ref "
            "| ceiling GFLOP/s same run / quiet | fraction ours / ref |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['case']} | {r['ours_s']:.2f} | {r['ref_s']:.2f} | {r['ratio']:.2f}x | "
            f"{r['mem_ours']:.0f} / {r['mem_ref']:.0f} | {r['gflop']:.0f} | {r['gflops_ours']:.1f} / "
            f"{r['gflops_ref']:.1f} | {r['ceiling']:.1f} / {r['quiet']:.1f} | {r['gflops_ours'] / r['ceiling']:.0%} / "
            f"{r['gflops_ref'] / r['ceiling']:.0%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
