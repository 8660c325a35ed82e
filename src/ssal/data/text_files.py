"""Reading the small text files of a dataset (labels, calibration, planes, id lists) with one clear error each."""

from __future__ import annotations

import os
from pathlib import Path

from ssal.errors import SsalError


def read_text(path: str | os.PathLike, what: str) -> str:
    """The text of ``path``; a missing or unreadable file is an ``SsalError`` naming it as ``what``."""
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SsalError(f"{what} not found", path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise SsalError(f"cannot read {what} ({error.__class__.__name__})", path) from None


def read_id_list(path: str | os.PathLike, what: str = "frame id file", item: str = "frame id"
                 ) -> list[tuple[str, int]]:
    """``(id, line number)`` for each non-blank line: one ``item`` per line, none repeated."""
    ids, seen = [], {}
    for number, line in enumerate(read_text(path, what).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) > 1:
            raise SsalError(f"line {number}: expected one {item}, got {len(fields)} fields", path)
        if fields[0] in seen:
            raise SsalError(f"line {number}: {item} {fields[0]} is listed twice (first on line {seen[fields[0]]})",
                            path)
        seen[fields[0]] = number
        ids.append((fields[0], number))
    return ids
