"""Our wav2vec 2.0 Conformer forward vs ``transformers``' ``Wav2Vec2ConformerModel`` on the
same weights, on one mixed-length batch.

Usage::

    python benchmarks/bench_conformer.py [--position rel_pos|rope] [--layers 24] [--seconds 2,3,5,8]
        [--repeats 3] [--threads N] [--quick]

Model: the wav2vec 2.0 Conformer Large width (1024 dims, 16 heads, FFN 4096, depthwise
kernel 31, layer-norm feature encoder with 512 channels) with ``--layers`` blocks (24 in the
released models), seeded random weights written in fairseq's layout by the test builder,
loaded through ``wav2vec2_conformer_local`` and copied into ``transformers``. Batch: seeded
speech-like noise of the given lengths (mixed lengths). Ours is called on the list of wavs
(the public interface, which regroups by length); transformers on the zero-padded batch
with its attention mask. Figures: median wall time of ``--repeats`` alternating runs after
a warm-up, and the ratio ours / transformers (< 1: ours is faster). ``--quick``: 4 blocks,
``1,2`` s (a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import median_times  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--position", default="rel_pos", choices=["rel_pos", "rope"])
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--seconds", default="2,3,5,8")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.seconds, args.repeats = 4, "1,2", 1
    if args.threads:
        torch.set_num_threads(args.threads)

    import s3prl.hub as hub
    from test.checkpoint_builders import wav2vec2_conformer as C
    from test.checkpoint_builders.wav2vec2 import task_options, write_cfg_layout
    from test.test_wav2vec2_conformer import fairseq_to_hf

    opts = C.conformer_options(
        args.position, encoder_layers=args.layers, encoder_embed_dim=1024, encoder_ffn_embed_dim=4096,
        encoder_attention_heads=16, conv_feature_layers="[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2",
        conv_pos=128, conv_pos_groups=16, depthwise_conv_kernel_size=31,
    )
    state = C.make_conformer_state(opts, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_cfg_layout(Path(tmp) / "conformer_large.pt", opts, task_options(True), state)
        ours = hub.wav2vec2_conformer_local(str(path)).eval()
    import transformers

    cfg = transformers.Wav2Vec2ConformerConfig(
        hidden_size=1024, num_hidden_layers=args.layers, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True, hidden_act="swish",
        position_embeddings_type={"rel_pos": "relative", "rope": "rotary"}[args.position],
        conv_depthwise_kernel_size=31, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
    )
    ref = transformers.Wav2Vec2ConformerModel(cfg).eval()
    missing, unexpected = ref.load_state_dict(fairseq_to_hf(state), strict=False)
    assert not unexpected and set(missing) <= {"encoder.embed_positions.inv_freq"}, (missing, unexpected)
    del state

    gen = torch.Generator().manual_seed(0)
    seconds = [float(s) for s in args.seconds.split(",")]
    wavs = [torch.randn(int(s * 16000), generator=gen) * 0.1 for s in seconds]
    lengths = torch.tensor([len(w) for w in wavs])
    padded = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)
    mask = (torch.arange(padded.size(1))[None] < lengths[:, None]).long()
    normed = torch.stack([F.pad(F.layer_norm(w, w.shape), (0, padded.size(1) - len(w))) for w in wavs])

    def run_ours():
        with torch.inference_mode():
            return ours(wavs)

    def run_ref():
        with torch.inference_mode():
            return ref(normed, attention_mask=mask, output_hidden_states=True)

    times = median_times({"ours": run_ours, "transformers": run_ref}, repeats=args.repeats, warmup=1)
    result = {
        "position": args.position, "layers": args.layers, "seconds": seconds, "threads": torch.get_num_threads(),
        "ours_s": round(times["ours"], 3), "transformers_s": round(times["transformers"], 3),
        "ratio_ours_over_transformers": round(times["ours"] / times["transformers"], 3),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
