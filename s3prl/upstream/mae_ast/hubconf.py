"""Entries of MAE-AST (Baade, Peng & Harwath, 2022, https://arxiv.org/abs/2203.16691)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["mae_ast_frame", "mae_ast_patch", "mae_ast_local", "mae_ast_url"]

MAE_AST_FRAME_URL = (
    "https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/random_frame_75_12LayerEncoder.pt"
)
MAE_AST_PATCH_URL = (
    "https://www.cs.utexas.edu/~harwath/model_checkpoints/mae_ast/chunk_patch_75_12LayerEncoder.pt"
)
_PAPER = "https://arxiv.org/abs/2203.16691"
_DATA = "AudioSet 2 M + LibriSpeech 960 h"
_VERIFIED = ("seeded checkpoint in the released fairseq layout vs a torch.nn.TransformerEncoderLayer "
             "re-statement of the encoder; fbank vs kaldi-native-fbank")


def _load(ckpt, refresh=False, sha256=None, **kwargs):
    from s3prl.util.download import resolve_checkpoint

    from .expert import UpstreamExpert

    return UpstreamExpert(str(resolve_checkpoint(ckpt, sha256=sha256, refresh=refresh)), **kwargs)


@entry(model="MAE-AST Frame (12-layer encoder, random masking)", paper=_PAPER, date="2022-03",
       input="fbank (128 mel, Kaldi)", stride=320, layers=12, hidden_size=768, data=_DATA,
       ckpt=MAE_AST_FRAME_URL, verified=_VERIFIED)
def mae_ast_frame(ckpt: str = MAE_AST_FRAME_URL, refresh: bool = False, **kwargs):
    """MAE-AST frame model: 2-frame x 128-mel tokens (20 ms), 12 hidden states of 768."""
    return _load(ckpt, refresh, **kwargs)


@entry(model="MAE-AST Patch (12-layer encoder, chunked masking)", paper=_PAPER, date="2022-03",
       input="fbank (128 mel, Kaldi)", stride=2560, layers=12, hidden_size=6144, data=_DATA,
       ckpt=MAE_AST_PATCH_URL, verified=_VERIFIED)
def mae_ast_patch(ckpt: str = MAE_AST_PATCH_URL, refresh: bool = False, **kwargs):
    """MAE-AST patch model: 16 x 16 patches (160 ms); per time step the 8 mel patches
    concatenated: 12 hidden states of 8 x 768 = 6144."""
    return _load(ckpt, refresh, **kwargs)


@entry(model="MAE-AST (local checkpoint)", paper=_PAPER, date="2022-03", input="fbank (Kaldi)",
       verified=_VERIFIED)
def mae_ast_local(ckpt: str, **kwargs):
    """MAE-AST from a local fairseq checkpoint (frame / patch read from its cfg).

    Raises:
        ValueError: ``ckpt`` is a URL (use ``mae_ast_url``) or not in the released layout.
        FileNotFoundError: no such file.
    """
    from s3prl.util.download import local_checkpoint

    return _load(local_checkpoint(ckpt, "mae_ast_local"), **kwargs)


@entry(model="MAE-AST (checkpoint URL)", paper=_PAPER, date="2022-03", input="fbank (Kaldi)",
       verified=_VERIFIED)
def mae_ast_url(ckpt: str, refresh: bool = False, sha256: str | None = None, **kwargs):
    """MAE-AST from a checkpoint URL (downloaded once into the cache).

    Args:
        ckpt: http(s) URL; refresh: download again; sha256: expected hash (hex, full or prefix).

    Raises:
        ValueError: ``ckpt`` is not an http(s) URL (use ``mae_ast_local``).
        s3prl.util.download.DownloadError: the download failed.
    """
    from s3prl.util.download import url_checkpoint

    return _load(url_checkpoint(ckpt, "mae_ast_url"), refresh, sha256, **kwargs)
