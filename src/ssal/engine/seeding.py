"""Seeds: one root seed, and every random stream derived from it by *what it is for* and *where it is used*.

The data contract: item ``i`` of epoch ``e`` draws all its random choices from
``numpy.random.SeedSequence([seed, e, i])`` (``item_rng``). Nothing depends on which worker loads the item, how many
workers there are, or whether the run was restarted, so a resumed run sees the very same data stream.

Streams for other purposes (the sampler's shuffle, a rank's dropout in an epoch, a DataLoader's worker seeds) are
separated from the data streams and from each other by a purpose name, so they never collide with an item stream.

What is and is not deterministic:

* CPU: bit-identical results for the same seed, code and thread count (``torch.set_num_threads``); a different
  thread count may change the summation order of reductions.
* CUDA with ``deterministic=True``: cuDNN picks deterministic kernels, cuBLAS gets a fixed workspace and PyTorch
  uses deterministic implementations where it has one (``index_add_``/``index_put_(accumulate=True)``/
  ``scatter_add_`` become deterministic, with a cost). Ops without a deterministic CUDA kernel only warn
  (``warn_only``) and may differ from run to run in the last bits. Results are not bit-identical across GPU
  models, driver/CUDA/PyTorch versions or world sizes. With ``deterministic=False`` cuDNN autotuning is allowed
  and runs differ slightly.
* Distributed: each rank's global generators are seeded from (seed, epoch, rank); the all-reduce order is fixed by
  the backend for a fixed topology.
"""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import torch

__all__ = [
    "item_seed_sequence",
    "item_rng",
    "purpose_seed_sequence",
    "seed_int",
    "torch_generator",
    "seed_everything",
    "seed_epoch",
    "seed_worker",
    "configure_determinism",
    "capture_rng_state",
    "restore_rng_state",
]


def item_seed_sequence(seed: int, epoch: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of dataset item ``index`` in ``epoch``: every random choice of that item derives from it."""
    return np.random.SeedSequence([seed, epoch, index])


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """A numpy Generator for dataset item ``index`` in ``epoch`` (the data contract)."""
    return np.random.default_rng(item_seed_sequence(seed, epoch, index))


def purpose_seed_sequence(purpose: str, seed: int, *keys: int) -> np.random.SeedSequence:
    """A seed sequence for ``purpose`` (e.g. ``"sampler"``) at ``keys`` (e.g. epoch, rank).

    The purpose goes into the spawn key, so these streams are disjoint from the item streams
    ``SeedSequence([seed, epoch, index])`` and from other purposes.
    """
    return np.random.SeedSequence([seed, *keys], spawn_key=(zlib.crc32(purpose.encode()),))


def seed_int(sequence: np.random.SeedSequence, bits: int = 63) -> int:
    """A non-negative integer of ``bits`` bits drawn from ``sequence`` (for APIs that want an int seed)."""
    word = int(sequence.generate_state(1, np.uint64)[0])
    return word & ((1 << bits) - 1)


def torch_generator(sequence: np.random.SeedSequence, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``sequence``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed_int(sequence))
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's legacy global generator and torch (CPU and every CUDA device).

    Call it once before building the model so that the initial weights follow the seed.
    """
    _seed_globals(np.random.SeedSequence([seed]))


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Reseed the global generators for one rank's epoch (dropout and any other global-RNG use in the model).

    Seeding per epoch, not once per run, is what makes a run resumed at an epoch boundary continue bit-exactly
    without replaying the generators' history.
    """
    _seed_globals(purpose_seed_sequence("epoch", seed, epoch, rank))


def seed_worker(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's worker_init_fn signature
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` in a worker from torch's per-worker seed.

    torch already seeds each worker from the loader's generator (which the engine derives from seed and epoch);
    this extends that seed to numpy's and Python's global generators, for datasets that (against the contract)
    use them: their draws then change every epoch instead of repeating.
    """
    worker_seed = torch.initial_seed()
    random.seed(worker_seed)
    np.random.seed(worker_seed % 2**32)


def configure_determinism(deterministic: bool, device: torch.device | str) -> None:
    """Make CUDA kernel choice deterministic (or not); see the module docstring. A no-op on CPU.

    CPU kernels are deterministic already, and PyTorch's deterministic mode would only add costs there (it fills
    every ``torch.empty`` with NaN and turns a few CPU ops into errors), so it is left off on CPU.
    """
    if torch.device(device).type != "cuda":
        return
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; it reads this when it is first initialised.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def _seed_globals(sequence: np.random.SeedSequence) -> None:
    words = sequence.generate_state(3, np.uint32)
    random.seed(int(words[0]))
    np.random.seed(int(words[1]))
    torch.manual_seed(seed_int(sequence))  # also seeds every CUDA device


def capture_rng_state() -> dict:
    """The state of Python's, numpy's and torch's global generators (CPU and CUDA), as checkpoint-safe values."""
    numpy_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back what ``capture_rng_state`` returned (CUDA states only where this process sees the same GPUs)."""
    random.setstate(_as_tuple(state["python"]))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["key"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda")
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def _as_tuple(value):
    # random.setstate wants tuples all the way down; a checkpoint round trip may hand back lists.
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(item) for item in value)
    return value
