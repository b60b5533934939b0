"""Entry of VGGish (Hershey et al., 2017, https://arxiv.org/abs/1609.09430)."""

from __future__ import annotations

from s3prl.util.registry import entry

__all__ = ["vggish"]

VGGISH_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth"
PCA_URL = "https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish_pca_params-970ea276.pth"
PCA_FILE = "vggish_pca_params-970ea276.pth"


@entry(model="VGGish (AudioSet)", paper="https://arxiv.org/abs/1609.09430", date="2016-09",
       input="log-mel (64 bins, 0.96 s examples)", stride=15360, layers=1, hidden_size=128,
       data="YouTube-100M", ckpt=VGGISH_URL,
       verified="front end and network vs torchvggish (seeded weights, full size: slow test); "
       "reduced seeded checkpoint vs an nn.Sequential re-statement")
def vggish(ckpt: str = VGGISH_URL, pca: str = PCA_URL, postprocess: bool = True, refresh: bool = False,
           **kwargs):
    """VGGish embeddings, one 128-d vector per 0.96 s example (s3prl 0.4.18's ``vggish``).

    ``postprocess=True`` (default, as s3prl): the AudioSet release's PCA whitening and
    8-bit quantisation (values 0..255); ``False``: the raw ReLU embeddings.

    Args:
        ckpt: path or URL of ``vggish-10086976.pth``.
        pca: path or URL of the PCA parameters; with a local ``ckpt`` and the default
            URL, a ``vggish_pca_params-970ea276.pth`` next to ``ckpt`` is used when present
            (keep the two released files side by side to work offline).
        postprocess: PCA + quantisation on or off.
        refresh: download again even if cached.
    """
    from pathlib import Path

    from s3prl.util.download import is_url, resolve_checkpoint

    from .expert import UpstreamExpert

    path = resolve_checkpoint(ckpt, refresh=refresh)
    pca_path = None
    if postprocess:
        beside = Path(path).parent / PCA_FILE
        if pca == PCA_URL and not is_url(ckpt) and beside.is_file():
            pca_path = beside
        else:
            pca_path = resolve_checkpoint(pca, refresh=refresh)
    return UpstreamExpert(str(path), None if pca_path is None else str(pca_path), postprocess, **kwargs)
