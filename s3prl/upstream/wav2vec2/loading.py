"""Reading wav2vec 2.0-style checkpoints in their released on-disk layouts (no fairseq needed).

Layouts (all read with :func:`s3prl.util.checkpoint.load_checkpoint`, never ``weights_only=False``):

* fairseq, argparse era: ``{'args': argparse.Namespace, 'model': state_dict, ...}``
  (e.g. ``wav2vec_small.pt``, ``libri960_big.pt``); model and task options are
  flat attributes of ``args``.
* fairseq, hydra era: ``{'cfg': {'model': {...}, 'task': {...}, ...}, 'model': state_dict,
  'task_state': {'dictionaries': [Dictionary]}, ...}`` (``hubert_base_ls960.pt``,
  data2vec, XLS-R); ``cfg`` may be a plain dict or pickled omegaconf containers.
* UniLM (WavLM, UniSpeech-SAT): ``{'cfg': {...}, 'model': state_dict}``; same as above.
* the original s3prl toolkit's converted files: ``{'task_cfg': {...}, 'model_cfg': {...},
  'model_weight': state_dict, ...}``.

Fine-tuned (CTC) fairseq checkpoints (weights under ``w2v_encoder.w2v_model.*``)
are read too: the pre-trained encoder's config is taken from ``w2v_args`` and the
CTC head (``w2v_encoder.proj``) is ignored.

Field names: fairseq ``fairseq/models/wav2vec/wav2vec2.py`` (``Wav2Vec2Config``),
``fairseq/models/hubert/hubert.py`` (``HubertConfig``),
``examples/data2vec/models/data2vec_audio.py`` (``Data2VecAudioConfig``), and the
task configs' ``normalize``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from torch import nn

from s3prl.util.checkpoint import (
    load_checkpoint,
    load_state_dict_strict,
    note_unused_entries,
    to_plain,
)

from .modules import DEFAULT_CONV_LAYERS, Wav2Vec2Config

__all__ = [
    "FairseqCheckpoint",
    "TRAINING_ONLY_KEYS",
    "TRAINING_ONLY_PREFIXES",
    "read_fairseq_checkpoint",
    "parse_conv_layers",
    "config_from_fairseq",
    "rename_fairseq_keys",
    "load_weights",
]

#: State-dict entries used only in pre-training / fine-tuning, never by the
#: upstream: masking embedding, HuBERT label embeddings, data2vec's EMA teacher.
TRAINING_ONLY_KEYS: frozenset[str] = frozenset({"mask_emb", "label_embs_concat", "_ema"})
#: Prefixes of training-only submodules: wav2vec 2.0's quantizer and its
#: projections, the final projection to the targets, HuBERT's target GLU, EMA
#: teachers, decoders, the CTC head of fine-tuned checkpoints.
TRAINING_ONLY_PREFIXES: tuple[str, ...] = (
    "quantizer.",
    "input_quantizer.",
    "project_q.",
    "project_inp.",
    "final_proj.",
    "target_glu.",
    "_ema.",
    "ema.",
    "decoder.",
    "w2v_encoder.proj.",
)


@dataclass
class FairseqCheckpoint:
    """A checkpoint's model config, task config and weights, whatever its layout.

    Attributes:
        model_cfg: model options (fairseq field names), plain dict.
        task_cfg: task options (``normalize``, ``sample_rate``, ...), plain dict.
        state_dict: the model weights (name -> tensor), with a fine-tuned
            checkpoint's ``w2v_encoder.w2v_model.`` prefix removed.
        layout: ``"fairseq-args"``, ``"fairseq-cfg"``, ``"s3prl-converted"``.
        model_name: the model's registered name (``"wav2vec2"``, ``"hubert"``,
            ``"data2vec_audio"``, ``"wavlm"``...) when the file says, else ``""``.
        fine_tuned: the weights came from a fine-tuned (CTC) checkpoint.
    """

    model_cfg: dict
    task_cfg: dict
    state_dict: dict
    layout: str
    model_name: str = ""
    fine_tuned: bool = False


def _as_dict(obj: Any, what: str, path) -> dict:
    obj = to_plain(obj)
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path}: {what} is a {type(obj).__name__}, expected a dict/Namespace")
    return obj


def read_fairseq_checkpoint(path: str | Path, extra_safe_globals: Iterable = ()) -> FairseqCheckpoint:
    """Read a wav2vec 2.0-style checkpoint (any layout listed in the module docstring).

    Args:
        path: local checkpoint file.
        extra_safe_globals: passed to :func:`s3prl.util.checkpoint.load_checkpoint`.

    Returns:
        :class:`FairseqCheckpoint`.

    Raises:
        FileNotFoundError: no such file.
        s3prl.util.checkpoint.UnsafeCheckpointError: the file asks for a global
            outside the allowlist.
        ValueError: the file is not in a known layout (the message lists its
            top-level keys).
    """
    ckpt = load_checkpoint(path, extra_safe_globals=extra_safe_globals)
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"checkpoint {path} holds a {type(ckpt).__name__}, not a dict of config and weights")
    keys = sorted(map(str, ckpt.keys()))
    if "model_weight" in ckpt and "model_cfg" in ckpt:
        model_cfg = _as_dict(ckpt["model_cfg"], "model_cfg", path)
        task_cfg = _as_dict(ckpt.get("task_cfg"), "task_cfg", path)
        state, layout = ckpt["model_weight"], "s3prl-converted"
    elif "model" in ckpt and ckpt.get("cfg") is not None:
        cfg = _as_dict(ckpt["cfg"], "cfg", path)
        model_cfg = _as_dict(cfg.get("model"), "cfg['model']", path)
        task_cfg = _as_dict(cfg.get("task"), "cfg['task']", path)
        if not model_cfg and "encoder_embed_dim" in cfg:  # UniLM: one flat cfg (model + normalize)
            model_cfg, task_cfg = cfg, cfg
        state, layout = ckpt["model"], "fairseq-cfg"
    elif "model" in ckpt and ckpt.get("args") is not None:
        args = _as_dict(ckpt["args"], "args", path)
        model_cfg, task_cfg = args, args
        state, layout = ckpt["model"], "fairseq-args"
    else:
        raise ValueError(
            f"checkpoint {path} is not in a known wav2vec 2.0-style layout: expected "
            "{'args'|'cfg', 'model'} (fairseq/UniLM) or {'task_cfg', 'model_cfg', 'model_weight'} "
            f"(original s3prl toolkit); its top-level keys are {keys}"
        )
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {path}: the weights are a {type(state).__name__}, not a state dict")
    read = {"s3prl-converted": ("task_cfg", "model_cfg", "model_weight"), "fairseq-cfg": ("cfg", "model"),
            "fairseq-args": ("args", "model")}[layout]
    note_unused_entries(path, [k for k in ckpt if k not in read])
    state = dict(state)
    model_name = str(model_cfg.get("_name") or model_cfg.get("arch") or "")
    fine_tuned = any(str(k).startswith("w2v_encoder.") for k in state)
    if fine_tuned:
        inner = model_cfg.get("w2v_args")
        inner = _as_dict(inner, "w2v_args", path) if inner is not None else {}
        if not inner:
            raise ValueError(
                f"checkpoint {path} is a fine-tuned (CTC) checkpoint without 'w2v_args': "
                "the pre-trained encoder's architecture is unknown; use the pre-trained checkpoint"
            )
        if "model" in inner:  # hydra era: {'model': ..., 'task': ...}
            model_cfg = _as_dict(inner["model"], "w2v_args['model']", path)
            inner_task = _as_dict(inner.get("task"), "w2v_args['task']", path)
        else:  # argparse era: flat namespace
            model_cfg, inner_task = inner, inner
        # the fine-tuning task decides the input normalisation; fall back to pre-training's
        task_cfg = task_cfg if "normalize" in task_cfg else inner_task
        model_name = str(model_cfg.get("_name") or model_cfg.get("arch") or model_name)
        prefix = "w2v_encoder.w2v_model."
        state = {
            (k[len(prefix):] if k.startswith(prefix) else k): v
            for k, v in state.items()
        }
    return FairseqCheckpoint(model_cfg, task_cfg, state, layout, model_name, fine_tuned)


# --------------------------------------------------------------------------- config


def _safe_literal(node: ast.AST):
    """Evaluate lists/tuples of numbers combined with ``+`` and ``*`` (nothing else)."""
    if isinstance(node, ast.Expression):
        return _safe_literal(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_safe_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _safe_literal(node.left), _safe_literal(node.right)
        return left + right if isinstance(node.op, ast.Add) else left * right
    raise ValueError(f"unsupported syntax {ast.dump(node)[:60]}")


def parse_conv_layers(spec) -> tuple[tuple[int, int, int], ...]:
    """Parse fairseq's ``conv_feature_layers`` (a Python expression such as
    ``"[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2"``) without ``eval``.

    Args:
        spec: the string, or an already parsed list of ``(channels, kernel, stride)``.

    Returns:
        tuple of ``(channels, kernel, stride)`` int triples.

    Raises:
        ValueError: anything but lists/tuples of integers joined with ``+``/``*``.
    """
    if spec is None:
        return DEFAULT_CONV_LAYERS
    if isinstance(spec, str):
        try:
            value = _safe_literal(ast.parse(spec, mode="eval"))
        except (SyntaxError, ValueError, TypeError) as err:
            raise ValueError(f"cannot parse conv_feature_layers {spec!r}: {err}") from None
    else:
        value = spec
    try:
        layers = tuple((int(c), int(k), int(s)) for c, k, s in value)
    except (TypeError, ValueError):
        raise ValueError(f"conv_feature_layers must be (channels, kernel, stride) triples, got {spec!r}") from None
    if not layers:
        raise ValueError("conv_feature_layers is empty")
    return layers


def config_from_fairseq(model_cfg: Mapping, task_cfg: Mapping, **overrides) -> Wav2Vec2Config:
    """Build a :class:`Wav2Vec2Config` from fairseq model/task options.

    Missing options take fairseq's ``Wav2Vec2Config`` defaults (base model).

    Args:
        model_cfg: model options with fairseq's names (``encoder_layers``,
            ``encoder_embed_dim``, ``encoder_ffn_embed_dim``, ``encoder_attention_heads``,
            ``extractor_mode``, ``conv_feature_layers``, ``conv_bias``,
            ``layer_norm_first``, ``conv_pos``, ``conv_pos_groups``, ``pos_conv_depth``,
            ``activation_fn``, ``dropout``, ``attention_dropout``,
            ``activation_dropout``, ``encoder_layerdrop``, ``dropout_input``).
        task_cfg: task options; ``normalize`` (default False).
        overrides: fields of :class:`Wav2Vec2Config` to set explicitly.

    Raises:
        ValueError: an unsupported option (``layer_type`` other than
            ``"transformer"``, unknown ``extractor_mode``).
    """
    m = dict(model_cfg)
    layer_type = m.get("layer_type", "transformer")
    if layer_type not in (None, "transformer"):
        raise ValueError(f"layer_type {layer_type!r} is not supported (only 'transformer')")
    mode = m.get("extractor_mode", "default")
    modes = {"default": "group_norm", "layer_norm": "layer_norm", "group_norm": "group_norm"}
    if mode not in modes:
        raise ValueError(f"extractor_mode {mode!r} is not supported (expected 'default' or 'layer_norm')")

    def get(name, default):
        value = m.get(name)
        return default if value is None else value

    fields = dict(
        conv_layers=parse_conv_layers(m.get("conv_feature_layers")),
        extractor_mode=modes[mode],
        conv_bias=bool(get("conv_bias", False)),
        embed_dim=int(get("encoder_embed_dim", 768)),
        num_layers=int(get("encoder_layers", 12)),
        num_heads=int(get("encoder_attention_heads", 12)),
        ffn_dim=int(get("encoder_ffn_embed_dim", 3072)),
        activation=str(get("activation_fn", "gelu")),
        layer_norm_first=bool(get("layer_norm_first", False)),
        conv_pos=int(get("conv_pos", 128)),
        conv_pos_groups=int(get("conv_pos_groups", 16)),
        pos_conv_depth=int(get("pos_conv_depth", 1)),
        normalize=bool(task_cfg.get("normalize", False) or False),
        dropout=float(get("dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.0)),
        layerdrop=float(get("encoder_layerdrop", 0.0)),
        dropout_input=float(get("dropout_input", 0.0)),
    )
    fields.update(overrides)
    return Wav2Vec2Config(**fields)


# --------------------------------------------------------------------------- weights

_RENAMES: list[tuple[re.Pattern, str]] = [
    # feature encoder: Sequential(conv, dropout, norm, GELU); LayerNorm mode wraps the
    # norm as Sequential(TransposeLast, LayerNorm, TransposeLast)
    (re.compile(r"^feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)$"),
     r"feature_extractor.conv_layers.\1.conv.\2"),
    (re.compile(r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)$"),
     r"feature_extractor.conv_layers.\1.norm.\2"),
    (re.compile(r"^feature_extractor\.conv_layers\.(\d+)\.2\.(weight|bias)$"),
     r"feature_extractor.conv_layers.\1.norm.\2"),
    # positional conv: Sequential(weight-normed Conv1d, SamePad, GELU)
    (re.compile(r"^encoder\.pos_conv\.0\.(weight_g|weight_v|bias)$"), r"encoder.pos_conv.\1"),
    (re.compile(r"^encoder\.pos_conv\.0\.parametrizations\.weight\.original0$"), "encoder.pos_conv.weight_g"),
    (re.compile(r"^encoder\.pos_conv\.0\.parametrizations\.weight\.original1$"), "encoder.pos_conv.weight_v"),
    # data2vec's stack: Sequential of Sequential(Conv1d, SamePad, TransposeLast, LayerNorm, ...)
    (re.compile(r"^encoder\.pos_conv\.(\d+)\.0\.(weight|bias)$"), r"encoder.pos_conv.convs.\1.\2"),
]


def rename_fairseq_keys(state_dict: Mapping[str, Any], pos_conv_depth: int = 1) -> dict[str, Any]:
    """Rename fairseq/UniLM state-dict keys to :class:`~.modules.Wav2Vec2Model`'s names.

    Only the ``nn.Sequential`` index names change
    (``feature_extractor.conv_layers.{i}.0`` -> ``.conv``, ``.2`` / ``.2.1`` -> ``.norm``,
    ``encoder.pos_conv.0.weight_g`` -> ``encoder.pos_conv.weight_g``, data2vec's
    ``encoder.pos_conv.{i}.0`` -> ``encoder.pos_conv.convs.{i}``); every other key is kept.

    Args:
        state_dict: fairseq-named weights.
        pos_conv_depth: the config's ``pos_conv_depth`` (decides how
            ``encoder.pos_conv.0.*`` is read).
    """
    out = {}
    for key, value in state_dict.items():
        key = str(key)
        for pattern, repl in _RENAMES:
            is_stack_rule = repl.startswith("encoder.pos_conv.convs")
            if is_stack_rule != (pos_conv_depth > 1) and key.startswith("encoder.pos_conv."):
                continue
            new, n = pattern.subn(repl, key)
            if n:
                key = new
                break
        out[key] = value
    return out


def is_training_only(key: str, extra_keys: Iterable[str] = (), extra_prefixes: Iterable[str] = ()) -> bool:
    """Whether ``key`` names a training-only weight (see :data:`TRAINING_ONLY_KEYS`)."""
    return (
        key in TRAINING_ONLY_KEYS
        or key in set(extra_keys)
        or key.startswith(TRAINING_ONLY_PREFIXES)
        or key.startswith(tuple(extra_prefixes))
    )


def load_weights(
    model: nn.Module,
    state_dict: Mapping[str, Any],
    source: Any = "checkpoint",
    extra_ignored_keys: Iterable[str] = (),
    extra_ignored_prefixes: Iterable[str] = (),
    what: str = "the architecture read from it",
) -> None:
    """Load ``state_dict`` (already renamed) into ``model`` with
    :func:`s3prl.util.checkpoint.load_state_dict_strict`.

    Training-only entries (:data:`TRAINING_ONLY_KEYS`, :data:`TRAINING_ONLY_PREFIXES`
    and the ``extra_*`` ones) are dropped; any other missing or unexpected key, a
    shape mismatch, a non-floating or non-finite tensor is an error.

    Args:
        source: the checkpoint file (or model folder) the weights came from.
        what: what they are compared with, for the message.

    Raises:
        s3prl.util.checkpoint.CheckpointKeyError (KeyError, ValueError): naming
            ``source`` and the keys.
    """
    load_state_dict_strict(
        model,
        state_dict,
        where=source,
        ignore_keys=TRAINING_ONLY_KEYS | set(extra_ignored_keys),
        ignore_prefixes=TRAINING_ONLY_PREFIXES + tuple(extra_ignored_prefixes),
        what=what,
    )
