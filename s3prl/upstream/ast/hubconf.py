"""Entry of AST (Gong, Chung & Glass, 2021, https://arxiv.org/abs/2104.01778)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["ast"]

AST_URL = "https://www.dropbox.com/s/ca0b1v2nlxzyeb4/audioset_10_10_0.4593.pth?dl=1"


@entry(
    model="AST (AudioSet, mAP 0.4593)",
    paper="https://arxiv.org/abs/2104.01778",
    date="2021-04",
    input="fbank (128 mel, Kaldi, 10.24 s windows)",
    stride=163840,
    layers=1,
    hidden_size=527,
    data="ImageNet (DeiT) + AudioSet 2 M",
    ckpt=AST_URL,
    verified="ViT blocks / patch embedding vs transformers ViTLayer / ViTPatchEmbeddings (seeded "
    "weights); fbank vs kaldi-native-fbank; seeded checkpoint in the released layout vs "
    "transformers ASTForAudioClassification",
)
def ast(
    ckpt: str = AST_URL, refresh: bool = False, window_secs: float = 10.24, stride_secs: float = 10.24,
    feature_selection: str = "cls", num_heads: int | None = None, **kwargs,
):  # fmt: skip
    """AST (Audio Spectrogram Transformer) fine-tuned on AudioSet, as s3prl 0.4.18 loads it.

    Audio is cut into ``window_secs`` windows every ``stride_secs`` (default
    10.24 s, the 1024 fbank frames AST was trained on); each window is one
    forward pass. ``feature_selection="cls"`` (default, as s3prl): one frame
    per window, the 527 AudioSet logits (the checkpoint's trained head; s3prl
    0.4.18 used a randomly initialised head instead), stride 163840 samples.
    ``feature_selection="hidden_states"``: 12 hidden states of 12 x 768 = 9216
    per time patch, stride 1600 samples (101 patches per 10.24 s window, see
    :mod:`s3prl.upstream.ast.expert` for the drift this causes across windows).

    Args:
        ckpt: path or URL of ``audioset_10_10_0.4593.pth`` (default: the official URL).
        refresh: download again even if cached.
        window_secs, stride_secs: windowing (seconds).
        feature_selection: ``"cls"`` or ``"hidden_states"``.
        num_heads: attention heads (default width // 64 = 12).
    """
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(
        str(resolve_checkpoint(ckpt, refresh=refresh)), window_secs=window_secs,
        stride_secs=stride_secs, feature_selection=feature_selection, num_heads=num_heads, **kwargs,
    )  # fmt: skip
