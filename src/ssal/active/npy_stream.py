"""Write a ``.npy`` file row by row without knowing its length in advance.

The header is written with a fixed size first and rewritten with the final shape on close, so the file never
has to be copied and can be opened memory-mapped with ``np.load(path, mmap_mode="r")``. The format is NumPy's
documented ``.npy`` version 1.0: magic, version, a little-endian uint16 header length, a Python-literal dict
padded with spaces and ended by a newline, then the raw C-order data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAGIC = b"\x93NUMPY\x01\x00"
HEADER_BYTES = 256  # preamble + dict + padding; a multiple of 64 keeps the data aligned


class NpyAppender:
    """Append rows of ``row_shape`` and ``dtype`` to ``path``; ``close()`` fixes the header."""

    def __init__(self, path: str | os.PathLike, dtype, row_shape: tuple[int, ...] = ()):
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.row_shape = tuple(int(d) for d in row_shape)
        self.rows = 0
        self._file = open(self.path, "wb")
        self._file.write(_header(self.dtype, (0,) + self.row_shape))

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: rows of shape {rows.shape[1:]}, expected {self.row_shape}")
        self._file.write(rows.tobytes())
        self.rows += rows.shape[0]

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(_header(self.dtype, (self.rows,) + self.row_shape))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        self._file.close()


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    room = HEADER_BYTES - len(MAGIC) - 2
    body = text.encode("latin1")
    if len(body) + 1 > room:
        raise ValueError(f"npy header too long for shape {shape}")
    body = body + b" " * (room - len(body) - 1) + b"\n"
    return MAGIC + room.to_bytes(2, "little") + body
