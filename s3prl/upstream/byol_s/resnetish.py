"""ResNetish-34, the BYOL-S ``resnetish34`` encoder (serab-byols ``byol_a/models/resnetish.py``,
after daisukelab/sound-clf-pytorch; He et al., 2016 BasicBlock ResNet).

Facts: stem ``conv1`` (7 x 7, stride 1, padding 3, no bias) -> ``bn1`` -> ReLU -> max-pool
(3, stride 2, padding 1); ``layer1..4`` of BasicBlocks (3, 4, 6, 3 blocks; widths 64, 128,
256, 512; stride 2 in the first block of layers 2-4; 1 x 1 conv + BN ``downsample`` when the
shape changes); each block ``relu(bn2(conv2(relu(bn1(conv1(x))))) + identity)`` with 3 x 3
convolutions without bias. Output ``(N, C, mel', T')`` -> per time step the mel x channel
values (mel-major; 4 x 512 = 2048 for 64 mel bins) -> mean + max over time.
Widths and block counts are read from the state dict.
"""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
        return (out + (x if self.downsample is None else self.downsample(x))).relu()


class ResNetish(nn.Module):
    """``widths`` per layer and ``blocks`` per layer (ResNetish-34: 64/128/256/512, 3/4/6/3)."""

    def __init__(self, stem: int, widths: list[int], blocks: list[int]):
        super().__init__()
        self.conv1 = nn.Conv2d(1, stem, 7, 1, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = stem
        for i, (w, n) in enumerate(zip(widths, blocks)):
            layer = []
            for b in range(n):
                layer.append(BasicBlock(cin, w, 2 if (b == 0 and i > 0) else 1))
                cin = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.bn1(self.conv1(x)).relu())
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = x.permute(0, 3, 2, 1)
        x = x.reshape(x.size(0), x.size(1), -1)
        return x.mean(1) + x.amax(1)


def load_resnetish(state: dict, where: str) -> ResNetish:
    """Build :class:`ResNetish` from a released state dict (shapes read from it).

    Args:
        where: the checkpoint file (messages start with ``checkpoint <where>``).

    Raises:
        ValueError: not a ResNetish state dict.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """
    from s3prl.util.checkpoint import load_state_dict_strict

    if not isinstance(state, dict) or "conv1.weight" not in state or "layer4.0.conv1.weight" not in state:
        raise ValueError(f"checkpoint {where}: not a ResNetish state dict (no conv1.weight / layer4.0.conv1.weight)")
    widths = [state[f"layer{i}.0.conv1.weight"].shape[0] for i in range(1, 5)]
    blocks = [len({k.split(".")[1] for k in state if k.startswith(f"layer{i}.")}) for i in range(1, 5)]
    model = ResNetish(state["conv1.weight"].shape[0], widths, blocks)
    load_state_dict_strict(model, state, where=where, what="ResNetish")
    return model
