"""Hugging Face ``transformers`` modules (a ``[test]`` dependency) as the independent
references of the spectrogram transformers and of BYOL-S's ResNet blocks.

* ``ASTForAudioClassification`` (Gong et al.'s AST as transformers ports it) for ``ast``;
* ``ViTLayer`` (the pre-norm ViT block, Dosovitskiy et al. 2021) for the blocks of SSAST and
  PaSST, whose released checkpoints hold the same block in the DeiT/ViT layout;
* ``ResNetBasicLayer`` (He et al. 2016's basic block) for BYOL-S ``resnetish34``.

The seeded checkpoints are in the released layouts; this module only renames their tensors to
the transformers parameter names (splitting the fused ``attn.qkv`` into query / key / value).
The names of transformers 5 (``layers.{i}.attention.q_proj``) and of transformers 4
(``encoder.layer.{i}.attention.attention.query``) are both recognised; any tensor left over or
missing makes ``load_state_dict(strict=True)`` fail, so a renamed module cannot pass silently.
"""

from __future__ import annotations

from torch import Tensor, nn

# role -> parameter-name stem inside one transformers ViT/AST layer
_LAYER_NAMES = (
    {"ln1": "layernorm_before", "ln2": "layernorm_after", "q": "attention.q_proj", "k": "attention.k_proj",
     "v": "attention.v_proj", "o": "attention.o_proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"},  # v5
    {"ln1": "layernorm_before", "ln2": "layernorm_after", "q": "attention.attention.query",
     "k": "attention.attention.key", "v": "attention.attention.value", "o": "attention.output.dense",
     "fc1": "intermediate.dense", "fc2": "output.dense"},  # v4
)  # fmt: skip


def _layer_names(keys) -> dict:
    """The naming scheme of a transformers layer whose state-dict keys are ``keys``."""
    keys = set(keys)
    for names in _LAYER_NAMES:
        if all(f"{stem}.weight" in keys for stem in names.values()):
            return names
    raise RuntimeError(f"unknown transformers ViT layer layout: {sorted(keys)[:8]}...")


def _block_tensors(state: dict, p: str, names: dict) -> dict:
    """One timm-layout block ``{p}norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2``
    renamed to a transformers layer's parameter names."""
    q, k, v = state[p + "attn.qkv.weight"].chunk(3, dim=0)
    qb, kb, vb = state[p + "attn.qkv.bias"].chunk(3, dim=0)
    src = {
        "ln1": (state[p + "norm1.weight"], state[p + "norm1.bias"]), "q": (q, qb), "k": (k, kb), "v": (v, vb),
        "o": (state[p + "attn.proj.weight"], state[p + "attn.proj.bias"]),
        "ln2": (state[p + "norm2.weight"], state[p + "norm2.bias"]),
        "fc1": (state[p + "mlp.fc1.weight"], state[p + "mlp.fc1.bias"]),
        "fc2": (state[p + "mlp.fc2.weight"], state[p + "mlp.fc2.bias"]),
    }  # fmt: skip
    out = {}
    for role, (w, b) in src.items():
        out[f"{names[role]}.weight"], out[f"{names[role]}.bias"] = w, b
    return out


class _Layer(nn.Module):
    """A transformers layer called as ``layer(x) -> x`` (v4 layers return a tuple)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        out = self.layer(x)
        return out[0] if isinstance(out, tuple) else out


def vit_config(dim: int, heads: int, eps: float = 1e-6, attn: str = "sdpa"):
    """``ViTConfig`` of a ViT/DeiT block: qkv bias, MLP ratio 4, exact GELU, no dropout."""
    from transformers import ViTConfig

    cfg = ViTConfig(hidden_size=dim, num_attention_heads=heads, intermediate_size=4 * dim,
                    hidden_act="gelu", layer_norm_eps=eps, qkv_bias=True, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)  # fmt: skip
    cfg._attn_implementation = attn
    return cfg


def hf_vit_blocks(state: dict, prefix: str, depth: int, dim: int, heads: int) -> list[nn.Module]:
    """``depth`` transformers ``ViTLayer`` s (ViT/DeiT settings: LayerNorm eps 1e-6) holding the
    weights of ``{prefix}blocks.{i}.*`` (timm layout) of ``state``; each maps ``(N, T, D) -> (N, T, D)``."""
    from transformers.models.vit.modeling_vit import ViTLayer

    cfg = vit_config(dim, heads)
    blocks = []
    for i in range(depth):
        layer = ViTLayer(cfg).eval()
        names = _layer_names(layer.state_dict())
        layer.load_state_dict(_block_tensors(state, f"{prefix}blocks.{i}.", names), strict=True)
        blocks.append(_Layer(layer).eval())
    return blocks


def hf_ast(state: dict, depth: int, dim: int, heads: int, input_tdim: int = 1024) -> nn.Module:
    """transformers ``ASTForAudioClassification`` holding an AST checkpoint (the
    ``module.v.*`` / ``module.mlp_head.*`` DataParallel layout of Gong et al.'s ``ast``).

    The original uses LayerNorm eps 1e-6 in the DeiT (blocks and final norm) and PyTorch's
    default 1e-5 in ``mlp_head``; ``ASTConfig`` has one ``layer_norm_eps``, so it is set to
    1e-6 and the classifier's LayerNorm is given the original 1e-5.
    """
    from transformers import ASTConfig, ASTForAudioClassification

    labels = state["module.mlp_head.1.weight"].shape[0]
    cfg = ASTConfig(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads,
                    intermediate_size=4 * dim, hidden_act="gelu", layer_norm_eps=1e-6, qkv_bias=True,
                    patch_size=16, frequency_stride=10, time_stride=10, max_length=input_tdim,
                    num_mel_bins=128, num_labels=labels, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)  # fmt: skip
    model = ASTForAudioClassification(cfg).eval()
    model.classifier.layernorm.eps = 1e-5
    keys = list(model.state_dict())
    trunk = "audio_spectrogram_transformer."
    layers = trunk + ("layers." if any(k.startswith(trunk + "layers.") for k in keys) else "encoder.layer.")
    names = _layer_names(k[len(layers) + 2 :] for k in keys if k.startswith(layers + "0."))
    sd = {
        trunk + "embeddings.cls_token": state["module.v.cls_token"],
        trunk + "embeddings.distillation_token": state["module.v.dist_token"],
        trunk + "embeddings.position_embeddings": state["module.v.pos_embed"],
        trunk + "embeddings.patch_embeddings.projection.weight": state["module.v.patch_embed.proj.weight"],
        trunk + "embeddings.patch_embeddings.projection.bias": state["module.v.patch_embed.proj.bias"],
        trunk + "layernorm.weight": state["module.v.norm.weight"],
        trunk + "layernorm.bias": state["module.v.norm.bias"],
        "classifier.layernorm.weight": state["module.mlp_head.0.weight"],
        "classifier.layernorm.bias": state["module.mlp_head.0.bias"],
        "classifier.dense.weight": state["module.mlp_head.1.weight"],
        "classifier.dense.bias": state["module.mlp_head.1.bias"],
    }
    for i in range(depth):
        for k, v in _block_tensors(state, f"module.v.blocks.{i}.", names).items():
            sd[f"{layers}{i}.{k}"] = v
    model.load_state_dict(sd, strict=True)
    return model


def hf_resnet_basic_block(state: dict, p: str, cin: int, cout: int, stride: int) -> nn.Module:
    """transformers ``ResNetBasicLayer`` holding the torchvision-layout basic block ``{p}conv1 /
    bn1 / conv2 / bn2 / downsample.{0,1}`` of ``state`` (eval mode: running statistics)."""
    from transformers.models.resnet.modeling_resnet import ResNetBasicLayer

    block = ResNetBasicLayer(cin, cout, stride=stride).eval()
    bn = ("weight", "bias", "running_mean", "running_var")
    sd = {"layer.0.convolution.weight": state[p + "conv1.weight"],
          "layer.1.convolution.weight": state[p + "conv2.weight"]}  # fmt: skip
    for k in bn:
        sd[f"layer.0.normalization.{k}"] = state[p + f"bn1.{k}"]
        sd[f"layer.1.normalization.{k}"] = state[p + f"bn2.{k}"]
    has_down = p + "downsample.0.weight" in state
    if has_down:
        sd["shortcut.convolution.weight"] = state[p + "downsample.0.weight"]
        for k in bn:
            sd[f"shortcut.normalization.{k}"] = state[p + f"downsample.1.{k}"]
    own = block.state_dict()
    for k in own:  # BatchNorm's num_batches_tracked plays no part in eval
        if k.endswith("num_batches_tracked"):
            sd[k] = own[k]
    if has_down != any(k.startswith("shortcut.") for k in own):
        raise RuntimeError(f"{p}: the checkpoint's downsample and ResNetBasicLayer's shortcut disagree")
    block.load_state_dict(sd, strict=True)
    return block


__all__ = ["hf_ast", "hf_resnet_basic_block", "hf_vit_blocks", "vit_config"]
