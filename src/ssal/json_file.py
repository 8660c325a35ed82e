"""Reading the JSON files ssal writes (ledgers, run results, benchmark results) with one-line errors that name the
file: missing, or not valid JSON and where. Each caller checks the document's ``kind`` and fields itself."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ssal.errors import SsalError

__all__ = ["read_json"]


def read_json(path: str | os.PathLike, missing: str) -> Any:
    """The parsed content of ``path``; ``missing`` is the error's text when the file does not exist (say what
    writes it)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SsalError(missing, path) from None
    except json.JSONDecodeError as error:
        raise SsalError(f"not valid JSON ({error.msg} at line {error.lineno})", path) from None
