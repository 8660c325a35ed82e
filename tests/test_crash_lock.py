"""Run-folder locks: a second process on a folder in use stops with one line naming the holder; the lock of a
process that died (even by kill -9) is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ssal.errors import SsalError
from ssal.run_lock import LOCK_NAME, RunLock

HOLD = textwrap.dedent("""
    import sys, time
    from ssal.run_lock import RunLock
    lock = RunLock(sys.argv[1], "ssal train").acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def hold_in_subprocess(folder):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_holder_is_refused_with_the_folder_and_the_holder(tmp_path):
    with RunLock(tmp_path / "run", "ssal train"):
        with pytest.raises(SsalError) as error:
            RunLock(tmp_path / "run", "ssal train").acquire()
    assert error.value.where == str(tmp_path / "run")
    assert f"PID {os.getpid()} on host" in str(error.value) and "started 20" in str(error.value)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # a clean release leaves no file
    RunLock(tmp_path / "run").acquire().release()  # and the folder is free again


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path, caplog):
    process = hold_in_subprocess(tmp_path)
    try:
        with pytest.raises(SsalError, match=f"PID {process.pid} "):
            RunLock(tmp_path).acquire()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == process.pid  # the dead holder's file stays
    with caplog.at_level("INFO"), RunLock(tmp_path, "ssal query") as lock:
        assert lock.held
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert f"PID {process.pid}" in caplog.text and "no longer running" in caplog.text


def test_a_ledger_is_locked_by_a_file_beside_it(tmp_path):
    ledger = tmp_path / "ledger.json"
    with RunLock.beside(ledger, "ssal query"):
        assert (tmp_path / "ledger.json.lock").is_file()
        with pytest.raises(SsalError) as error:
            RunLock.beside(ledger, "ssal import-labels").acquire()
        assert error.value.where == str(ledger) and "ssal query (PID" in str(error.value)
        RunLock(tmp_path).acquire().release()  # the folder itself is not locked


TINY = os.path.join(os.path.dirname(__file__), "..", "configs", "synthetic", "s_ssal_tiny.yaml")


@pytest.mark.parametrize("command", [
    ["run"],
    ["cpsp", "--ledger", "ledger.json", "--init-ckpt", "pretrain.pth"],
    ["demo", "--config", TINY],
])
def test_run_cpsp_and_demo_stop_on_a_folder_in_use_before_writing(tmp_path, command, capsys):
    from ssal.cli import main

    run = tmp_path / "run"
    process = hold_in_subprocess(run)
    try:
        config = [] if command[0] == "demo" else ["--config", TINY, "--data-root", str(tmp_path / "world")]
        assert main([*command, *config, "--out", str(run)]) != 0
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(run) in err[0] and f"ssal train (PID {process.pid} on host" in err[0]
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing was written
