"""Read Hugging Face ``transformers`` speech checkpoints without ``transformers``.

A Hugging Face model folder holds ``config.json`` and the weights as
``model.safetensors`` (read with the ``safetensors`` package) or
``pytorch_model.bin`` (read with :func:`s3prl.util.checkpoint.load_checkpoint`,
i.e. ``torch.load(weights_only=True)``); sharded weights come with an
``*.index.json``. This module turns such a folder into the fairseq/UniLM
configuration dict and state-dict names that the wav2vec 2.0 family code
already reads, so one implementation serves both layouts.

Supported ``model_type``: ``wav2vec2``, ``hubert``, ``wavlm``,
``unispeech-sat``. Parameter names are those of ``transformers``'
``Wav2Vec2Model``/``HubertModel``/``WavLMModel``/``UniSpeechSatModel``
(documented at https://huggingface.co/docs/transformers/model_doc/wav2vec2
and read from the public checkpoints' ``model.safetensors`` headers), with or
without the task-model prefix (``wav2vec2.``, ``hubert.``, ``wavlm.``,
``unispeech_sat.``) that ``*ForCTC``/``*ForPreTraining`` checkpoints carry.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from torch import Tensor

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "resolve_hf_folder",
    "read_hf_config",
    "read_hf_state_dict",
    "hf_config_to_fairseq",
    "hf_state_dict_to_fairseq",
    "load_hf_folder",
]

#: ``model_type`` of config.json -> the prefix its task models put on base-model keys.
SUPPORTED_MODEL_TYPES = {
    "wav2vec2": "wav2vec2.",
    "hubert": "hubert.",
    "wavlm": "wavlm.",
    "unispeech-sat": "unispeech_sat.",
}

# Task heads and training-only parts of HF checkpoints (not part of the
# upstream; ignored explicitly, any other unknown key is an error).
_HF_IGNORED = re.compile(
    r"^(lm_head\.|quantizer\.|project_q\.|project_hid\.|projector\.|classifier\.|"
    r"speaker_proj\.|label_embeddings_concat$|layer_norm_for_extract\.|"
    r"masked_spec_embed$|final_proj\.|tdnn\.|objective\.|feature_extractor\.(weight|bias)$|"
    r"layer_weights$)"
)

_HF_TO_FAIRSEQ_LAYER = [
    ("attention.q_proj.", "self_attn.q_proj."),
    ("attention.k_proj.", "self_attn.k_proj."),
    ("attention.v_proj.", "self_attn.v_proj."),
    ("attention.out_proj.", "self_attn.out_proj."),
    ("attention.gru_rel_pos_linear.", "self_attn.grep_linear."),
    ("attention.gru_rel_pos_const", "self_attn.grep_a"),
    ("attention.rel_attn_embed.", "self_attn.relative_attention_bias."),
    ("layer_norm.", "self_attn_layer_norm."),
    ("feed_forward.intermediate_dense.", "fc1."),
    ("feed_forward.output_dense.", "fc2."),
    ("final_layer_norm.", "final_layer_norm."),
]


def _hf_cache_root() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def resolve_hf_folder(path_or_repo_id: str | os.PathLike, revision: str = "main") -> Path:
    """A local Hugging Face model folder for a path or a repo id (offline).

    Args:
        path_or_repo_id: a folder with ``config.json``, or a Hub repo id such as
            ``"microsoft/wavlm-base-plus"`` that is already in the local Hugging
            Face cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or
            ``~/.cache/huggingface/hub``). Nothing is downloaded.
        revision: branch/tag name (looked up in the cache's ``refs``) or commit hash.

    Raises:
        FileNotFoundError: the folder has no ``config.json``, or the repo id is
            not in the local cache (the message says how to fetch it).
    """
    path = Path(path_or_repo_id).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder: no config.json")
        return path
    repo_id = str(path_or_repo_id)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise FileNotFoundError(
            f"{repo_id!r} is neither a model folder (with config.json) nor a Hub repo id "
            "like 'microsoft/wavlm-base-plus'"
        )
    repo_dir = _hf_cache_root() / ("models--" + repo_id.replace("/", "--"))
    commit = revision
    ref = repo_dir / "refs" / revision
    if ref.is_file():
        commit = ref.read_text().strip()
    snapshot = repo_dir / "snapshots" / commit
    if not (snapshot / "config.json").is_file():
        raise FileNotFoundError(
            f"Hugging Face repo {repo_id!r} (revision {revision!r}) is not in the local cache "
            f"{_hf_cache_root()}; s3prl reads Hub models offline only: download it first, e.g. "
            f"`huggingface-cli download {repo_id}`, or pass the model folder"
        )
    return snapshot


def read_hf_config(folder: str | os.PathLike) -> dict:
    """``config.json`` of a model folder as a dict, plus ``do_normalize`` from
    ``preprocessor_config.json`` when that file is present, under ``_do_normalize``
    (a file without the key means ``True``: the default of ``transformers``'
    ``Wav2Vec2FeatureExtractor``). Without the file, ``_do_normalize`` is absent.

    Raises:
        ValueError: ``config.json`` or ``preprocessor_config.json`` does not hold a
            JSON object, or ``do_normalize`` is not a boolean (the file is named).
    """
    folder = Path(folder)
    with open(folder / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise ValueError(f"{folder / 'config.json'} does not hold a JSON object")
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        with open(pre, encoding="utf-8") as f:
            pre_cfg = json.load(f)
        if not isinstance(pre_cfg, dict):
            raise ValueError(f"{pre} does not hold a JSON object")
        do_normalize = pre_cfg.get("do_normalize", True)
        if not isinstance(do_normalize, bool):
            raise ValueError(f"{pre}: do_normalize must be true or false, got {do_normalize!r}")
        config["_do_normalize"] = do_normalize
    return config


def _load_weight_file(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    from s3prl.util.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict (name -> tensor)")
    return dict(state)


def read_hf_state_dict(folder: str | os.PathLike) -> dict[str, Tensor]:
    """All weights of a model folder (``model.safetensors``, ``pytorch_model.bin``,
    or their sharded ``*.index.json`` forms), on CPU.

    Raises:
        FileNotFoundError: no weight file in the folder.
    """
    folder = Path(folder)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return _load_weight_file(folder / name)
        index = folder / f"{name}.index.json"
        if index.is_file():
            with open(index, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            state: dict[str, Tensor] = {}
            for shard in shards:
                state.update(_load_weight_file(folder / shard))
            return state
    raise FileNotFoundError(
        f"no weights in {folder}: expected model.safetensors or pytorch_model.bin"
    )


def hf_config_to_fairseq(config: dict) -> dict:
    """Translate a ``transformers`` config dict into the fairseq/UniLM config keys.

    Returns a dict with ``extractor_mode``, ``conv_feature_layers``,
    ``conv_bias``, ``encoder_layers``, ``encoder_embed_dim``,
    ``encoder_ffn_embed_dim``, ``encoder_attention_heads``, ``activation_fn``,
    ``layer_norm_first``, ``conv_pos``, ``conv_pos_groups``, ``normalize`` (``None``
    when the folder has no ``preprocessor_config.json``),
    ``layer_norm_eps``, ``feature_layer_norm`` (False for HuBERT configs with
    ``feat_proj_layer_norm=False``) and,
    for WavLM, ``relative_position_embedding``, ``num_buckets``,
    ``max_distance``, ``gru_rel_pos``.

    Raises:
        ValueError: unsupported ``model_type`` or options (adapters, ...).
    """
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"config.json has model_type {model_type!r}; supported: "
            f"{', '.join(sorted(SUPPORTED_MODEL_TYPES))}"
        )
    if config.get("add_adapter"):
        raise ValueError("config.json sets add_adapter=True: adapter layers are not supported")
    if config.get("conv_pos_batch_norm"):
        raise ValueError("config.json sets conv_pos_batch_norm=True: not supported")
    for act_key in ("hidden_act", "feat_extract_activation"):
        if config.get(act_key, "gelu") != "gelu":
            raise ValueError(f"config.json {act_key}={config[act_key]!r}: only 'gelu' is supported")
    norm = config.get("feat_extract_norm", "group")
    if norm not in ("group", "layer"):
        raise ValueError(f"config.json feat_extract_norm={norm!r}: expected 'group' or 'layer'")
    conv = list(
        zip(
            config.get("conv_dim", [512] * 7),
            config.get("conv_kernel", [10, 3, 3, 3, 3, 2, 2]),
            config.get("conv_stride", [5, 2, 2, 2, 2, 2, 2]),
        )
    )
    out = {
        "extractor_mode": "default" if norm == "group" else "layer_norm",
        "conv_feature_layers": repr([tuple(int(v) for v in c) for c in conv]),
        "conv_bias": bool(config.get("conv_bias", False)),
        "encoder_layers": int(config.get("num_hidden_layers", 12)),
        "encoder_embed_dim": int(config.get("hidden_size", 768)),
        "encoder_ffn_embed_dim": int(config.get("intermediate_size", 3072)),
        "encoder_attention_heads": int(config.get("num_attention_heads", 12)),
        "activation_fn": "gelu",
        "layer_norm_first": bool(config.get("do_stable_layer_norm", False)),
        "conv_pos": int(config.get("num_conv_pos_embeddings", 128)),
        "conv_pos_groups": int(config.get("num_conv_pos_embedding_groups", 16)),
        # None: no preprocessor_config.json, the caller must decide (build_hf_upstream)
        "normalize": config.get("_do_normalize"),
        "layer_norm_eps": float(config.get("layer_norm_eps", 1e-5)),
        # HuBERT configs may drop the LayerNorm on the conv features (the Hub's
        # conversion of DistilHuBERT, ntu-spml/distilhubert, does)
        "feature_layer_norm": model_type != "hubert" or bool(config.get("feat_proj_layer_norm", True)),
    }
    if model_type == "wavlm":
        out.update(
            relative_position_embedding=True,
            num_buckets=int(config.get("num_buckets", 320)),
            max_distance=int(config.get("max_bucket_distance", 800)),
            gru_rel_pos=True,
        )
    return out


def hf_state_dict_to_fairseq(state: dict[str, Tensor], model_type: str) -> dict[str, Tensor]:
    """Rename ``transformers`` parameter names to fairseq/UniLM names.

    Task heads and training-only tensors (``lm_head``, ``quantizer``,
    ``masked_spec_embed``, ...) are dropped (an explicit list); the prefix of
    task models (``wavlm.`` ...) is removed.

    Raises:
        ValueError: a key that is neither mapped nor on the ignored list (the
            message names the keys).
    """
    prefix = SUPPORTED_MODEL_TYPES[model_type]
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        name = key[len(prefix) :] if key.startswith(prefix) else key
        new = _map_key(name)
        if new is None:
            if _HF_IGNORED.match(name):
                continue
            unknown.append(key)
            continue
        out[new] = value
    if unknown:
        raise ValueError(
            f"unexpected parameter(s) in the Hugging Face {model_type} checkpoint: "
            f"{', '.join(sorted(unknown)[:20])}" + (" ..." if len(unknown) > 20 else "")
        )
    return out


def _map_key(name: str) -> str | None:
    m = re.fullmatch(r"feature_extractor\.conv_layers\.(\d+)\.(conv|layer_norm)\.(weight|bias)", name)
    if m:
        i, part, kind = m.groups()
        if part == "conv":
            return f"feature_extractor.conv_layers.{i}.0.{kind}"
        # group norm (layer 0 in "group" mode) is module 2 of the fairseq block;
        # layer norms ("layer" mode) sit inside a (transpose, norm, transpose) block.
        return f"feature_extractor.conv_layers.{i}.2.@{kind}"
    m = re.fullmatch(r"feature_projection\.(layer_norm|projection)\.(weight|bias)", name)
    if m:
        part, kind = m.groups()
        return f"{'layer_norm' if part == 'layer_norm' else 'post_extract_proj'}.{kind}"
    m = re.fullmatch(
        r"encoder\.pos_conv_embed\.conv\.(weight_g|weight_v|bias|parametrizations\.weight\.original0|"
        r"parametrizations\.weight\.original1)",
        name,
    )
    if m:
        kind = {
            "parametrizations.weight.original0": "weight_g",
            "parametrizations.weight.original1": "weight_v",
        }.get(m.group(1), m.group(1))
        return f"encoder.pos_conv.0.{kind}"
    m = re.fullmatch(r"encoder\.layer_norm\.(weight|bias)", name)
    if m:
        return name
    m = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)", name)
    if m:
        i, rest = m.groups()
        for old, new in _HF_TO_FAIRSEQ_LAYER:
            if rest.startswith(old):
                return f"encoder.layers.{i}.{new}{rest[len(old):]}"
        return None
    return None


def _fix_conv_norm_keys(state: dict[str, Tensor], extractor_mode: str) -> dict[str, Tensor]:
    out = {}
    for k, v in state.items():
        if ".2.@" in k:
            kind = k.rsplit("@", 1)[1]
            base = k.split(".2.@")[0]
            k = f"{base}.2.{kind}" if extractor_mode == "default" else f"{base}.2.1.{kind}"
        out[k] = v
    return out


def load_hf_folder(path_or_repo_id: str | os.PathLike, revision: str = "main") -> tuple[str, dict, dict]:
    """Read a Hugging Face model folder (or cached repo id) as fairseq names.

    Returns:
        ``(model_type, cfg, state_dict)``: the config.json ``model_type``, the
        fairseq/UniLM config dict (:func:`hf_config_to_fairseq`) and the state
        dict with fairseq/UniLM parameter names.
    """
    folder = resolve_hf_folder(path_or_repo_id, revision)
    config = read_hf_config(folder)
    cfg = hf_config_to_fairseq(config)
    state = hf_state_dict_to_fairseq(read_hf_state_dict(folder), config["model_type"])
    state = _fix_conv_norm_keys(state, cfg["extractor_mode"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return config["model_type"], cfg, state
