"""Runner configuration: the task's yaml merged with command-line overrides.

Overrides come in two spellings (both repeatable with ``-o``):

* ``runner.total_steps=300`` (a dotted key, OmegaConf dot-list style);
* s3prl 0.4's ``config.runner.total_steps=300,,args.seed=2`` (pieces joined by
  ``,,``; ``config.`` keys go to the yaml, ``args.`` keys to the command-line
  arguments).

Values are parsed as YAML (``300`` is an int, ``null`` is None, ``[dev, test]``
a list). Unknown keys are errors that name the key and the close names.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import yaml

#: top-level sections of a task config.
TOP_KEYS = ("runner", "optimizer", "scheduler", "specaug", "downstream_expert")

#: keys of the ``runner`` section and their defaults.
RUNNER_DEFAULTS = {
    "total_steps": None,  # required
    "log_step": 100,
    "eval_step": 1000,
    "save_step": 1000,
    "max_keep": 1,
    "gradient_accumulate_steps": 1,
    "gradient_clipping": 1.0,
    "eval_dataloaders": ["dev"],
}


class ConfigError(ValueError):
    """A configuration key or value the runner cannot use (the message names it)."""


def _close(key: str, candidates) -> str:
    close = difflib.get_close_matches(key, [str(c) for c in candidates], n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def load_config(path: str | Path) -> dict:
    """Read a task config yaml (OmegaConf interpolations resolved) as a plain dict.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file is not a mapping.
    """
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    conf = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(conf, dict):
        raise ConfigError(f"config {path} must be a mapping with sections {', '.join(TOP_KEYS)}")
    return conf


def validate_config(config: dict, source: str = "config") -> dict:
    """Check the sections and the ``runner`` keys; fill the ``runner`` defaults.

    Returns:
        A new dict with the defaults filled in.

    Raises:
        ConfigError: an unknown top-level or runner key (named, with close
            names), a missing ``runner.total_steps`` / ``optimizer.name`` /
            ``downstream_expert``, or a non-positive step count.
    """
    config = copy.deepcopy(config)
    unknown = [k for k in config if k not in TOP_KEYS]
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key(s) "
            + ", ".join(f"{k!r}{_close(k, TOP_KEYS)}" for k in unknown)
            + f"; allowed: {', '.join(TOP_KEYS)}"
        )
    runner = config.get("runner") or {}
    unknown = [k for k in runner if k not in RUNNER_DEFAULTS]
    if unknown:
        raise ConfigError(
            f"{source}: unknown runner key(s) "
            + ", ".join(f"'runner.{k}'{_close(k, RUNNER_DEFAULTS)}" for k in unknown)
            + f"; allowed: {', '.join(RUNNER_DEFAULTS)}"
        )
    runner = {**RUNNER_DEFAULTS, **runner}
    for key in ("total_steps", "log_step", "eval_step", "save_step", "max_keep", "gradient_accumulate_steps"):
        value = runner[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{source}: runner.{key} must be a positive integer, got {value!r}")
    if isinstance(runner["eval_dataloaders"], str):
        runner["eval_dataloaders"] = [runner["eval_dataloaders"]]
    config["runner"] = runner
    optimizer = config.get("optimizer")
    if not isinstance(optimizer, dict) or "name" not in optimizer:
        raise ConfigError(f"{source}: an 'optimizer' section with a 'name' (Adam, AdamW, SGD) is required")
    if config.get("specaug"):
        from s3prl.downstream.specaug import SpecAug

        try:
            SpecAug(**config["specaug"])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{source}: {err}") from err
    if not isinstance(config.get("downstream_expert"), dict):
        raise ConfigError(f"{source}: a 'downstream_expert' section (datarc, modelrc) is required")
    return config


def parse_overrides(overrides) -> tuple[list[tuple[str, object]], dict]:
    """Split ``-o`` strings into config overrides and argument overrides.

    Args:
        overrides: list of strings such as ``"runner.total_steps=300"`` or
            ``"config.optimizer.lr=1e-3,,args.seed=2"``.

    Returns:
        ``([(dotted_config_key, value), ...], {arg_name: value})``.

    Raises:
        ConfigError: a piece without ``=`` or with an empty key.
    """
    config_items: list[tuple[str, object]] = []
    arg_items: dict = {}
    for text in overrides or []:
        for piece in str(text).split(",,"):
            piece = piece.strip()
            if not piece:
                continue
            if "=" not in piece:
                raise ConfigError(f"override {piece!r} must look like key=value (e.g. runner.total_steps=300)")
            key, raw = piece.split("=", 1)
            key = key.strip()
            if key.startswith("--"):
                key = key[2:]
            if not key:
                raise ConfigError(f"override {piece!r} has an empty key")
            try:
                value = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                value = raw
            if key.startswith("args."):
                arg_items[key[len("args."):].replace("-", "_")] = value
            else:
                if key.startswith("config."):
                    key = key[len("config."):]
                config_items.append((key, value))
    return config_items, arg_items


def apply_overrides(config: dict, items, source: str = "override", schema: dict | None = None) -> dict:
    """Set dotted keys in a copy of ``config``.

    New keys are accepted only where the runner or the task knows them: a ``runner.*``
    key of :data:`RUNNER_DEFAULTS`, any key under ``optimizer`` / ``scheduler`` /
    ``specaug`` (their options, checked when they are built), a whole new top-level
    section of :data:`TOP_KEYS`, and any key of ``schema`` (the task's own shipped
    ``config.yaml``: e.g. asr's ``downstream_expert.datarc.decoder_args.decoder_type`` added
    to a config restored from a checkpoint that lacks it). Any other key must already exist
    in the config (a typo in ``downstream_expert.datarc.*`` is an error, not a silently
    unused value).

    Args:
        config: the config (not modified).
        items: ``[(dotted_key, value), ...]`` from :func:`parse_overrides`.
        source: what to name in error messages.
        schema: the task's default config (a nested dict) or ``None``.

    Raises:
        ConfigError: the key exists neither in the config nor in ``schema`` (named, with
            close names), or it descends into a value that is not a mapping.
    """
    config = copy.deepcopy(config)
    for key, value in items:
        parts = key.split(".")
        node = config
        known = schema if isinstance(schema, dict) else {}
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            path = ".".join(parts[: depth + 1])
            if not isinstance(node, dict):
                raise ConfigError(f"{source} {key!r}: {'.'.join(parts[:depth])} is not a mapping")
            exists = part in node
            in_schema = isinstance(known, dict) and part in known
            allowed_new = (
                in_schema
                or (depth == 0 and part in TOP_KEYS)
                or (parts[0] == "runner" and depth == 1 and part in RUNNER_DEFAULTS)
                or (parts[0] in ("optimizer", "scheduler", "specaug") and depth >= 1)
            )
            if not exists and not allowed_new:
                candidates = list(node) + [k for k in (known if isinstance(known, dict) else {})
                                           if k not in node]
                if depth == 0:
                    candidates = list(TOP_KEYS)
                elif parts[0] == "runner" and depth == 1:
                    candidates = list(RUNNER_DEFAULTS)
                raise ConfigError(f"{source}: unknown config key {path!r}{_close(part, candidates)}")
            if last:
                node[part] = value
            else:
                if not exists or node[part] is None:
                    node[part] = {}
                node = node[part]
                known = known.get(part) if in_schema else None
    return config


def dump_yaml(config: dict) -> str:
    """The config as YAML text (key order kept)."""
    return yaml.safe_dump(config, sort_keys=False)
