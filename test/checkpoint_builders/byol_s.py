"""BYOL-S default checkpoint in the released layout (``default2048_BYOLAs64x96-...pth``: the
``state_dict()`` of ``AudioNTT2020(n_mels=64, d=2048)``, the BYOL-A layout), seeded, released
size (5.3 M parameters)."""

from __future__ import annotations

from pathlib import Path

import torch

from test.checkpoint_builders.byol_a import make_state


def build_byol_s_default(dst: Path):
    path = Path(dst) / "default2048_BYOLAs64x96-seeded.pth"
    torch.save(make_state(d=2048, seed=81), path)
    return "byol_s_default", path


# Not in the shared contract / goldens: BYOL-S divides each log-mel by std / N (N = the
# number of 50 ms windows), so 10 s of audio gives network inputs and outputs ~N times larger
# (outputs ~1e3) and float32 rounding alone exceeds the contract's 1e-4 absolute; one
# 2048-d pass per 50 ms is also too slow for the quick suite. test/test_byol_s.py checks
# parity and padding invariance on short wavs.
BUILDERS: dict = {}


def resnetish_state(widths=(8, 16, 32, 64), blocks=(3, 4, 6, 3), seed: int = 82) -> dict:
    """``ResNetish.state_dict()`` layout (torchvision-style names: ``conv1``, ``bn1``,
    ``layer{i}.{b}.{conv1,bn1,conv2,bn2,downsample.0,downsample.1}``), reduced widths
    (released: 64, 128, 256, 512)."""
    gen = torch.Generator().manual_seed(seed)

    def bn(p, c):
        # BN scales of 0.25 keep activations O(1) through 16 residual blocks
        return {f"{p}.weight": 0.25 + 0.05 * torch.randn(c, generator=gen),
                f"{p}.bias": 0.05 * torch.randn(c, generator=gen),
                f"{p}.running_mean": 0.1 * torch.randn(c, generator=gen),
                f"{p}.running_var": 0.5 + torch.rand(c, generator=gen), f"{p}.num_batches_tracked": torch.tensor(7)}

    def conv(cout, cin, k):
        return torch.randn(cout, cin, k, k, generator=gen) * (2 / (cin * k * k)) ** 0.5

    sd = {"conv1.weight": conv(widths[0], 1, 7), **bn("bn1", widths[0])}
    cin = widths[0]
    for i, (w, n) in enumerate(zip(widths, blocks), start=1):
        for b in range(n):
            p = f"layer{i}.{b}"
            sd[f"{p}.conv1.weight"] = conv(w, cin, 3)
            sd.update(bn(f"{p}.bn1", w))
            sd[f"{p}.conv2.weight"] = conv(w, w, 3)
            sd.update(bn(f"{p}.bn2", w))
            if b == 0 and (i > 1 or cin != w):
                sd[f"{p}.downsample.0.weight"] = conv(w, cin, 1)
                sd.update(bn(f"{p}.downsample.1", w))
            cin = w
    return sd


def build_byol_s_resnetish(dst: Path):
    path = Path(dst) / "resnetish34_BYOLAs64x96-seeded.pth"
    torch.save(resnetish_state(), path)
    return "byol_s_resnetish34", path


CVT_STAGES = [  # (in, width, emb kernel, heads, mlp mult): the released cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512
    (1, 64, 7, 1, 4), (64, 256, 3, 3, 4), (256, 512, 3, 6, 4),
]


def cvt_state(seed: int = 83) -> dict:
    """``CvT.state_dict()`` layout of serab-byols (``layers.{s}.0`` conv embedding,
    ``layers.{s}.1.{g,b}`` channel LayerNorm, ``layers.{s}.2.layers.{d}.0.{norm.{g,b},
    fn.to_q.net.{0,1,2}, fn.to_kv.net.{0,1,2}, fn.to_out.0}``, ``...{d}.1.{norm, fn.net.{0,3}}``),
    released sizes, depth 1 per stage."""
    gen = torch.Generator().manual_seed(seed)

    def r(*shape, s):
        return torch.randn(*shape, generator=gen) * s

    def bn(p, c):
        return {f"{p}.weight": 1 + 0.1 * r(c, s=1), f"{p}.bias": r(c, s=0.1), f"{p}.running_mean": r(c, s=0.1),
                f"{p}.running_var": 0.5 + torch.rand(c, generator=gen), f"{p}.num_batches_tracked": torch.tensor(5)}

    sd = {}
    for s, (cin, dim, k, heads, mult) in enumerate(CVT_STAGES):
        inner = heads * 64
        sd[f"layers.{s}.0.weight"] = r(dim, cin, k, k, s=(1 / (cin * k * k)) ** 0.5)
        sd[f"layers.{s}.0.bias"] = r(dim, s=0.1)
        sd[f"layers.{s}.1.g"] = 1 + r(1, dim, 1, 1, s=0.1)
        sd[f"layers.{s}.1.b"] = r(1, dim, 1, 1, s=0.1)
        p = f"layers.{s}.2.layers.0."
        for n in ("0", "1"):
            sd[f"{p}{n}.norm.g"] = 1 + r(1, dim, 1, 1, s=0.1)
            sd[f"{p}{n}.norm.b"] = r(1, dim, 1, 1, s=0.1)
        for proj, out in (("to_q", inner), ("to_kv", 2 * inner)):
            sd[f"{p}0.fn.{proj}.net.0.weight"] = r(dim, 1, 3, 3, s=1 / 3)
            sd.update(bn(f"{p}0.fn.{proj}.net.1", dim))
            sd[f"{p}0.fn.{proj}.net.2.weight"] = r(out, dim, 1, 1, s=dim**-0.5)
        sd[f"{p}0.fn.to_out.0.weight"] = r(dim, inner, 1, 1, s=inner**-0.5)
        sd[f"{p}0.fn.to_out.0.bias"] = r(dim, s=0.1)
        sd[f"{p}1.fn.net.0.weight"] = r(dim * mult, dim, 1, 1, s=dim**-0.5)
        sd[f"{p}1.fn.net.0.bias"] = r(dim * mult, s=0.1)
        sd[f"{p}1.fn.net.3.weight"] = r(dim, dim * mult, 1, 1, s=(dim * mult) ** -0.5)
        sd[f"{p}1.fn.net.3.bias"] = r(dim, s=0.1)
    return sd


def build_byol_s_cvt(dst: Path):
    path = Path(dst) / "cvt_s1-d1-e64_s2-d1-e256_s3-d1-e512_BYOLAs64x96-seeded.pth"
    torch.save(cvt_state(), path)
    return "byol_s_cvt", path
