"""Shared fixtures. Real KITTI frames live beside the project in ../shared/data (licensed CC BY-NC-SA, never
copied into the repository). Without that folder the tests that need it skip, except under CI (``CI`` set),
where a missing folder is a failure: a wrong path must never turn into silent skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# SSAL_SHARED_DATA points elsewhere when the checkout does not sit beside ../shared (e.g. on a GPU machine).
SHARED_DATA = Path(os.environ.get("SSAL_SHARED_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def _require(path: Path) -> Path:
    if path.exists():
        return path
    message = f"{path} is missing (real KITTI sample frames live in ../shared/data)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kitti_sample() -> Path:
    """Root of the 12-frame real KITTI sample (KITTI object layout)."""
    return _require(SHARED_DATA / "kitti_sample")


@pytest.fixture(scope="session")
def openpcdet_infos(kitti_sample: Path) -> Path:
    """Folder with OpenPCDet-written kitti_infos_*.pkl for frames 000000-000005."""
    return _require(kitti_sample / "openpcdet_infos")
