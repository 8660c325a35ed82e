"""Under CI (``CI`` set) a skip is a failure unless a GPU is what is missing (``conftest.GPU_SKIP``): a wrong data
path, a missing dev dependency or a forgotten ``pytest.skip`` must never pass CI as a row of 's'."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
SKIPPING = '''
import pytest

@pytest.fixture
def data():
    pytest.skip("data folder is missing")

def test_skips_in_the_body():
    pytest.skip("not ready")

def test_skips_in_a_fixture(data):
    pass

@pytest.mark.skipif(True, reason="needs CUDA")
def test_needs_the_gpu():
    pass

@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_needs_a_gpu_device():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False

def test_passes():
    pass
'''
SKIPPED_MODULE = '''
import pytest
pytest.importorskip("a_module_that_is_not_installed")

def test_never_collected():
    pass
'''


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_skipping=SKIPPING, test_skipped_module=SKIPPED_MODULE)
    return pytester


def test_outside_ci_skips_are_skips(suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=5, xfailed=1)


def test_under_ci_only_gpu_skips_remain_skips(suite, monkeypatch):
    monkeypatch.setenv("CI", "1")
    result = suite.runpytest("-p", "no:cacheprovider", "-rfEs", "--continue-on-collection-errors")
    result.assert_outcomes(passed=1, skipped=2, xfailed=1, failed=1, errors=2)  # a fixture's skip: a setup error
    output = result.stdout.str()
    for reason in ("not ready", "data folder is missing", "could not import 'a_module_that_is_not_installed'"):
        assert f"skipped under CI for a reason other than a missing GPU: {reason}" in output
