"""MAE-AST: Masked Autoencoding Audio Spectrogram Transformer (Baade, Peng & Harwath,
Interspeech 2022, https://arxiv.org/abs/2203.16691): the encoder, as s3prl 0.4.18 runs it.

Checkpoint (fairseq hydra era, ``random_frame_75_12LayerEncoder.pt`` /
``chunk_patch_75_12LayerEncoder.pt``): ``{"cfg": {"model": {...}, "task": {...}, ...},
"model": state_dict, ...}``. Facts from ``mae_ast/models/mae_ast.py`` (MAE-AST-Public)
and s3prl's copy; the options read here (defaults of ``MAE_AST_Config`` /
``MAE_AST_Pretraining_Config``): ``ast_kernel_size_{time,chan}`` and
``ast_kernel_stride_{time,chan}`` (frame model 2 x 128, patch model 16 x 16),
``encoder_layers`` (12), ``encoder_embed_dim`` (768), ``encoder_ffn_embed_dim`` (3072),
``encoder_attention_heads`` (12), ``activation_fn`` (gelu), ``layer_norm_first``
(False), ``enc_sine_pos`` / ``enc_conv_pos``, ``max_token_length`` (48000); task
``feature_dim`` (128), ``sample_rate`` (16000).

Encoder forward (``mask=False, features_only=True``):

1. Kaldi fbank of each wav (``torchaudio.compliance.kaldi.fbank`` defaults: povey
   window, 25 ms / 10 ms, no dither, no energy, ``num_mel_bins=feature_dim``);
2. ``BatchNorm2d(1, affine=False)`` with its running statistics, times 0.5;
3. patches by ``nn.Unfold(kernel=(k_t, k_c), stride=(s_t, s_c))`` over (time,
   mel): tokens time-major, each patch flattened time-major;
   ``post_extract_proj`` (Linear(k_t k_c, D));
4. + sinusoidal positions (``pe[t, 2i] = sin(t / 10000^(2i/D))``,
   ``pe[t, 2i+1] = cos(...)``, the buffer ``enc_sine_pos_embed.pe``), and/or the
   convolutional positional embedding (``enc_conv_pos``);
5. ``encoder.layer_norm`` first (post-LN encoder), then post-LN fairseq layers
   (self-attention, residual, ``self_attn_layer_norm``, ``fc2(act(fc1))``,
   residual, ``final_layer_norm``); hidden states = each layer's output (12).

Hidden states: per time step the ``(F - k_c) // s_c + 1`` mel patches
concatenated (frame model 768, stride 320 samples; patch model 8 x 768 = 6144,
stride 2560 samples). The decoder and the pre-training heads are not used.

Padding: a wav with ``n`` fbank frames has ``(n - k_t) // s_t + 1`` time patches,
exactly what it gives alone. (s3prl 0.4.18 gave a shorter wav in a padded batch
``ceil(n / k_t)`` patches, the last one mixing its frames with the batch's zero
padding; here that partial patch is masked like padding, so a wav's hidden
states never depend on its batch.) The convolutional positional embedding sees
only the wav's own tokens (padding zeroed, as the original does).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.modules.position import sinusoid_position_encoding
from s3prl.upstream.baseline.features import kaldi_fbank
from s3prl.upstream.interface import UpstreamBase

FBANK_STRIDE = 160
_MODEL_DEFAULTS = {
    "encoder_layers": 12, "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12, "activation_fn": "gelu", "layer_norm_first": False,
    "enc_sine_pos": False, "enc_conv_pos": False, "max_token_length": 48000,
    "conv_pos": 128, "conv_pos_groups": 16, "ast_kernel_size_chan": 16,
    "ast_kernel_size_time": 16, "ast_kernel_stride_chan": 16, "ast_kernel_stride_time": 16,
}  # fmt: skip
_ACTIVATIONS = {
    "gelu": F.gelu, "relu": F.relu, "gelu_accurate": lambda x: F.gelu(x, approximate="tanh"),
    "tanh": torch.tanh, "linear": lambda x: x,
}  # fmt: skip (fairseq utils.get_activation_fn)
# Keys of the checkpoint that the encoder does not use (decoder, pre-training heads).
_UNUSED_PREFIXES = ("decoder.", "dec_sine_pos_embed.", "dec_conv_pos_embed.", "post_enc_proj.",
                    "final_proj_reconstruction.", "final_proj_classification.")
_UNUSED_KEYS = ("encoder_mask_emb", "decoder_mask_emb", "layer_norm.weight", "layer_norm.bias")


class SelfAttention(nn.Module):
    """fairseq ``MultiheadAttention`` (self-attention): separate q/k/v/out projections,
    ``q * head_dim ** -0.5``, softmax over keys, padding keys masked."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} attention heads")
        self.heads = heads
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        b, t, d = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, d // h).transpose(1, 2)

        mask = None if pad is None else ~pad[:, None, None, :]
        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)),
                                             split(self.v_proj(x)), attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """fairseq ``TransformerSentenceEncoderLayer`` (post-LN, or pre-LN with ``layer_norm_first``)."""

    def __init__(self, dim: int, ffn: int, heads: int, activation: str, layer_norm_first: bool):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation_fn {activation!r} is not one of {sorted(_ACTIVATIONS)}")
        self.act = _ACTIVATIONS[activation]
        self.layer_norm_first = layer_norm_first
        self.self_attn = SelfAttention(dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.final_layer_norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        if self.layer_norm_first:
            x = x + self.self_attn(self.self_attn_layer_norm(x), pad)
            return x + self.fc2(self.act(self.fc1(self.final_layer_norm(x))))
        x = self.self_attn_layer_norm(x + self.self_attn(x, pad))
        return self.final_layer_norm(x + self.fc2(self.act(self.fc1(x))))


class ConvPositions(nn.Module):
    """wav2vec 2.0-style convolutional positional embedding (``enc_conv_pos``):
    weight-normalised grouped Conv1d (``weight_g``/``weight_v``, norm over dims
    0 and 1), same padding (one trailing frame dropped for even kernels), GELU."""

    def __init__(self, dim: int, kernel: int, groups: int):
        super().__init__()
        self.kernel = kernel
        self.groups = groups
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.weight_v = nn.Parameter(torch.zeros(dim, dim // groups, kernel))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor, pad: Tensor | None) -> Tensor:
        if pad is not None:
            x = x.masked_fill(pad[..., None], 0.0)
        v = self.weight_v
        w = self.weight_g * v / v.norm(dim=(0, 1), keepdim=True)
        y = F.conv1d(x.transpose(1, 2), w, self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[..., :-1]
        return F.gelu(y).transpose(1, 2)


class UpstreamExpert(UpstreamBase):
    """MAE-AST encoder upstream (see the module docstring).

    Args:
        ckpt: local checkpoint path in the released fairseq layout.

    Raises:
        ValueError: no ``cfg``/``model``, unknown options.
        CheckpointKeyError: (a ``ValueError``) missing, unexpected, misshapen,
            non-floating or NaN/Inf weights, naming the file and keys
            (:func:`s3prl.util.checkpoint.load_state_dict_strict`).
    """

    def __init__(self, ckpt: str, **kwargs):
        super().__init__()
        from s3prl.util.checkpoint import load_checkpoint, note_unused_entries, to_plain

        if kwargs:
            raise TypeError(f"unexpected options for MAE-AST: {sorted(kwargs)}")
        where = f"MAE-AST checkpoint {ckpt}"
        data = load_checkpoint(ckpt)
        if not isinstance(data, dict) or "cfg" not in data or "model" not in data:
            raise ValueError(f"{where}: expected a fairseq checkpoint with 'cfg' and 'model'")
        note_unused_entries(ckpt, [k for k in data if k not in ("cfg", "model")])
        cfg = to_plain(data["cfg"])
        model_cfg = {**_MODEL_DEFAULTS, **(cfg.get("model") or {})}
        task_cfg = cfg.get("task") or {}
        if task_cfg.get("feature_type", "fbank") != "fbank":
            raise ValueError(f"{where}: task.feature_type {task_cfg.get('feature_type')!r}, MAE-AST uses 'fbank'")
        self.feature_dim = int(task_cfg.get("feature_dim", 128))
        c = model_cfg
        self.kt, self.kc = int(c["ast_kernel_size_time"]), int(c["ast_kernel_size_chan"])
        self.st, self.sc = int(c["ast_kernel_stride_time"]), int(c["ast_kernel_stride_chan"])
        dim = int(c["encoder_embed_dim"])
        self.post_extract_proj = nn.Linear(self.kt * self.kc, dim)
        self.register_buffer("bn_mean", torch.zeros(1))
        self.register_buffer("bn_var", torch.ones(1))
        self.sine = bool(c["enc_sine_pos"])
        self.conv = ConvPositions(dim, int(c["conv_pos"]), int(c["conv_pos_groups"])) if c["enc_conv_pos"] else None
        self.encoder_layer_norm = nn.LayerNorm(dim)
        self.layer_norm_first = bool(c["layer_norm_first"])
        self.layers = nn.ModuleList(
            EncoderLayer(dim, int(c["encoder_ffn_embed_dim"]), int(c["encoder_attention_heads"]),
                         str(c["activation_fn"]), self.layer_norm_first)
            for _ in range(int(c["encoder_layers"]))
        )  # fmt: skip
        self.max_tokens = int(c["max_token_length"])
        state = dict(data["model"])
        self._load(state, ckpt)
        self.vertical = (self.feature_dim - self.kc) // self.sc + 1
        self.downsample_rate = FBANK_STRIDE * self.st
        self.receptive_field = 400 + (self.kt - 1) * FBANK_STRIDE
        self.hidden_sizes = [self.vertical * dim] * len(self.layers)

    def _load(self, state: dict, where: str) -> None:
        """Load the fairseq ``model`` weights (``where``: the checkpoint file) strictly."""
        from s3prl.util.checkpoint import CheckpointKeyError, load_state_dict_strict

        # a view of this encoder under fairseq's names (the same modules and buffers), so that
        # every message names the checkpoint's own keys
        view = nn.Module()
        view.post_extract_proj = self.post_extract_proj
        view.batch_norm = nn.Module()
        view.batch_norm.register_buffer("running_mean", self.bn_mean)
        view.batch_norm.register_buffer("running_var", self.bn_var)
        view.encoder = nn.Module()
        view.encoder.layer_norm = self.encoder_layer_norm
        view.encoder.layers = self.layers
        if self.conv is not None:
            view.enc_conv_pos_embed = nn.Module()
            view.enc_conv_pos_embed.pos_conv = nn.ModuleList([self.conv])
        load_state_dict_strict(
            view, state, where=where, ignore_prefixes=_UNUSED_PREFIXES,
            ignore_keys=(*_UNUSED_KEYS, "batch_norm.num_batches_tracked", "enc_sine_pos_embed.pe"),
            what="the MAE-AST encoder its cfg describes",
        )  # fmt: skip
        pe = state.get("enc_sine_pos_embed.pe")
        if self.sine and pe is not None:
            if not isinstance(pe, Tensor) or not pe.is_floating_point() or not bool(torch.isfinite(pe).all()):
                raise CheckpointKeyError(
                    f"checkpoint {where}: enc_sine_pos_embed.pe is not a finite floating-point tensor"
                )
            self.register_buffer("pe", pe.float(), persistent=False)
        elif self.sine:
            pe = sinusoid_position_encoding(self.max_tokens, self.post_extract_proj.out_features)
            self.register_buffer("pe", pe[None], persistent=False)

    def forward_padded(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        fb, n_frames = kaldi_fbank(wavs.double(), wavs_len, num_mel_bins=self.feature_dim)
        fb = fb.to(wavs.dtype)
        b, t, f = fb.shape
        x = (fb - self.bn_mean) / torch.sqrt(self.bn_var + 1e-5) * 0.5
        patches = F.unfold(x.unsqueeze(1), kernel_size=(self.kt, self.kc), stride=(self.st, self.sc))
        tokens = self.post_extract_proj(patches.transpose(1, 2))  # (B, L, D), time-major
        t_patches = torch.div(n_frames - self.kt, self.st, rounding_mode="floor") + 1
        n_tokens = t_patches * self.vertical
        pad = torch.arange(tokens.size(1), device=wavs.device)[None] >= n_tokens[:, None]
        if self.conv is not None:
            tokens = tokens + self.conv(tokens, pad)
        if self.sine:
            if tokens.size(1) > self.pe.size(1):
                raise ValueError(
                    f"a wav gives {tokens.size(1)} tokens, more than the model's max_token_length "
                    f"{self.pe.size(1)}: cut the audio into shorter pieces"
                )
            tokens = tokens + self.pe[:, : tokens.size(1)].masked_fill(pad[..., None], 0.0)
        if not self.layer_norm_first:
            tokens = self.encoder_layer_norm(tokens)
        key_pad = pad if bool(pad.any()) else None
        hidden = []
        for layer in self.layers:
            tokens = layer(tokens, key_pad)
            hidden.append(tokens.reshape(b, -1, self.vertical * tokens.size(-1)))
        return hidden, t_patches
