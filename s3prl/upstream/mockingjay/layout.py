"""Released checkpoint layouts of Mockingjay, TERA and Audio ALBERT.

The original toolkit (s3prl, https://github.com/s3prl/s3prl, files
``s3prl/pretrain/runner.py``, ``s3prl/pretrain/<family>/pretrain_expert.py``,
``s3prl/upstream/mockingjay/builder.py``) saved ``states-<step>.ckpt`` files
as a dict; three layouts exist:

``"config"`` (the released 2021 checkpoints, every official URL)::

    {"Transformer": state_dict,        # the encoder (used)
     "SpecHead": state_dict,           # pre-training prediction head (ignored)
     "Config": {"transformer": {...}, "task": {...}, "audio": {...}},  # upstream config (used)
     "Runner": {...},                  # runner / optimiser config (ignored)
     "Optimizer": optimizer.state_dict(), "Step": int,
     "Args": argparse.Namespace, ["Scheduler": ...]}  # training state (ignored)

``"upstream_config"`` (checkpoints of the toolkit after November 2021)::

    {"Transformer", "SpecHead", "Upstream_Config": {upstream config},
     "Config": {runner config, or {} }, ["Optimizer", "Step", "Args", "Scheduler"]}

``"settings"`` (the 2019-2020 code base, andi611/Self-Supervised-Speech-
Pretraining-and-Representation-Learning)::

    {"Transformer", "SpecHead", "Optimizer", "Global_step",
     "Settings": {"Config": {...}, "Paras": argparse.Namespace}}

The optimiser state of the released files pickles the toolkit's
learning-rate schedule objects (``optimizers.WarmupLinearSchedule`` and
siblings, inside ``param_groups``); they are read as inert stand-ins
(:data:`SCHEDULE_STAND_INS`) and never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3prl.util.checkpoint import (
    CheckpointKeyError,
    StandIn,
    load_checkpoint,
    note_unused_entries,
    to_plain,
)

__all__ = ["ParsedCheckpoint", "read_checkpoint", "SCHEDULE_STAND_INS", "LAYOUTS"]

_SCHEDULE_CLASSES = (
    "ConstantLR",
    "WarmupCosineSchedule",
    "WarmupCosineWithHardRestartsSchedule",
    "WarmupCosineWithWarmupRestartsSchedule",
    "WarmupConstantSchedule",
    "WarmupLinearSchedule",
)


def _schedule_stand_in(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[-1], (StandIn,), {"_qualname": qualname})


#: ``(stand_in, "module.Name")`` pairs for the learning-rate schedule objects
#: pickled inside the optimiser state of released checkpoints (module
#: ``optimizers`` before the toolkit became a package, ``s3prl.optimizers``
#: after). Harmless: the stand-in only stores the pickled attributes.
SCHEDULE_STAND_INS = [
    (_schedule_stand_in(f"{mod}.{name}"), f"{mod}.{name}")
    for mod in ("optimizers", "s3prl.optimizers")
    for name in _SCHEDULE_CLASSES
]

#: layout -> (config key, used keys, ignored training-only keys)
LAYOUTS = {
    "config": (
        "Config",
        {"Transformer", "Config"},
        {"SpecHead", "Runner", "Optimizer", "Step", "Args", "Scheduler"},
    ),
    "upstream_config": (
        "Upstream_Config",
        {"Transformer", "Upstream_Config"},
        {"SpecHead", "Config", "Optimizer", "Step", "Args", "Scheduler"},
    ),
    "settings": (
        "Settings",
        {"Transformer", "Settings"},
        {"SpecHead", "Optimizer", "Global_step"},
    ),
}


@dataclass
class ParsedCheckpoint:
    """What a Mockingjay/TERA/Audio ALBERT checkpoint provides.

    Attributes:
        layout: ``"config"``, ``"upstream_config"`` or ``"settings"``.
        config: the upstream config as plain dicts (``transformer``, ``task``,
            ``audio`` / ``online`` sections).
        state_dict: the encoder's weights (``Transformer``), with the legacy
            ``gamma``/``beta`` LayerNorm names renamed to ``weight``/``bias``.
        path: the file.
    """

    layout: str
    config: dict
    state_dict: dict
    path: Path


def read_checkpoint(path: str | Path) -> ParsedCheckpoint:
    """Read a released Mockingjay/TERA/Audio ALBERT checkpoint safely.

    Args:
        path: local ``states-*.ckpt`` file.

    Returns:
        :class:`ParsedCheckpoint`.

    Raises:
        FileNotFoundError: no such file.
        s3prl.util.checkpoint.UnsafeCheckpointError: the file asks for a
            Python global outside the allowlist.
        ValueError: not a dict, no known layout, a missing top-level entry
            (named), or a config without a ``transformer`` section. Other
            top-level entries (step counters, optimizer, runner settings) are
            logged once (:func:`s3prl.util.checkpoint.note_unused_entries`).
        s3prl.util.checkpoint.CheckpointKeyError: ``Transformer`` is not a state dict.
    """
    path = Path(path)
    ckpt = load_checkpoint(path, extra_safe_globals=SCHEDULE_STAND_INS)
    if not isinstance(ckpt, dict):
        raise ValueError(
            f"{path}: a Mockingjay/TERA/Audio ALBERT checkpoint is a dict, got {type(ckpt).__name__}"
        )

    def has_transformer(key: str) -> bool:
        value = ckpt.get(key)
        return isinstance(value, dict) and "transformer" in value

    # Same precedence as the original builder: a 'Config' holding the
    # upstream config wins over 'Upstream_Config'.
    if has_transformer("Config"):
        layout = "config"
    elif has_transformer("Upstream_Config"):
        layout = "upstream_config"
    elif "Settings" in ckpt:
        layout = "settings"
    else:
        raise ValueError(
            f"{path}: not a Mockingjay/TERA/Audio ALBERT checkpoint: no 'Config' or "
            "'Upstream_Config' dict with a 'transformer' section and no 'Settings' "
            f"(top-level keys: {sorted(map(str, ckpt))})"
        )
    cfg_key, used, _ignored = LAYOUTS[layout]
    # Training bookkeeping besides the known entries (step counters under any
    # spelling, optimizer, runner settings) is no reason to refuse a file.
    note_unused_entries(path, [k for k in ckpt if k not in used])
    missing = sorted(k for k in used if k not in ckpt)
    if missing:
        raise ValueError(f"{path}: missing top-level key(s) {missing}")

    config = to_plain(ckpt[cfg_key])
    if layout == "settings":
        if not isinstance(config, dict) or "Config" not in config:
            raise ValueError(f"{path}: 'Settings' has no 'Config'")
        note_unused_entries(path, [k for k in config if k not in ("Config", "Paras")], "entries of 'Settings'")
        config = config["Config"]
        if not isinstance(config, dict) or "transformer" not in config:
            raise ValueError(f"{path}: 'Settings.Config' has no 'transformer' section")

    state = ckpt["Transformer"]
    if not isinstance(state, dict):
        raise CheckpointKeyError(f"checkpoint {path}: 'Transformer' is a {type(state).__name__}, not a state dict")
    renamed = {}
    for key, value in state.items():
        # The original loader renames TF-style LayerNorm parameter names.
        new = str(key).replace("gamma", "weight").replace("beta", "bias")
        if new in renamed:
            raise CheckpointKeyError(f"checkpoint {path}: 'Transformer' has both {key!r} and {new!r}")
        renamed[new] = value
    return ParsedCheckpoint(layout=layout, config=config, state_dict=renamed, path=path)
