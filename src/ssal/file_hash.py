"""The identity of a file by its content: the SHA-256 that run manifests, CPSP databases and pool outputs record
for the checkpoints and inputs they were made from."""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_sha256"]


def file_sha256(path: str | os.PathLike, digits: int | None = None) -> str:
    """The hex SHA-256 of the file at ``path`` (its first ``digits`` characters when given), read in 4 MB blocks
    so that large checkpoints are never held in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()[:digits]
