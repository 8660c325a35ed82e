"""Typed configuration: dataclasses loaded from YAML (``_base_`` inheritance, ``--set a.b=c`` overrides)."""

from __future__ import annotations

import os
from typing import Sequence

from ssal.config.loader import config_fingerprint, config_to_dict, config_to_yaml
from ssal.config.loader import load_config as _load
from ssal.config.schema import Config


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Config:
    """The run config in ``path`` with ``overrides`` applied, validated."""
    return _load(path, Config, overrides)


__all__ = ["Config", "load_config", "config_fingerprint", "config_to_dict", "config_to_yaml"]
