"""The wav2vec 2.0-style architecture shared by wav2vec 2.0, XLS-R, HuBERT, data2vec,
WavLM, UniSpeech-SAT and DistilHuBERT.

Read top to bottom, the model is::

    waveform (B, samples)
      -> [optional] per-utterance normalisation        normalize_waveforms
      -> convolutional feature encoder (7 convs)       ConvFeatureEncoder
      -> LayerNorm + Linear to the encoder dim          Wav2Vec2Model.layer_norm / post_extract_proj
      -> + convolutional relative position embedding    PositionalConvEmbedding / PositionalConvStack
      -> [post-LN only] encoder LayerNorm
      -> L transformer layers (post-LN or pre-LN)       EncoderLayer(SelfAttention)
      -> [pre-LN only] final encoder LayerNorm on the last hidden state

Sources (facts only; the code is written from the papers and the checkpoint
layouts): Baevski et al. 2020, "wav2vec 2.0" (https://arxiv.org/abs/2006.11477);
Hsu et al. 2021, "HuBERT" (https://arxiv.org/abs/2106.07447); Baevski et al. 2022,
"data2vec" (https://arxiv.org/abs/2202.03555); fairseq's
``fairseq/models/wav2vec/wav2vec2.py`` (``Wav2Vec2Config`` field names and
state-dict key names).

Module and parameter names follow fairseq's state dicts where they are readable
(``encoder.layers.3.self_attn.q_proj.weight``, ``encoder.layer_norm``,
``post_extract_proj``); the few ``nn.Sequential`` index names of fairseq
(``feature_extractor.conv_layers.0.0.weight``, ``encoder.pos_conv.0.weight_g``)
are renamed on loading by :func:`s3prl.upstream.wav2vec2.loading.rename_fairseq_keys`.

Hidden states (the ``transformers`` ``output_hidden_states`` convention, and
fairseq's layer results): ``L + 1`` tensors of ``(batch, frames, embed_dim)``:
the input of the first transformer layer (after the positional convolution, and
the encoder LayerNorm for post-LN models), then the output of each layer; for
pre-LN models (``layer_norm_first``) the encoder LayerNorm is applied to the
last one.

Padding: every wav's valid frames are computed from its own valid samples only,
even for group-norm base models (the original s3prl toolkit's issue 415):

* conv frames follow the conv arithmetic ``floor((L - k) / s) + 1`` per layer, so
  valid output frames only read valid input frames (frame ``t`` reads inputs
  ``[t*s, t*s + k)`` and ``t*s + k <= L`` for every valid ``t``);
* the group norm of the first conv layer takes its mean/variance over each wav's
  own valid frames (:func:`masked_group_norm`); the other conv ops are pointwise
  in time or per-frame (LayerNorm over channels);
* padded frames are zeroed before the (same-padded) positional convolution and
  between the layers of data2vec's positional conv stack;
* attention uses a key padding mask.

PLUG POINT for other families (WavLM's gated relative position bias, ...)
-------------------------------------------------------------------------
:class:`TransformerEncoder` takes ``layer_factory(index, config) -> nn.Module``.
A layer is called as ``x, position_bias = layer(x, attn_mask=attn_mask,
position_bias=position_bias)`` where

* ``x``: ``(batch, frames, embed_dim)``;
* ``attn_mask``: ``None`` (no padding) or a bool ``(batch, 1, 1, frames)`` tensor,
  ``True`` at valid keys (the ``scaled_dot_product_attention`` convention);
* ``position_bias``: whatever the previous layer returned (``None`` for the
  first layer); the encoder threads it from layer to layer untouched.

The simplest plug is to keep :class:`EncoderLayer` and give it another attention
module: ``EncoderLayer(config, attention=MyAttention(...))``, where
``MyAttention.forward(x, attn_mask=None, position_bias=None) -> (out, position_bias)``
(same signature as :class:`SelfAttention`). Family-specific hyper-parameters go in
``Wav2Vec2Config.extra`` (a dict). :class:`Wav2Vec2Model` passes its
``layer_factory`` argument through to the encoder.

Layer drop (training only) skips a layer without calling it: its input is
repeated as its output and ``position_bias`` passes on unchanged, so a family
whose first layer creates the bias must accept ``position_bias=None`` in any
layer (or create it in every layer that may receive ``None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s3prl.upstream.conv import conv2d
from s3prl.upstream.interface import padding_mask_or_none

__all__ = [
    "Wav2Vec2Config",
    "DEFAULT_CONV_LAYERS",
    "normalize_waveforms",
    "masked_group_norm",
    "conv1d_frames_major",
    "ConvLayer",
    "ConvFeatureEncoder",
    "PositionalConvEmbedding",
    "PositionalConvStack",
    "SelfAttention",
    "EncoderLayer",
    "TransformerEncoder",
    "Wav2Vec2Model",
]

#: (channels, kernel, stride) of the 7 conv layers of every released model:
#: 400-sample receptive field, 320-sample (20 ms) stride.
DEFAULT_CONV_LAYERS: tuple[tuple[int, int, int], ...] = (
    (512, 10, 5),
    *((512, 3, 2),) * 4,
    *((512, 2, 2),) * 2,
)


@dataclass
class Wav2Vec2Config:
    """Architecture of a wav2vec 2.0-style model (fairseq's field in brackets).

    Attributes:
        conv_layers: ``(channels, kernel, stride)`` per feature-encoder conv
            [``conv_feature_layers``].
        extractor_mode: ``"group_norm"`` (GroupNorm on the first conv only; base
            models) or ``"layer_norm"`` (LayerNorm over channels after every conv;
            large / XLS-R / data2vec) [``extractor_mode``: "default" / "layer_norm"].
        conv_bias: conv layers have a bias [``conv_bias``].
        embed_dim: transformer width [``encoder_embed_dim``].
        num_layers: transformer layers [``encoder_layers``].
        num_heads: attention heads [``encoder_attention_heads``].
        ffn_dim: feed-forward inner size [``encoder_ffn_embed_dim``].
        activation: ``"gelu"``, ``"gelu_accurate"`` (tanh approximation) or
            ``"relu"`` [``activation_fn``].
        layer_norm_first: pre-LN layers and a final encoder LayerNorm
            [``layer_norm_first``].
        conv_pos: positional conv kernel size [``conv_pos``].
        conv_pos_groups: positional conv groups [``conv_pos_groups``].
        pos_conv_depth: 1 = one weight-normed conv; > 1 = data2vec's stack of
            ``pos_conv_depth`` convs of kernel ``max(3, conv_pos // depth)`` with
            affine-free LayerNorm [``pos_conv_depth``].
        normalize: normalise each waveform to zero mean, unit variance (task
            config ``normalize``).
        dropout, attention_dropout, activation_dropout, layerdrop, dropout_input:
            training-time regularisation (inactive in eval mode)
            [``dropout``, ``attention_dropout``, ``activation_dropout``,
            ``encoder_layerdrop``, ``dropout_input``].
        layer_norm_eps: epsilon of every LayerNorm / GroupNorm (1e-5 as in fairseq).
        extra: family-specific options (e.g. WavLM's relative position buckets).
    """

    conv_layers: tuple[tuple[int, int, int], ...] = DEFAULT_CONV_LAYERS
    extractor_mode: str = "group_norm"
    conv_bias: bool = False
    embed_dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    ffn_dim: int = 3072
    activation: str = "gelu"
    layer_norm_first: bool = False
    conv_pos: int = 128
    conv_pos_groups: int = 16
    pos_conv_depth: int = 1
    normalize: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    layerdrop: float = 0.0
    dropout_input: float = 0.0
    layer_norm_eps: float = 1e-5
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.conv_layers = tuple(tuple(int(v) for v in layer) for layer in self.conv_layers)
        if self.extractor_mode not in ("group_norm", "layer_norm"):
            raise ValueError(
                f"extractor_mode must be 'group_norm' or 'layer_norm', got {self.extractor_mode!r}"
            )
        if any(len(layer) != 3 for layer in self.conv_layers) or not self.conv_layers:
            raise ValueError(f"conv_layers must be (channels, kernel, stride) triples, got {self.conv_layers}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")

    @property
    def downsample_rate(self) -> int:
        """Input samples per output frame (product of the conv strides; 320)."""
        return math.prod(s for _, _, s in self.conv_layers)

    @property
    def receptive_field(self) -> int:
        """Fewest input samples that give one frame (400 for the released models)."""
        field_, jump = 1, 1
        for _, k, s in self.conv_layers:
            field_ += (k - 1) * jump
            jump *= s
        return field_


_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,
    "gelu_accurate": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}
#: the same activations overwriting their input (used without autograd, on fresh tensors)
_INPLACE_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": torch.ops.aten.gelu_,
    "gelu_accurate": lambda x: torch.ops.aten.gelu_(x, approximate="tanh"),
    "relu": torch.relu_,
}


# --------------------------------------------------------------------------- input


def normalize_waveforms(wavs: Tensor, wavs_len: Tensor, eps: float = 1e-5) -> Tensor:
    """Zero mean, unit variance per waveform over its valid samples only.

    ``(x - mean) / sqrt(var + eps)`` with the biased variance: the semantics of
    ``F.layer_norm(wav, wav.shape)`` that fairseq's audio datasets apply when the
    task config says ``normalize: True``. Padded samples come out as 0.

    Args:
        wavs: ``(batch, samples)`` float, zero padded on the right.
        wavs_len: ``(batch,)`` long, valid samples per wav.
        eps: variance epsilon (1e-5, fairseq's).

    Returns:
        ``(batch, samples)`` tensor, same dtype as ``wavs`` (statistics in fp64: cheap
        next to the model, and exact enough for near-silent wavs).
    """
    x = wavs.double() if wavs.device.type != "mps" else wavs.float()
    valid = torch.arange(x.size(1), device=x.device)[None, :] < wavs_len[:, None]
    n = wavs_len.to(x.dtype).clamp(min=1)[:, None]
    mean = x.masked_fill(~valid, 0.0).sum(1, keepdim=True) / n
    centered = (x - mean).masked_fill(~valid, 0.0)
    var = centered.square().sum(1, keepdim=True) / n
    return (centered * torch.rsqrt(var + eps)).to(wavs.dtype)


# --------------------------------------------------------------------------- feature encoder


def masked_group_norm(
    x: Tensor, lengths: Optional[Tensor], weight: Tensor, bias: Tensor, eps: float = 1e-5
) -> Tensor:
    """GroupNorm with one group per channel, statistics over each sequence's valid frames.

    Equals ``nn.GroupNorm(C, C)`` applied to each sequence cut to its own
    ``lengths[b]`` frames, so a wav's result does not depend on how much padding
    the batch adds. Computed in fp32 (fairseq's ``Fp32GroupNorm``), with the
    two-pass biased variance ``mean((x - mean)^2)``.

    Args:
        x: ``(batch, channels, frames)``, any memory layout (the feature encoder
            gives a frames-major view, see :class:`ConvLayer`); the output keeps it.
        lengths: ``(batch,)`` valid frames, or ``None`` when nothing is padded.
        weight, bias: ``(channels,)`` affine parameters.
        eps: variance epsilon.

    Returns:
        ``(batch, channels, frames)`` in ``x``'s dtype; padded frames hold finite
        values that valid frames never read.
    """
    dtype, frames = x.dtype, x.size(-1)
    x = x.float()
    if lengths is None or bool((lengths == frames).all()):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).square().mean(-1, keepdim=True)
    else:  # per-sequence statistics over the valid frames (cheap slices, no full-size mask)
        means, variances = [], []
        for b, n in enumerate(lengths.tolist()):
            valid = x[b, :, : max(int(n), 1)]
            m = valid.mean(-1, keepdim=True)
            means.append(m)
            variances.append((valid - m).square().mean(-1, keepdim=True))
        mean, var = torch.stack(means), torch.stack(variances)
    scale = torch.rsqrt(var + eps) * weight.float()[None, :, None]
    shift = bias.float()[None, :, None] - mean * scale
    return torch.addcmul(shift, x, scale).to(dtype)  # (x - mean) * scale + bias in one pass


def conv1d_frames_major(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride: int = 1,
                        padding: int = 0, groups: int = 1) -> Tensor:
    """``F.conv1d`` on frames-major tensors: ``(batch, frames, in_channels)`` -> ``(batch, frames_out, channels)``.

    The ``(B, T, C)`` memory of ``x`` is the channels-last (NHWC) memory of a
    ``(B, C, 1, T)`` image, so the conv runs as a channels-last ``conv2d`` without
    copying ``x``; oneDNN computes those on CPU at about the matmul rate: 1.3x
    faster than ``conv1d`` on ``(B, C, T)`` tensors for the feature encoder's
    512-channel convs, 2x for the grouped positional conv (kernel 128, 16 groups).
    The result is a contiguous ``(B, T_out, C_out)`` tensor, ready for the
    per-frame LayerNorm and Linear layers.

    Args:
        x: ``(batch, frames, in_channels)``.
        weight: ``(channels, in_channels / groups, kernel)`` (``nn.Conv1d``'s).
        bias: ``(channels,)`` or ``None``.
        stride, padding, groups: as ``F.conv1d`` (padding on both sides of time).

    Returns:
        ``(batch, floor((frames + 2 * padding - kernel) / stride) + 1, channels)``.
    """
    image = x.transpose(1, 2).unsqueeze(2)  # (B, C, 1, T) view
    kernel = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    # through the shared CPU bf16/fp16 route (s3prl.upstream.conv): small groups run in fp32
    y = conv2d(image, kernel, bias, stride=(1, stride), padding=(0, padding), groups=groups)
    return y.squeeze(2).transpose(1, 2)


def _gelu(x: Tensor, inplace: bool) -> Tensor:
    """GELU, overwriting ``x`` when ``inplace`` (only for tensors nobody else reads:
    it saves allocating, and page-faulting, a new tensor as large as ``x``)."""
    return torch.ops.aten.gelu_(x) if inplace else F.gelu(x)


class ConvLayer(nn.Module):
    """One feature-encoder layer: Conv1d (no padding) -> [norm] -> GELU, on frames-major tensors.

    ``norm`` is ``"group"`` (per-channel GroupNorm over time, padding-masked),
    ``"layer"`` (LayerNorm over channels, per frame) or ``None``.

    Input/Output: ``(batch, frames, in_channels)`` -> ``(batch, floor((frames - k) / s) + 1, channels)``
    (frames-major: the channels of one frame are contiguous). The parameter is
    the usual ``conv.weight`` ``(channels, in_channels, k)``.

    Speed: the conv runs through :func:`conv1d_frames_major` (no transposes between
    the layers, the LayerNorm and the projection); the group norm of the waveform
    layer takes its statistics from the waveform (:meth:`group_norm_affine`), so the
    layer can run on any time slice; without autograd, the norm's affine and the
    GELU overwrite the conv output.
    """

    def __init__(self, in_channels: int, channels: int, kernel: int, stride: int, bias: bool,
                 norm: Optional[str], eps: float = 1e-5):
        super().__init__()
        self.kernel, self.stride, self.norm_kind, self.eps = kernel, stride, norm, eps
        self.conv = nn.Conv1d(in_channels, channels, kernel, stride=stride, bias=bias)
        if norm == "group":
            self.norm = nn.GroupNorm(channels, channels, eps=eps, affine=True)
        elif norm == "layer":
            self.norm = nn.LayerNorm(channels, eps=eps)
        else:
            self.norm = None

    @property
    def stats_from_input(self) -> bool:
        """Whether the group norm statistics come from the input (few input channels)."""
        return self.norm_kind == "group" and self.conv.in_channels * self.kernel <= 64

    def forward(self, x: Tensor, lengths: Optional[Tensor], affine: Optional[tuple[Tensor, Tensor]] = None) -> Tensor:
        """``x``: (B, T, C_in); ``lengths``: (B,) valid output frames of this layer or None;
        ``affine``: the group norm's ``(scale, shift)`` from :meth:`group_norm_affine`
        (computed here when ``None``)."""
        inplace = not torch.is_grad_enabled()  # no autograd graph: overwrite fresh tensors
        y = conv1d_frames_major(x, self.conv.weight, self.conv.bias, self.stride)  # (B, T_out, C_out)
        if self.norm_kind == "group":
            if affine is None and self.stats_from_input:
                affine = self.group_norm_affine(x, lengths)
            if affine is None:
                y = masked_group_norm(y.transpose(1, 2), lengths, self.norm.weight, self.norm.bias,
                                      self.eps).transpose(1, 2)
                inplace = inplace or not y.requires_grad
            elif y.dtype == torch.float32:
                y = torch.addcmul(affine[1], y, affine[0], out=y) if inplace else torch.addcmul(affine[1], y, affine[0])
            else:
                y = torch.addcmul(affine[1], y.float(), affine[0]).to(y.dtype)
        elif self.norm_kind == "layer":
            y = F.layer_norm(y.float(), (y.size(-1),), self.norm.weight.float(), self.norm.bias.float(),
                             self.eps).to(y.dtype)
        return _gelu(y, inplace)

    def group_norm_affine(self, x: Tensor, lengths: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        """The group norm as ``y * scale + shift`` on this layer's conv output ``y``, its
        statistics over each wav's valid output frames computed from the conv input.

        The conv is linear, so over a wav's valid frames ``mean(y_c) = w_c . m + b_c``
        and ``var(y_c) = w_c^T S w_c``, where ``m`` and ``S`` are the mean and the
        covariance (fp64) of the ``kernel * C_in``-sample input windows: a
        ``(k C_in)^2`` matrix per wav instead of passes over ``y``, the largest tensor
        of the model (512 channels at 3.2 kHz), and ``y`` can then be computed and
        normalised one time slice at a time. Used when :attr:`stats_from_input`.

        Args:
            x: ``(B, T, C_in)`` the whole input (zero padded).
            lengths: ``(B,)`` valid output frames, or ``None`` (all valid).

        Returns:
            ``(scale, shift)``, each ``(B, 1, C)`` fp32.
        """
        frames = (x.size(1) - self.kernel) // self.stride + 1
        n_valid = [frames] * x.size(0) if lengths is None else [max(int(n), 1) for n in lengths.tolist()]
        windows = x.double().flatten(1).unfold(1, self.kernel * x.size(-1), self.stride * x.size(-1))
        w = self.conv.weight.double().transpose(1, 2).flatten(1)  # (C, k * C_in), the windows' order
        means, variances = [], []
        for b, n in enumerate(n_valid):
            frames_b = windows[b, :n]  # (n, k * C_in)
            m = frames_b.mean(0)
            centred = frames_b - m
            cov = centred.T @ centred / n
            means.append(w @ m)
            variances.append(((w @ cov) * w).sum(-1))
        mean, var = torch.stack(means), torch.stack(variances).clamp(min=0)
        if self.conv.bias is not None:
            mean = mean + self.conv.bias.double()
        scale = torch.rsqrt(var + self.eps) * self.norm.weight.double()
        shift = self.norm.bias.double() - mean * scale
        return scale.float()[:, None, :], shift.float()[:, None, :]


class ConvFeatureEncoder(nn.Module):
    """The convolutional feature encoder: waveform -> 50 Hz frames.

    Args:
        conv_layers: ``(channels, kernel, stride)`` per layer.
        mode: ``"group_norm"`` (GroupNorm after the first conv only) or
            ``"layer_norm"`` (LayerNorm after every conv).
        conv_bias: whether the convs have a bias.
        eps: norm epsilon.

    Input: ``(batch, samples)`` waveforms and ``(batch,)`` valid samples.
    Output: ``(batch, channels[-1], frames)`` and ``(batch,)`` valid frames
    (conv arithmetic, see :func:`s3prl.upstream.interface.conv_frames`). The
    features are a transposed view of a contiguous ``(batch, frames, channels)``
    tensor, so ``features.transpose(1, 2)`` costs nothing.

    Time slices: output frames ``[a, b)`` depend only on samples
    ``[a * stride, (b - 1) * stride + receptive_field)`` (convs without padding, and
    the group norm's statistics come from the whole waveform first, see
    :meth:`ConvLayer.group_norm_affine`), so the encoder runs slice by slice, each
    slice's largest tensor (the first layer's output) about :attr:`slice_bytes`:
    the same numbers, with the first layers' outputs (2.6 GB per minute of audio for
    512 channels) never held whole, which also keeps them in memory the allocator
    reuses. The group norm without input statistics (not in released models) runs
    on the whole batch.
    """

    #: target size of the first layer's output per time slice (bytes)
    slice_bytes: int = 256 * 2**20

    def __init__(self, conv_layers, mode: str = "group_norm", conv_bias: bool = False, eps: float = 1e-5):
        super().__init__()
        layers, in_ch = [], 1
        for i, (ch, k, s) in enumerate(conv_layers):
            norm = "layer" if mode == "layer_norm" else ("group" if i == 0 else None)
            layers.append(ConvLayer(in_ch, ch, k, s, conv_bias, norm, eps))
            in_ch = ch
        self.conv_layers = nn.ModuleList(layers)
        self.stride = math.prod(s for _, _, s in conv_layers)
        self.receptive_field, jump = 1, 1
        for _, k, s in conv_layers:
            self.receptive_field += (k - 1) * jump
            jump *= s

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        x = wavs[:, :, None]  # frames-major (B, T, 1)
        layer_lengths, lengths = [], wavs_len
        for layer in self.conv_layers:
            lengths = (torch.div(lengths - layer.kernel, layer.stride, rounding_mode="floor") + 1).clamp(min=0)
            layer_lengths.append(lengths)
        first = self.conv_layers[0]
        frames = max((wavs.size(1) - self.receptive_field) // self.stride + 1, 0)
        first_bytes_per_frame = wavs.size(0) * first.conv.out_channels * wavs.element_size() * (
            self.stride // first.stride)
        per_slice = max(1, self.slice_bytes // max(first_bytes_per_frame, 1))
        if first.norm_kind == "group" and not first.stats_from_input or frames <= per_slice:
            for layer, n in zip(self.conv_layers, layer_lengths):
                x = layer(x, n)
            return x.transpose(1, 2), lengths
        affine = first.group_norm_affine(x, layer_lengths[0]) if first.norm_kind == "group" else None
        slices = []
        for a in range(0, frames, per_slice):
            b = min(a + per_slice, frames)
            h = x[:, a * self.stride: (b - 1) * self.stride + self.receptive_field]
            for i, layer in enumerate(self.conv_layers):
                h = layer(h, None, affine if i == 0 else None)
            slices.append(h)
        return torch.cat(slices, dim=1).transpose(1, 2), lengths


# --------------------------------------------------------------------------- positional embedding


class PositionalConvEmbedding(nn.Module):
    """Convolutional relative position embedding with weight norm (wav2vec 2.0, HuBERT, WavLM).

    A grouped Conv1d over time, ``kernel`` wide, "same" padding (``kernel // 2``
    both sides, then the last output frame removed when ``kernel`` is even), then
    GELU. Weight norm over every dim but the kernel dim (``dim=2``):
    ``weight = weight_v * weight_g / ||weight_v||``, norm over (out, in/groups).

    Parameters: ``weight_g`` (1, 1, kernel), ``weight_v`` (dim, dim/groups, kernel), ``bias`` (dim,).
    Input/Output: ``(batch, frames, dim)``, padded frames must be zero on input.
    """

    def __init__(self, dim: int, kernel: int = 128, groups: int = 16):
        super().__init__()
        self.kernel, self.groups = kernel, groups
        self.weight_v = nn.Parameter(torch.empty(dim, dim // groups, kernel))
        self.weight_g = nn.Parameter(torch.ones(1, 1, kernel))
        self.bias = nn.Parameter(torch.zeros(dim))
        nn.init.normal_(self.weight_v, std=math.sqrt(4 / (kernel * dim)))

    def weight(self) -> Tensor:
        norm = self.weight_v.norm(dim=(0, 1), keepdim=True)
        return self.weight_v * (self.weight_g / norm)

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        y = conv1d_frames_major(x, self.weight(), self.bias, padding=self.kernel // 2, groups=self.groups)
        if self.kernel % 2 == 0:
            y = y[:, :-1]
        return _gelu(y, not torch.is_grad_enabled())


class PositionalConvStack(nn.Module):
    """data2vec's positional conv stack: ``depth`` x (grouped Conv1d, same padding,
    LayerNorm without affine over channels, GELU).

    Padded frames are re-zeroed before each conv so they never reach valid frames.

    Parameters: ``convs.{i}.weight`` (dim, dim/groups, kernel), ``convs.{i}.bias`` (dim,).
    Input/Output: ``(batch, frames, dim)``.
    """

    def __init__(self, dim: int, kernel: int, groups: int, depth: int, eps: float = 1e-5):
        super().__init__()
        self.kernel, self.groups, self.eps = kernel, groups, eps
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups) for _ in range(depth)
        )

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> Tensor:
        for conv in self.convs:
            if valid is not None:
                x = x.masked_fill(~valid[:, :, None], 0.0)
            y = conv1d_frames_major(x, conv.weight, conv.bias, padding=self.kernel // 2, groups=self.groups)
            if self.kernel % 2 == 0:
                y = y[:, :-1]
            x = _gelu(F.layer_norm(y, (y.size(-1),), eps=self.eps), not torch.is_grad_enabled())
        return x


# --------------------------------------------------------------------------- transformer


class SelfAttention(nn.Module):
    """Multi-head self-attention through ``F.scaled_dot_product_attention``.

    Parameters: ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (Linear dim -> dim, with bias).

    ``forward(x, attn_mask=None, position_bias=None) -> (out, position_bias)``:
    ``x`` ``(batch, frames, dim)``; ``attn_mask`` bool ``(batch, 1, 1, frames)``,
    ``True`` at valid keys, or ``None``; ``position_bias`` is returned unchanged
    (the plug-point signature, see the module docstring).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def split_heads(self, x: Tensor) -> Tensor:
        """``(B, T, dim)`` -> ``(B, heads, T, head_dim)``."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, position_bias=None):
        # q, k and v in one matmul (one (B*T, dim) x (dim, 3 dim) GEMM instead of three).
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        q, k, v = (self.split_heads(t) for t in F.linear(x, weight, bias).chunk(3, dim=-1))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.out_proj(out.transpose(1, 2).flatten(2)), position_bias


class EncoderLayer(nn.Module):
    """One transformer layer, post-LN (base models) or pre-LN (``layer_norm_first``).

    post-LN: ``x = LN1(x + Attn(x)); x = LN2(x + FFN(x))``
    pre-LN:  ``x = x + Attn(LN1(x)); x = x + FFN(LN2(x))``
    with ``FFN(x) = fc2(act(fc1(x)))``; LN1 is ``self_attn_layer_norm``, LN2 ``final_layer_norm``.

    Args:
        config: the model config.
        attention: the attention module (default :class:`SelfAttention`); any
            module with its ``forward`` signature plugs in (see module docstring).
    """

    def __init__(self, config: Wav2Vec2Config, attention: Optional[nn.Module] = None):
        super().__init__()
        dim = config.embed_dim
        self.layer_norm_first = config.layer_norm_first
        self.activation = _ACTIVATIONS[config.activation]
        self.activation_inplace = _INPLACE_ACTIVATIONS[config.activation]
        self.self_attn = (
            SelfAttention(dim, config.num_heads, config.attention_dropout) if attention is None else attention
        )
        self.self_attn_layer_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(dim, config.ffn_dim)
        self.fc2 = nn.Linear(config.ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.activation_dropout = nn.Dropout(config.activation_dropout)

    def feed_forward(self, x: Tensor) -> Tensor:
        h = self.fc1(x)
        # Without autograd the activation overwrites fc1's output (no extra (B, T, ffn_dim) tensor).
        h = self.activation(h) if torch.is_grad_enabled() else self.activation_inplace(h)
        return self.dropout(self.fc2(self.activation_dropout(h)))

    def forward(self, x: Tensor, attn_mask: Optional[Tensor] = None, position_bias=None):
        if self.layer_norm_first:
            h, position_bias = self.self_attn(self.self_attn_layer_norm(x), attn_mask, position_bias)
            x = x + self.dropout(h)
            x = x + self.feed_forward(self.final_layer_norm(x))
        else:
            h, position_bias = self.self_attn(x, attn_mask, position_bias)
            x = self.self_attn_layer_norm(_residual(x, self.dropout(h)))
            x = self.final_layer_norm(_residual(x, self.feed_forward(x)))
        return x, position_bias


def _residual(x: Tensor, h: Tensor) -> Tensor:
    """``x + h``; without autograd ``h`` (a fresh branch output) is overwritten with the sum."""
    return x + h if torch.is_grad_enabled() else h.add_(x)


LayerFactory = Callable[[int, Wav2Vec2Config], nn.Module]


def default_layer_factory(index: int, config: Wav2Vec2Config) -> nn.Module:
    """The standard layer: :class:`EncoderLayer` with :class:`SelfAttention`."""
    return EncoderLayer(config)


class TransformerEncoder(nn.Module):
    """Positional convolution + L transformer layers; returns all L + 1 hidden states.

    Args:
        config: the model config.
        layer_factory: ``(index, config) -> layer`` (the plug point, see the
            module docstring); default :func:`default_layer_factory`.

    ``forward(x, valid=None) -> list of L + 1 (batch, frames, dim) tensors``;
    ``valid`` is a bool ``(batch, frames)`` mask, ``True`` at valid frames, or
    ``None`` when nothing is padded.

    Layer drop (training only): a dropped layer's output is its input, so the
    number of hidden states never changes.
    """

    def __init__(self, config: Wav2Vec2Config, layer_factory: Optional[LayerFactory] = None):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        if config.pos_conv_depth > 1:
            kernel = max(3, config.conv_pos // config.pos_conv_depth)
            self.pos_conv = PositionalConvStack(dim, kernel, config.conv_pos_groups, config.pos_conv_depth,
                                                config.layer_norm_eps)
        else:
            self.pos_conv = PositionalConvEmbedding(dim, config.conv_pos, config.conv_pos_groups)
        self.layer_norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        factory = layer_factory or default_layer_factory
        self.layers = nn.ModuleList(factory(i, config) for i in range(config.num_layers))

    def forward(self, x: Tensor, valid: Optional[Tensor] = None) -> list[Tensor]:
        if valid is not None:
            x = x.masked_fill(~valid[:, :, None], 0.0)
        x = x + self.pos_conv(x, valid)
        if not self.config.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        attn_mask = None if valid is None else valid[:, None, None, :]
        hidden_states, position_bias = [x], None
        for layer in self.layers:
            if self.training and self.config.layerdrop > 0 and torch.rand(()) < self.config.layerdrop:
                hidden_states.append(x)
                continue
            x, position_bias = layer(x, attn_mask=attn_mask, position_bias=position_bias)
            hidden_states.append(x)
        if self.config.layer_norm_first:
            hidden_states[-1] = self.layer_norm(hidden_states[-1])
        return hidden_states


# --------------------------------------------------------------------------- full model


class Wav2Vec2Model(nn.Module):
    """Waveforms -> hidden states of a wav2vec 2.0-style model (no training-only parts).

    Submodules (their state-dict names follow fairseq, see the module docstring):
    ``feature_extractor`` (:class:`ConvFeatureEncoder`), ``layer_norm`` (LayerNorm
    over conv channels), ``post_extract_proj`` (Linear to ``embed_dim``; only when the
    conv channels differ from ``embed_dim``), ``encoder`` (:class:`TransformerEncoder`).

    Args:
        config: the architecture.
        layer_factory: passed to :class:`TransformerEncoder` (the plug point).
        encoder: another encoder in place of :class:`TransformerEncoder` (e.g.
            :class:`s3prl.modules.conformer.ConformerEncoder`): ``encoder(features, valid)``
            with ``features`` ``(batch, frames, embed_dim)`` and ``valid`` ``(batch, frames)``
            bool or ``None`` (no padding) -> list of hidden states. ``layer_factory`` must
            then be ``None``.

    ``forward(wavs, wavs_len) -> (hidden_states, frames_len)``: ``wavs`` ``(batch,
    samples)`` zero padded, ``wavs_len`` ``(batch,)`` long; ``hidden_states`` is a
    list of ``num_layers + 1`` tensors ``(batch, frames, embed_dim)``, ``frames_len``
    ``(batch,)`` long. Padded frames hold unspecified values (the upstream
    interface zeroes them).
    """

    def __init__(self, config: Wav2Vec2Config, layer_factory: Optional[LayerFactory] = None,
                 encoder: Optional[nn.Module] = None):
        super().__init__()
        if encoder is not None and layer_factory is not None:
            raise ValueError("Wav2Vec2Model: give a layer_factory or an encoder, not both")
        self.config = config
        conv_dim = config.conv_layers[-1][0]
        self.feature_extractor = ConvFeatureEncoder(
            config.conv_layers, config.extractor_mode, config.conv_bias, config.layer_norm_eps
        )
        self.layer_norm = nn.LayerNorm(conv_dim, eps=config.layer_norm_eps)
        self.post_extract_proj = nn.Linear(conv_dim, config.embed_dim) if conv_dim != config.embed_dim else None
        self.dropout_input = nn.Dropout(config.dropout_input)
        self.encoder = encoder if encoder is not None else TransformerEncoder(config, layer_factory)

    def extract_features(self, wavs: Tensor, wavs_len: Tensor) -> tuple[Tensor, Tensor]:
        """The front end: [normalise] -> conv feature encoder -> LayerNorm -> [projection].

        ``wavs`` ``(batch, samples)``, ``wavs_len`` ``(batch,)`` -> ``(features (batch, frames,
        embed_dim), frames_len (batch,))`` (before ``dropout_input`` and the encoder).
        """
        if self.config.normalize:
            wavs = normalize_waveforms(wavs, wavs_len)
        features, frames_len = self.feature_extractor(wavs, wavs_len)
        features = self.layer_norm(features.transpose(1, 2))
        if self.post_extract_proj is not None:
            features = self.post_extract_proj(features)
        return features, frames_len

    def forward(self, wavs: Tensor, wavs_len: Tensor) -> tuple[list[Tensor], Tensor]:
        features, frames_len = self.extract_features(wavs, wavs_len)
        features = self.dropout_input(features)
        return self.encoder(features, padding_mask_or_none(frames_len, features.size(1))), frames_len
