"""Our MR-HuBERT forward vs fairseq's ``MultiresHubertModel`` on the same weights, on one
mixed-length batch.

Usage (in the test-only fairseq env of ``tox.ini`` env ``fairseq``: fairseq-fixed 0.12.3.1 with
fairseq main's MR-HuBERT files laid over it by ``test/fairseq_main_overlay.py``)::

    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 <fairseq-venv>/bin/python benchmarks/bench_mr_hubert.py \\
        [--seconds 2,3,5,8] [--repeats 3] [--threads N] [--quick]

Model: the MR-HuBERT base shape of fairseq main's ``examples/mr_hubert/config/pretrain/
mrhubert_base_librispeech.yaml`` (768 dims, 12 heads, FFN 3072, 4 layers per block, two
resolutions ``label_rate_ratios [1, 2]``: encoder, middle and decoder blocks = 12 layers,
adapter kernel 1, 512-channel conv feature encoder), seeded random weights written in the
converted layout by the test builder. Ours: ``multires_hubert_local`` called on the list of
wavs (the public interface). fairseq: s3prl 0.4.18's way, ``extract_features`` on the
zero-padded batch with its padding mask plus the hooks that collect every hidden state
(``test/test_fairseq_parity.py``). Figures: median wall time of ``--repeats`` alternating runs
after a warm-up; ratio ours / fairseq (< 1: ours is faster); and the largest difference on the
longest wav (the one fairseq's padded batch does not pad). ``--quick``: ``1,2`` s, 1 repeat.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_times  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", default="2,3,5,8")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = "1,2", 1
    if args.threads:
        torch.set_num_threads(args.threads)

    import s3prl.hub as hub
    from test.checkpoint_builders import multires_hubert as M
    from test.checkpoint_builders.hubert import hubert_task
    from test.test_fairseq_parity import _fairseq_mr_hubert_reason, fairseq_mr_hubert

    reason = _fairseq_mr_hubert_reason()
    if reason:
        sys.exit(f"bench_mr_hubert: {reason}")
    M.KERNEL = 1  # the builder's adapter kernel (base config: conv_adapator_kernal 1)
    opts = {**M.mr_options((1, 2), "[4, 4, 4]", False), "encoder_layers": 4, "encoder_embed_dim": 768,
            "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12, "conv_adapator_kernal": 1,
            "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
            "conv_pos": 128, "conv_pos_groups": 16}
    symbols = [["<s>", "<pad>", "</s>", "<unk>", *map(str, range(16))] for _ in range(2)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mrhubert_base.pt"
        torch.save({"task_cfg": hubert_task(False), "model_cfg": opts, "model_weight": M.make_mr_state(opts, 5),
                    "dictionaries_symbols": symbols}, path)
        ours = hub.load("multires_hubert_local", ckpt=str(path)).eval()
        _, run_fairseq = fairseq_mr_hubert(path)

    gen = torch.Generator().manual_seed(0)
    seconds = [float(s) for s in args.seconds.split(",")]
    wavs = [torch.randn(int(s * 16000), generator=gen) * 0.1 for s in seconds]
    lengths = torch.tensor([len(w) for w in wavs])
    padded = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)

    def run_ours():
        with torch.inference_mode():
            return ours(wavs)

    def run_ref():
        with torch.inference_mode():
            return run_fairseq(padded, lengths)

    out, ref = run_ours(), run_ref()
    longest = int(lengths.argmax())
    n = int(out["hidden_states_len"][longest])
    diff = max((h[longest, :n] - r[longest, :n]).abs().max().item() for h, r in zip(out["hidden_states"], ref))
    times = median_times({"ours": run_ours, "fairseq": run_ref}, repeats=args.repeats, warmup=0)
    result = {
        "layers": sum(1 for _ in ours.model.encoders[0].layers) * 3, "seconds": seconds,
        "threads": torch.get_num_threads(), "ours_s": round(times["ours"], 3), "fairseq_s": round(times["fairseq"], 3),
        "ratio_ours_over_fairseq": round(times["ours"] / times["fairseq"], 3),
        "max_abs_diff_longest_wav": float(f"{diff:.2e}"),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
