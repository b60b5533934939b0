"""Entries for Hugging Face ``transformers`` model folders (config.json + weights),
run on s3prl's own implementation without importing ``transformers``.

A repo id (``"microsoft/wavlm-base-plus"``) is looked up in the local Hugging
Face cache only (``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``);
nothing is downloaded. Parameter names: ``transformers``' ``Wav2Vec2Model``,
``HubertModel``, ``WavLMModel``, ``UniSpeechSatModel`` (task checkpoints such as
``*ForCTC`` load too; their heads are ignored).
"""

from s3prl.util.registry import entry

__all__ = ["hf_custom", "hf_wav2vec2_custom", "hf_hubert_custom", "hf_wavlm_custom"]

_VERIFIED = "parity with transformers (seeded reduced model, save_pretrained folder)"


def _build(ckpt, model_types=None, **kwargs):
    from .expert import build_hf_upstream

    return build_hf_upstream(ckpt, model_types=model_types, **kwargs)


@entry(model="Hugging Face speech model folder (wav2vec 2.0 / HuBERT / WavLM / UniSpeech-SAT)",
       stride=320, verified=_VERIFIED)
def hf_custom(ckpt, revision: str = "main", normalize=None, dtype=None):
    """Any supported Hugging Face model folder or cached repo id (``model_type``
    ``wav2vec2``, ``hubert``, ``wavlm`` or ``unispeech-sat``); the architecture is
    read from ``config.json``.

    Args:
        ckpt: folder with ``config.json`` and ``model.safetensors`` /
            ``pytorch_model.bin``, or a repo id in the local Hugging Face cache.
        revision: cache revision (branch, tag or commit) for a repo id.
        normalize: per-utterance waveform normalisation; None follows
            ``preprocessor_config.json`` (``do_normalize``); a folder without that
            file needs an explicit ``True``/``False`` (ValueError otherwise).
        dtype: parameter dtype (default fp32).

    Output: ``num_hidden_layers + 1`` hidden states ``(batch, frames, hidden_size)``,
    stride 320 samples (20 ms) for the standard conv stack.

    Raises:
        FileNotFoundError: no folder / not in the cache / no weights.
        ValueError: unsupported ``model_type`` or options; unknown or missing parameters.
    """
    return _build(ckpt, None, revision=revision, normalize=normalize, dtype=dtype)


@entry(model="Hugging Face wav2vec 2.0 model folder", paper="https://arxiv.org/abs/2006.11477",
       stride=320, verified=_VERIFIED)
def hf_wav2vec2_custom(ckpt, revision: str = "main", normalize=None, dtype=None):
    """A Hugging Face ``Wav2Vec2Model`` folder or cached repo id (e.g.
    ``facebook/wav2vec2-base``); see ``hf_custom`` for the arguments.

    Raises:
        ValueError: the folder holds another ``model_type``.
    """
    return _build(ckpt, ["wav2vec2"], revision=revision, normalize=normalize, dtype=dtype)


@entry(model="Hugging Face HuBERT model folder", paper="https://arxiv.org/abs/2106.07447",
       stride=320, verified=_VERIFIED)
def hf_hubert_custom(ckpt, revision: str = "main", normalize=None, dtype=None):
    """A Hugging Face ``HubertModel`` folder or cached repo id (e.g.
    ``facebook/hubert-base-ls960``); see ``hf_custom`` for the arguments.

    Raises:
        ValueError: the folder holds another ``model_type``.
    """
    return _build(ckpt, ["hubert"], revision=revision, normalize=normalize, dtype=dtype)


@entry(model="Hugging Face WavLM model folder", paper="https://arxiv.org/abs/2110.13900",
       stride=320, verified=_VERIFIED)
def hf_wavlm_custom(ckpt, revision: str = "main", normalize=None, dtype=None):
    """A Hugging Face ``WavLMModel`` folder or cached repo id (e.g.
    ``microsoft/wavlm-base-plus``); see ``hf_custom`` for the arguments.

    Raises:
        ValueError: the folder holds another ``model_type``.
    """
    return _build(ckpt, ["wavlm"], revision=revision, normalize=normalize, dtype=dtype)
