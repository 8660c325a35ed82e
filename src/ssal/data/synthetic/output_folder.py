"""The folder a synthetic dataset is written to: new or empty, or (with ``overwrite``) cleared of an earlier
dataset of the same layout, other files left alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

from ssal.errors import SsalError


def prepare_output(root: str | os.PathLike, overwrite: bool, layout: str, replaced: Sequence[str],
                   replaced_globs: Sequence[str], folders: Sequence[str]) -> Path:
    """Make ``root`` ready: refuse a non-empty folder unless ``overwrite``, then remove the ``replaced`` names and
    ``replaced_globs`` matches of an earlier ``layout`` dataset, and create ``folders`` (relative to ``root``)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise SsalError("output path exists and is not a folder", root)
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise SsalError(f"output folder exists and is not empty (pass --overwrite to replace its {layout} data)",
                            root)
        for name in replaced:
            _remove(root / name)
        for pattern in replaced_globs:
            for path in root.glob(pattern):
                _remove(path)
    try:
        for folder in folders:
            (root / folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SsalError(f"cannot create the output folders ({error.strerror})", root) from None
    return root


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
