"""One process at a time per run folder (or ledger): a lock file that names its holder.

Two commands writing the same run folder interleave checkpoints, configs and metrics; two writing the same
ledger lose a round. Every command that writes a run folder or a ledger holds its lock while it works::

    with RunLock(run_dir, "ssal train"):            # RUN/ssal.lock
        ...
    with RunLock.beside(ledger_path, "ssal query"):  # LEDGER.json.lock
        ...

The lock file holds the holder's PID, host, start time and command (JSON). A second process finds the file
locked and stops with one ``SsalError`` naming the folder and the holder. The lock itself is an exclusive
``flock`` on that file, which the kernel releases when the holder dies however it dies (even ``kill -9``), so a
lock left by a dead process is simply taken over; the stale file's holder is logged. The file is removed on a
clean release. Under ``torchrun`` only rank 0 takes the lock (``distributed_lock``); the folder must sit on a
file system whose locks every node sees (local disks, NFSv4, Lustre) for two *jobs* to exclude each other.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
from pathlib import Path
from typing import Iterator

from ssal.atomic import write_error
from ssal.errors import SsalError

__all__ = ["LOCK_NAME", "RunLock", "distributed_lock"]

LOCK_NAME = "ssal.lock"
_log = logging.getLogger(__name__)


class RunLock:
    """An exclusive lock on ``folder`` (file ``folder/name``), held between ``acquire`` and
    ``release`` or inside ``with``. ``command`` is recorded for the error message of a process that finds it held.
    """

    def __init__(self, folder: str | os.PathLike, command: str = "ssal", name: str = LOCK_NAME):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.command = command
        self._fd: int | None = None

    @classmethod
    def beside(cls, file: str | os.PathLike, command: str = "ssal") -> RunLock:
        """The lock of a single file (a ledger): ``FILE.lock`` in the file's folder."""
        file = Path(file)
        return cls(file.parent, command, name=f"{file.name}.lock")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this RunLock")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SsalError(f"cannot create the folder: {error.strerror}", self.folder) from None
        while True:
            fd = self._open()
            if not _try_flock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise SsalError(f"in use by {_describe(holder)}; wait for it to finish or use another folder",
                                self.folder if self.path.name == LOCK_NAME else self.path.with_suffix(""))
            # The file may have been removed by the holder's release between our open and our flock: then we
            # hold a lock on a deleted file; start again on the new one.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        try:
            stale = _read_holder(fd)
            if stale:
                _log.info("%s: taking over the lock of %s, which is no longer running", self.folder,
                          _describe(stale))
            _write_holder(fd, self.command)
        except BaseException as error:
            os.close(fd)  # releases the flock: a failed acquire must not hold the folder
            if isinstance(error, OSError):
                raise write_error(error, self.path) from None
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still locked: nobody can lock this inode and believe it current
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise SsalError(f"cannot create the lock file: {error.strerror}", self.path) from None


@contextlib.contextmanager
def distributed_lock(folder: str | os.PathLike, command: str, dist=None, beside: bool = False) -> Iterator[None]:
    """``RunLock`` taken by rank 0 of a ``DistContext`` (every rank raises if rank 0 could not take it).

    ``beside``: lock ``folder`` as a file (``FILE.lock``, for ledgers) rather than as a folder."""
    lock = RunLock.beside(folder, command) if beside else RunLock(folder, command)
    if dist is None or not dist.is_distributed:
        with lock:
            yield
        return
    dist.run_on_main(lambda: lock.acquire() and None)  # an SsalError on rank 0 reaches every rank
    try:
        yield
    finally:
        lock.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 65536).decode("utf-8", "replace")
        value = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {"unreadable": True}
    return value if isinstance(value, dict) else {"unreadable": True}


def _write_holder(fd: int, command: str) -> None:
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(holder) + "\n").encode())
    os.fsync(fd)


def _describe(holder: dict) -> str:
    if not holder or holder.get("unreadable"):
        return "another process (its lock file is empty or unreadable)"
    return (f"{holder.get('command', 'ssal')} (PID {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')})")
