"""The one exception type for mistakes a user can make (bad data, bad config, bad arguments).

The CLI prints it as a single line, ``error: <where>: <what>``, and exits non-zero, so every message must say
which file (or key, or argument) is wrong and what was expected.
"""

from __future__ import annotations

import os
import warnings


class SsalError(Exception):
    """A user-facing error. ``where`` is a file path, a config key or an argument name."""

    def __init__(self, message: str, where: str | os.PathLike | None = None):
        self.message = message
        self.where = None if where is None else str(where)
        super().__init__(f"{self.where}: {message}" if self.where else message)


class SsalWarning(UserWarning):
    """A problem in user data that ssal can work around (an unknown class name, say)."""


def warn(message: str, where: str | os.PathLike | None = None) -> None:
    warnings.warn(f"{where}: {message}" if where else message, SsalWarning, stacklevel=2)
