"""Our wav2vec 2.0 Base / HuBERT Base forward vs ``transformers``' on the same weights.

Usage: ``python benchmarks/bench_w2v2.py [--repeats 5] [--threads N] [--models wav2vec2,hubert]``.

Both models are full size (12 layers, 768 dims, 512 conv channels) with seeded
random weights written in fairseq's layout (``test/checkpoint_builders``), loaded
through our ``<family>_local`` entry, and copied into ``transformers``'
``Wav2Vec2Model`` / ``HubertModel``. Input: a batch of 8 real speech recordings
of 2 to 16 s (``/work/shared/data/speech`` or ``$S3PRL_BENCH_SPEECH``; the longest
is cut to 16 s), fp32, CPU, inference mode. Ours is called on the list of wavs (the
public interface); transformers on the zero-padded batch with its attention mask.
Times: median of ``--repeats`` runs after one warm-up, the two implementations
alternating. Peak memory: each implementation's forward in a fresh process, peak
RSS growth over the loaded model (``VmHWM`` after resetting it through ``/proc/self/clear_refs``). Target: ours <= 0.8x the
reference's time and no more peak memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import median_times, peak_rss_mb  # noqa: E402

FILES = [  # (name, seconds kept): 2 to 16 s
    ("librispeech_3005-163389-0007.flac", None),
    ("librispeech_3331-159605-0004.flac", None),
    ("librispeech_3080-5032-0000.flac", None),
    ("librispeech_533-1066-0003.flac", None),
    ("librispeech_1998-15444-0001.flac", None),
    ("librispeech_1688-142285-0006.flac", None),
    ("librispeech_2414-128291-0004.flac", None),
    ("librispeech_2033-164914-0006.flac", 16.0),
]


def speech_batch() -> list[torch.Tensor]:
    from s3prl.util.audio import load_audio

    folder = Path(os.environ.get("S3PRL_BENCH_SPEECH", "/work/shared/data/speech"))
    wavs = []
    for name, keep in FILES:
        wav = load_audio(folder / name)
        wavs.append(wav[: int(keep * 16000)] if keep else wav)
    return wavs


def build(family: str, folder: Path):
    """(ours, reference) full-size models with the same seeded weights."""
    import transformers

    import s3prl.hub as hub
    from test.checkpoint_builders import hubert as H
    from test.checkpoint_builders import wav2vec2 as W
    from test.test_w2v2_family import fairseq_to_hf

    full = dict(encoder_layers=12, encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]",
                conv_pos=128, conv_pos_groups=16, final_dim=256)
    if family == "wav2vec2":
        opts = W.model_options(_name="wav2vec2", **full)
        path = W.write_args_layout(folder / "w2v.pt", opts, W.task_options(False), W.make_state(opts, 0))
        ref = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(feat_extract_norm="group"))
    else:
        opts = H.hubert_options(**full)
        with W.saving_fairseq_classes():
            path = W.write_cfg_layout(folder / "hubert.pt", opts, H.hubert_task(False),
                                      W.make_state(opts, 0, "hubert"))
        ref = transformers.HubertModel(transformers.HubertConfig(feat_extract_norm="group"))
    ours = hub.load(f"{family}_local", ckpt=str(path)).eval()
    from s3prl.util.checkpoint import load_checkpoint

    missing, unexpected = ref.load_state_dict(fairseq_to_hf(load_checkpoint(path)["model"], False), strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return ours, ref.eval()


def runners(ours, ref, wavs):
    from s3prl.upstream.interface import pad_wavs, padding_mask

    padded, lens = pad_wavs(wavs)
    mask = padding_mask(lens).long()

    def run_ours():
        with torch.inference_mode():
            return ours(wavs)["hidden_states"]

    def run_ref():
        with torch.inference_mode():
            return ref(padded, attention_mask=mask, output_hidden_states=True).hidden_states

    return run_ours, run_ref


def memory_child(family: str, which: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, ref = build(family, Path(tmp))
        wavs = speech_batch()
        pair = runners(ours, ref, wavs)
        fn = pair[0] if which == "ours" else pair[1]
        del ours, ref, pair  # keep only the measured model
        gc.collect()
        before = _reset_peak_rss_mb()
        fn()
        print(json.dumps({"peak_growth_mb": _status_mb("VmHWM") - before}))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--models", default="wav2vec2,hubert")
    parser.add_argument("--memory-child", nargs=2, metavar=("FAMILY", "WHICH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    import subprocess

    wavs = speech_batch()
    secs = [round(w.numel() / 16000, 2) for w in wavs]
    print(f"batch: {len(wavs)} wavs, {secs} s; threads {args.threads}; fp32 CPU; torch {torch.__version__}")
    for family in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            ours, ref = build(family, Path(tmp))
            run_ours, run_ref = runners(ours, ref, wavs)
            a, b = run_ours(), run_ref()
            lens = ours(wavs)["hidden_states_len"]
            i = int(lens.argmax())  # the longest wav has no padding: outputs comparable
            diff = max((x[i, : lens[i]] - y[i, : lens[i]]).abs().max().item() for x, y in zip(a[:-1], b[:-1]))
            times = median_times({"ours": run_ours, "transformers": run_ref}, repeats=args.repeats, warmup=1)
        mem = {}
        for which in ("ours", "ref"):
            out = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--memory-child",
                                  family, which], capture_output=True, text=True, check=True, cwd=ROOT)
            mem[which] = json.loads(out.stdout.strip().splitlines()[-1])["peak_growth_mb"]
        ratio = times["ours"] / times["transformers"]
        print(f"{family:9s} ours {times['ours']:.3f} s   transformers {times['transformers']:.3f} s   "
              f"ratio {ratio:.2f}x (target <= 0.80: {'met' if ratio <= 0.8 else 'MISSED'})   "
              f"peak memory ours {mem['ours']:.0f} MiB vs {mem['ref']:.0f} MiB   "
              f"max |diff| longest wav {diff:.1e}")


if __name__ == "__main__":
    main()
