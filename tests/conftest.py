"""Shared fixtures. Real KITTI frames live beside the project in ../shared/data (licensed CC BY-NC-SA, never
copied into the repository). Without that folder the tests that need it skip, except under CI (``CI`` set),
where a missing folder is a failure: a wrong path must never turn into silent skips.

Under CI no test may skip for any reason but a missing GPU: a skip whose reason does not start with "needs CUDA"
or "needs a CUDA" (``GPU_SKIP``) is reported as a failure there, whether it comes from a test, a fixture or a
whole module (``pytest.importorskip``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # test_conftest_ci.py runs pytest on small test files

GPU_SKIP = re.compile(r"needs (a )?CUDA")

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


# ---------------------------------------------------------------------------------------- no silent skips
def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _fail_a_skip_under_ci(report) -> None:
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if not GPU_SKIP.match(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI for a reason other than a missing GPU: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_a_skip_under_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_a_skip_under_ci(outcome.get_result())
