"""Running the generator's jobs (chunks of frames, whole sequences) in this process or in a pool, in order, and
checking the counts a user asks for. Each job is seeded by its own indices, so the bytes written do not depend
on the number of processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ssal.errors import SsalError


def run_jobs(work: Callable, jobs: Sequence, workers: int, make_state: Callable[[], Any]) -> Iterator:
    """``work(job, state)`` for every job, in order: here with one ``make_state()`` reused (the world model is
    costly to build) when ``workers`` is 1, else ``work(job)`` in ``workers`` spawned processes."""
    if workers == 1 or len(jobs) <= 1:
        state = make_state()
        for job in jobs:
            yield work(job, state)
        return
    with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap(work, jobs)


def check_count(value, where: str, minimum: int) -> None:
    """A frame/sequence/worker count: an integer of at least ``minimum``, else an error naming the option."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        expected = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise SsalError(f"must be {expected}, got {value!r}", where)


def check_seed(seed) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SsalError(f"must be a non-negative integer, got {seed!r}", "--seed")


def progress_bar(total: int, enabled: bool):
    """A tqdm bar over frames (silent when not a terminal), or None."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="synth", unit="frame", disable=None)
