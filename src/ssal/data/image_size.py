"""Image size without decoding the image: KITTI tools take the camera image only for its size, which decides the
camera field of view that labels (and the training crop) cover."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ssal.errors import SsalError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of a PNG file, read from its header."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            header = handle.read(24)
    except FileNotFoundError:
        raise SsalError("image file not found (KITTI image_2 gives the camera field of view)", path) from None
    except OSError as error:
        raise SsalError(f"cannot read image file ({error.strerror})", path) from None
    if len(header) < 24 or header[:8] != _PNG_SIGNATURE or header[12:16] != b"IHDR":
        raise SsalError("not a PNG image (KITTI image_2 files are PNG)", path)
    width, height = struct.unpack(">II", header[16:24])
    return int(height), int(width)
