"""Read a yaml config file (or take an already parsed mapping) with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["read_yaml_mapping"]


def read_yaml_mapping(config: str | os.PathLike | Mapping[str, Any], what: str = "config",
                      arg: str = "config") -> dict:
    """A yaml file's top-level mapping as a dict (a mapping given instead is copied).

    Args:
        config: path of a yaml file, or an already parsed mapping.
        what: what the file is, for messages (e.g. ``"ESPnet HuBERT config.yaml"``).
        arg: the caller's argument name, for the ``TypeError``.

    Raises:
        TypeError: ``config`` is neither a path nor a mapping.
        FileNotFoundError: the file does not exist (names it).
        ValueError: the yaml cannot be parsed, or its top level is not a mapping (names the file).
    """
    if isinstance(config, Mapping):
        return dict(config)
    if not isinstance(config, (str, os.PathLike)):
        raise TypeError(f"{arg} must be a yaml path or a mapping, got {type(config).__name__}")
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            parsed = yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ValueError(f"cannot parse the {what} {path}: {err}") from err
    if not isinstance(parsed, Mapping):
        raise ValueError(f"the {what} {path} must hold a yaml mapping, got {type(parsed).__name__}")
    return dict(parsed)
