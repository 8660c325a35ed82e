"""Running under ``torchrun``: process-group set-up from the environment, and the collectives the engine needs.

``init_distributed()`` reads what ``torchrun`` exports (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``), on one node or many, and returns a ``DistContext``. Without those variables it returns the
single-process context, whose collectives are no-ops, so library code calls them unconditionally.

Backends: NCCL when the ranks use CUDA (one GPU per local rank), gloo on CPU.

Conventions: rank 0 ("main") writes files (checkpoints, metrics, databases); the others wait on a barrier and then
read what it wrote. ``run_on_main`` packages that pattern and propagates an error on rank 0 to every rank instead
of leaving them hanging at the barrier.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ssal.errors import SsalError

__all__ = ["DistContext", "init_distributed", "distributed_session"]

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly single-process) job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes.
        local_rank: rank on this node (picks the GPU).
        device: the device this rank computes on.
        backend: ``"nccl"``/``"gloo"``, or ``None`` when there is no process group (single process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @classmethod
    def single(cls, device: torch.device | str | None = None) -> DistContext:
        """The context of a plain single-process run (CUDA if available unless ``device`` says otherwise)."""
        return cls(device=_pick_device(device, local_rank=0))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.backend is not None and self.world_size > 1

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if not self.is_distributed:
            return
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def broadcast_object(self, obj: T, src: int = 0) -> T:
        """``obj`` as given on rank ``src``, on every rank (pickled; keep it small)."""
        if not self.is_distributed:
            return obj
        box = [obj if self.rank == src else None]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_gather_object(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank. Move tensors to CPU first."""
        if not self.is_distributed:
            return [obj]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def gather_object(self, obj: Any, dst: int = 0) -> list[Any] | None:
        """``[obj of rank 0, ...]`` on rank ``dst``, ``None`` elsewhere (less memory than ``all_gather_object``)."""
        if not self.is_distributed:
            return [obj]
        gathered: list[Any] | None = [None] * self.world_size if self.rank == dst else None
        dist.gather_object(obj, gathered, dst=dst)
        return gathered

    def mean_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """Per key, the mean over the ranks that have that key (ranks may log different keys). Every rank gets it."""
        if not self.is_distributed:
            return dict(values)
        per_rank = self.all_gather_object(dict(values))
        keys = list(dict.fromkeys(key for rank_values in per_rank for key in rank_values))
        return {
            key: sum(v[key] for v in per_rank if key in v) / sum(1 for v in per_rank if key in v) for key in keys
        }

    def run_on_main(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on rank 0 only; every rank waits for it and receives its (picklable) return value.

        If ``fn`` raises on rank 0, rank 0 re-raises it and every other rank raises too (a ``SsalError`` keeps its
        message), so no rank is left waiting at a barrier that will never come.
        """
        if not self.is_distributed:
            return fn(*args, **kwargs)
        outcome: tuple[str, Any] | None = None
        error: BaseException | None = None
        if self.is_main:
            try:
                outcome = ("ok", fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - re-raised below, after telling the other ranks
                error = exc
                outcome = ("error", (isinstance(exc, SsalError), f"{type(exc).__name__}: {exc}", str(exc)))
        outcome = self.broadcast_object(outcome)
        if outcome[0] == "ok":
            return outcome[1]
        if error is not None:
            raise error
        is_user_error, described, text = outcome[1]
        if is_user_error:
            raise SsalError(text)
        raise RuntimeError(f"rank 0 failed in {getattr(fn, '__name__', fn)!s}: {described}")

    def sync_buffers(self, model: nn.Module, src: int = 0) -> None:
        """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank.

        DDP broadcasts buffers at the *start* of each forward, so after the last step of an epoch every rank
        holds its own last-batch statistics; syncing at epoch end makes checkpoints and sharded inference use
        one model everywhere (and changes nothing else: the next forward would have broadcast them anyway).
        """
        if not self.is_distributed:
            return
        for buffer in model.buffers():
            dist.broadcast(buffer, src=src)

    def wrap_model(self, model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel when distributed (gradients averaged over ranks)."""
        if not self.is_distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            model, device_ids=device_ids, find_unused_parameters=find_unused_parameters
        )

    def shutdown(self, wait: bool = True) -> None:
        """Tear the process group down (only if one exists) without leaving a collective in flight at exit.

        Why this is careful: gloo runs collectives on its own threads (``pt_gloo_runloop``). A rank returns from a
        collective as soon as the work is marked done, a moment before that thread drops its reference to the
        work; if the interpreter is already finalising when it does, and the work holds tensors created in Python
        (``all_gather_object``'s byte tensors, e.g. the metrics of the last epoch), freeing them needs the GIL and
        the process aborts (``terminate called without an active exception``) after a successful run. So every
        rank first meets the others at a barrier, whose tensors are C++'s own: the last collective before exit
        holds no Python object. Garbage that still holds the group is collected before it is destroyed.

        The threads themselves outlive ``destroy_process_group`` once a DistributedDataParallel wrapper has been
        built (its C++ reducer keeps the group); they are idle then. ``wait=False`` (after an error, when the
        other ranks may never arrive) skips the barrier.
        """
        if self.backend is None or not dist.is_initialized():
            return
        try:
            if wait:
                self.barrier()
        finally:
            gc.collect()
            dist.destroy_process_group()
            gc.collect()


def init_distributed(device: str | None = None, timeout_s: float = 1800.0) -> DistContext:
    """Join the job that ``torchrun`` started, or return a single-process context if there is none.

    Args:
        device: ``"cpu"`` or ``"cuda"`` to force the device type; ``None`` picks CUDA when available.
        timeout_s: how long collectives wait for a missing rank before failing.
    """
    env = os.environ
    if "WORLD_SIZE" not in env:
        return DistContext.single(device)
    world_size = _env_int("WORLD_SIZE", minimum=1)
    rank = _env_int("RANK", minimum=0) if world_size > 1 or "RANK" in env else 0
    local_rank = _env_int("LOCAL_RANK", minimum=0) if "LOCAL_RANK" in env else rank
    if rank >= world_size:
        raise SsalError(f"RANK={rank} but WORLD_SIZE={world_size}", "environment")
    chosen = _pick_device(device, local_rank)
    if world_size == 1:
        return DistContext(rank=0, world_size=1, local_rank=local_rank, device=chosen)
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in env:
                raise SsalError("not set; start distributed runs with torchrun", f"environment variable {name}")
        dist.init_process_group(
            backend,
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen, backend=backend)


@contextlib.contextmanager
def distributed_session(device: str | None = None, timeout_s: float = 1800.0) -> Iterator[DistContext]:
    """``init_distributed`` as a context manager that always shuts the process group down."""
    context = init_distributed(device, timeout_s)
    try:
        yield context
    except BaseException:
        context.shutdown(wait=False)
        raise
    context.shutdown()


def _pick_device(device: torch.device | str | None, local_rank: int) -> torch.device:
    if device is not None and torch.device(device).index is not None:
        return torch.device(device)
    kind = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind != "cuda":
        return torch.device(kind)
    if not torch.cuda.is_available():
        raise SsalError("CUDA was asked for but no GPU is visible", "device")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise SsalError(
            f"local rank {local_rank} needs a GPU of its own but only {count} are visible; "
            "use torchrun --nproc_per_node at most the number of GPUs",
            "environment variable LOCAL_RANK",
        )
    return torch.device("cuda", local_rank)


def _env_int(name: str, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        raise SsalError("not set; start distributed runs with torchrun", f"environment variable {name}")
    try:
        value = int(raw)
    except ValueError:
        raise SsalError(f"expected an integer, got {raw!r}", f"environment variable {name}") from None
    if value < minimum:
        raise SsalError(f"expected an integer >= {minimum}, got {value}", f"environment variable {name}")
    return value
