"""Our APC / VQ-APC forward vs a reference forward written like the original s3prl 0.4.18's.

Usage::

    python benchmarks/bench_apc.py [--threads 2] [--repeats 5] [--vq] [--quick]

Model: full-size APC (3 unidirectional GRU layers of 512, residual links, 80 log mel
bins), seeded random weights in the original toolkit's checkpoint layout
(``test/checkpoint_builders/apc.py``), loaded through our ``apc_local`` entry
(``vq_apc_local`` with ``--vq``); the reference runs the same weights.

Batch: 8 wavs of 2, 3, 4, 5, 6, 7, 8 and 10 s cut from the bundled ``sample_speech/``
recordings laid end to end and repeated (real speech, no external data); ``--quick``
takes 4 wavs of 1 to 2.5 s (a smoke run, not a measurement).

Reference (the structure of s3prl 0.4.18 ``upstream/apc/expert.py``, ``apc.py`` and
``audio.py``, restated here; torchaudio cannot be installed on this machine, so its
``compliance.kaldi.fbank`` is restated from the Kaldi definition in float32, as
torchaudio computes it):

* per wav, in float32: 25 ms frames every 10 ms (``snip_edges``), DC removal,
  pre-emphasis 0.97, Hamming window, 512-point power spectrum, 80 triangular mel
  filters from 20 Hz to 8 kHz, log with a float epsilon floor; then per-utterance
  CMVN ``(x - mean) / (1e-10 + std)`` over time (unbiased std);
* ``pad_sequence`` of the features, then per GRU layer: ``pack_padded_sequence``
  (``enforce_sorted=False``), the GRU, ``pad_packed_sequence``; for layers after the
  first the residual adds the unpacked packed input; the hidden states are the
  padded inputs of layers 1 and 2 and the last layer's output;
* the whole batch at once (no regrouping by length).

Ours is called on the list of wavs (the public interface). Figures: median time of
``--repeats`` runs after one warm-up, ours and the reference alternating (the
machine may be shared: the ratio is the robust figure), and the largest difference
of the valid frames between the two (a check that both compute the same thing).
Target: ours <= 0.7x the reference's time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import bundled_speech_batch, median_times  # noqa: E402

SECONDS = [2, 3, 4, 5, 6, 7, 8, 10]
QUICK_SECONDS = [1, 1.5, 2, 2.5]


# --------------------------------------------------------------------------- reference


def _mel(f):
    return 1127.0 * torch.log(1.0 + f / 700.0)


def _mel_banks(num_bins: int = 80, n_fft: int = 512, sr: float = 16000.0, low: float = 20.0) -> torch.Tensor:
    """Kaldi's triangular mel filters on the mel scale, ``(num_bins, n_fft // 2 + 1)``."""
    high = sr / 2
    mel_low, mel_high = _mel(torch.tensor(low)), _mel(torch.tensor(high))
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float32)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel_f = _mel(sr / n_fft * torch.arange(n_fft // 2, dtype=torch.float32))[None, :]
    banks = torch.clamp(torch.minimum((mel_f - left) / (center - left), (right - mel_f) / (right - center)), min=0)
    return torch.nn.functional.pad(banks, (0, 1))  # no weight on the Nyquist bin


class ReferenceAPC(torch.nn.Module):
    """The original toolkit's APC forward (see the module docstring), on our checkpoint's weights."""

    def __init__(self, state: dict, num_layers: int, hidden: int, feat_dim: int = 80):
        super().__init__()
        sizes = [feat_dim] + [hidden] * (num_layers - 1)
        self.rnn_layers = torch.nn.ModuleList(
            torch.nn.GRU(sizes[i], hidden, batch_first=True) for i in range(num_layers)
        )
        self.load_state_dict({k: v for k, v in state.items() if k.startswith("rnn_layers.")})
        self.register_buffer("banks", _mel_banks(feat_dim))
        self.register_buffer("window", torch.hamming_window(400, periodic=False))

    def fbank(self, wav: torch.Tensor) -> torch.Tensor:
        frames = wav.unfold(0, 400, 160)  # (T, 400), snip_edges
        frames = frames - frames.mean(dim=1, keepdim=True)
        prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = (frames - 0.97 * prev) * self.window
        power = torch.fft.rfft(frames, n=512).abs().pow(2)
        mel = power @ self.banks.T
        feats = mel.clamp(min=torch.finfo(torch.float32).eps).log()
        return (feats - feats.mean(0, keepdim=True)) / (1e-10 + feats.std(0, keepdim=True))

    def forward(self, wavs: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats = [self.fbank(w) for w in wavs]
        lengths = torch.LongTensor([len(f) for f in feats])
        x = pad_sequence(feats, batch_first=True)
        total = x.size(1)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        hidden = []
        for i, rnn in enumerate(self.rnn_layers):
            rnn.flatten_parameters()
            out, _ = rnn(packed)
            y, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
            if i > 0:
                y = y + pad_packed_sequence(packed, batch_first=True, total_length=total)[0]
            hidden.append(y)
            if i < len(self.rnn_layers) - 1:
                packed = pack_padded_sequence(y, lengths, batch_first=True, enforce_sorted=False)
        return hidden, lengths


# --------------------------------------------------------------------------- run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vq", action="store_true", help="VQ-APC instead of APC")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import s3prl.hub as hub
    from test.checkpoint_builders.apc import write_apc_checkpoint

    vq = {"codebook_size": [128], "code_dim": [512], "gumbel_temperature": 0.5} if args.vq else None
    with tempfile.TemporaryDirectory() as tmp:
        path = write_apc_checkpoint(Path(tmp) / "apc.ckpt", seed=0, vq=vq, hidden=512, layers=3)
        ours = hub.load("vq_apc_local" if args.vq else "apc_local", ckpt=str(path)).eval()
        state = torch.load(path, weights_only=True)["model"]
    ref = ReferenceAPC(state, 3, 512).eval()
    wavs = bundled_speech_batch(QUICK_SECONDS if args.quick else SECONDS)

    with torch.inference_mode():
        out = ours(wavs)
        ref_hidden, ref_len = ref(wavs)
        assert out["hidden_states_len"].tolist() == ref_len.tolist()
        diff = max(
            float((h[i, :n] - r[i, :n]).abs().max())
            for h, r in zip(out["hidden_states"], ref_hidden)
            for i, n in enumerate(ref_len.tolist())
        )
        times = median_times({"ours": lambda: ours(wavs), "reference": lambda: ref(wavs)},
                             repeats=args.repeats)
    result = {
        "model": "vq_apc" if args.vq else "apc",
        "threads": args.threads,
        "wav_seconds": QUICK_SECONDS if args.quick else SECONDS,
        "ours_s": round(times["ours"], 4),
        "reference_s": round(times["reference"], 4),
        "ratio": round(times["ours"] / times["reference"], 3),
        "max_abs_diff": diff,
    }
    print(f"{result['model']}: ours {result['ours_s']:.3f} s, reference {result['reference_s']:.3f} s, "
          f"ratio {result['ratio']:.2f} (target <= 0.7), max |diff| {diff:.2e}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
