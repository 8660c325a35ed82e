"""Atomic file writes: a reader (or a resumed run) sees either the old file or the complete new one, never half.

The new content goes to a temporary file in the destination's folder (so the final ``os.replace`` is a rename on
one file system), is flushed and fsync'ed, then renamed over the destination; the folder is fsync'ed too so the
rename itself survives a power cut. If anything fails, the temporary file is removed and the destination is left
as it was. Checkpoints, manifests, ledgers, JSON and pickles everywhere in the project are written through here.

A write that fails for a reason the user must fix (disk full, quota, permission denied, read-only file system)
raises ``WriteError``: an ``SsalError`` (one line naming the destination and the cause) that is also an
``OSError``, so code that tolerates unwritable places (a read-only dataset's cache) keeps doing so.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import torch

from ssal.errors import SsalError

__all__ = [
    "WriteError",
    "write_error",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_pickle_dump",
    "atomic_torch_save",
    "torch_bytes",
]


# Causes a user can fix; any other OSError is a bug or a broken machine and keeps its traceback.
USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS})


class WriteError(SsalError, OSError):
    """A file could not be written: disk full, quota, permission denied, read-only file system."""


def write_error(error: OSError, path: str | os.PathLike) -> OSError:
    """``error`` as a one-line ``WriteError`` naming ``path`` when its cause is the user's to fix, else itself."""
    if isinstance(error, SsalError) or error.errno not in USER_ERRNOS:
        return error
    return WriteError(f"cannot write: {error.strerror or os.strerror(error.errno)}", path)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces ``path`` atomically.

    ``mode`` is ``"wb"`` or ``"w"`` (text, UTF-8 unless ``encoding`` says otherwise). Parent folders are created.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes whole files; mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise write_error(error, path) from None
    try:
        # mkstemp makes the file private (0600); give it the mode an ordinary open() would have.
        os.chmod(tmp_name, 0o666 & ~_umask())
        text_encoding = (encoding or "utf-8") if mode == "w" else None
        with open(fd, mode, encoding=text_encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(error, OSError) and write_error(error, path) is not error:
            raise write_error(error, path) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON (keys in insertion order, a trailing newline)."""
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def atomic_pickle_dump(path: str | os.PathLike, obj: Any) -> None:
    with atomic_open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save`` through a temporary file. Serialise once with ``torch_bytes`` to write several copies."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _umask() -> int:
    # Reading the umask through os.umask() would briefly change it for every thread; Linux exposes it read-only.
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


def _fsync_dir(folder: Path) -> None:
    # Not every platform lets a folder be opened (Windows); the rename is still atomic there.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
