"""AST and PaSST forward: ours vs a reference ViT (Hugging Face transformers ``ViTLayer``,
scaled-dot-product attention, the block AST / PaSST build their transformers from) on the
same seeded weights and the same batch.

    python benchmarks/bench_audio_vit.py                 # full size (768 wide, 12 blocks)
    python benchmarks/bench_audio_vit.py --depth 2 --repeats 3 --threads 1

Cases:

* ``ast``: one 10.24 s window (1024 fbank frames -> 2 + 12 x 101 tokens) per item,
  ``--batch`` items: patch embedding + blocks, ours (``s3prl.upstream.ast.model``) vs
  ``F.conv2d`` + transformers ``ViTLayer`` s;
* ``passt``: ``--windows`` 160 ms windows (128 mel x 16 frames -> 2 + 12 tokens) and as
  many 800 ms windows (2 + 12 x 7 tokens), the two levels of ``passt_base2level``:
  ``PaSSTNet`` vs the same computation on transformers ``ViTLayer`` s.

Prints median seconds of ``--repeats`` runs (after one warm-up; ours and the reference
alternate), the ratio ours / reference
(below 1 is faster) and the max abs difference of the outputs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3prl.upstream.ast.model import SpectrogramViT  # noqa: E402
from s3prl.upstream.passt.expert import PaSSTNet  # noqa: E402
from test.hf_reference import hf_vit_blocks  # noqa: E402


def _time_pair(fn_a, fn_b, repeats: int) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """Median seconds of ``fn_a`` and ``fn_b``, run alternately (so that load from other
    processes on a shared machine falls on both), after one warm-up call each."""
    with torch.no_grad():
        out_a, out_b = fn_a(), fn_b()
        times_a, times_b = [], []
        for _ in range(repeats):
            for fn, times in ((fn_a, times_a), (fn_b, times_b)):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
    return statistics.median(times_a), statistics.median(times_b), out_a, out_b


def _seed(module: torch.nn.Module, seed: int) -> None:
    """Seeded weights: N(0, 0.02), LayerNorm scales N(1, 0.02)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            is_scale = name.endswith("weight") and p.dim() == 1
            p.copy_(torch.randn(p.shape, generator=gen) * 0.02 + (1.0 if is_scale else 0.0))


def bench_ast(dim: int, depth: int, batch: int, repeats: int) -> tuple[float, float, float]:
    ours = SpectrogramViT(dim, depth, dim // 64, (16, 16), (10, 10), 128, 1024).eval()
    _seed(ours, 1)
    ref_blocks = hf_vit_blocks(ours.state_dict(), "", depth, dim, dim // 64)
    fbank = torch.randn(batch, 1024, 128, generator=torch.Generator().manual_seed(2))

    def reference():
        x = F.conv2d(fbank.transpose(1, 2).unsqueeze(1), ours.patch_embed.proj.weight, ours.patch_embed.proj.bias,
                     stride=(10, 10)).flatten(2).transpose(1, 2)
        x = torch.cat([ours.cls_token.expand(batch, -1, -1), ours.dist_token.expand(batch, -1, -1), x], 1)
        x = x + ours.pos_embed
        for blk in ref_blocks:
            x = blk(x)
        return x[:, 2:]

    def mine():
        return ours(fbank)[0][-1]

    t_ours, t_ref, a, b = _time_pair(mine, reference, repeats)
    b = b.reshape(batch, 12, 101, dim).transpose(1, 2).flatten(2)
    return t_ours, t_ref, float((a - b).abs().max())


def bench_passt(dim: int, depth: int, windows: int, repeats: int) -> tuple[float, float, float]:
    net = PaSSTNet(dim, depth, dim // 64, 12, 99, 527).eval()
    _seed(net, 3)
    ref_blocks = hf_vit_blocks(net.state_dict(), "", depth, dim, dim // 64)
    gen = torch.Generator().manual_seed(4)
    mels = [torch.randn(windows, 128, 16, generator=gen), torch.randn(windows, 128, 80, generator=gen)]

    def reference_one(mel):
        x = F.conv2d(mel.unsqueeze(1), net.patch_embed.proj.weight, net.patch_embed.proj.bias, stride=10)
        x = x + net.time_new_pos_embed[..., : x.shape[-1]] + net.freq_new_pos_embed
        x = x.flatten(2).transpose(1, 2)
        special = torch.cat([net.cls_token, net.dist_token], 1) + net.new_pos_embed
        x = torch.cat([special.expand(x.size(0), -1, -1), x], 1)
        for blk in ref_blocks:
            x = blk(x)
        x = F.layer_norm(x, (dim,), net.norm.weight, net.norm.bias, 1e-6)
        f = (x[:, 0] + x[:, 1]) / 2
        return torch.cat([net.head(f), f], -1)

    t_ours, t_ref, a, b = _time_pair(lambda: torch.cat([net(m) for m in mels], -1),
                                     lambda: torch.cat([reference_one(m) for m in mels], -1), repeats)
    return t_ours, t_ref, float((a - b).abs().max())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--batch", type=int, default=2, help="AST windows per batch")
    p.add_argument("--windows", type=int, default=40, help="PaSST windows per level (2 s of audio)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, dim {args.dim}, depth {args.depth}")
    print(f"{'case':8s} {'ours s':>9s} {'ref s':>9s} {'ratio':>7s} {'max diff':>9s}")
    for name, fn, n in (("ast", bench_ast, args.batch), ("passt", bench_passt, args.windows)):
        t_ours, t_ref, diff = fn(args.dim, args.depth, n, args.repeats)
        print(f"{name:8s} {t_ours:9.3f} {t_ref:9.3f} {t_ours / t_ref:7.2f} {diff:9.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
