"""Time of ranking the pool per strategy (outputs given), for 4k, 40k and 160k frames, 2 CPU threads.

    python benchmarks/query.py [--sizes 4000,40000,160000] [--strategies random,entropy,...] [--budget 150]
                               [--greedy-budgets 150,1500,5000] [--folder /tmp/ssal_query_bench]

The pool outputs are simulated with realistic statistics (``ssal.active.simulated_outputs``: ~10 predicted boxes
per frame, 256-d float16 RoI features, 5 MC-dropout passes, 257-d gradient embeddings, point counts), written
once per size as a store on disk and opened memory-mapped, as a real query reads them. 1 % of the frames are
labelled. CAL runs with a partner model's outputs (the cascade) and without. Each cell is the median of
``--repeats`` runs of ``strategy.rank`` (fusion, scoring and selection included; pool inference excluded).

The second table shows how the greedy strategies grow with the budget (more frames to choose) at 40k frames.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ssal.active import Budget, Ledger, PoolOutputs, PoolOutputsWriter, get_strategy
from ssal.active.ledger import Round
from ssal.active.simulated_outputs import simulated_outputs

CHUNK = 4000
ALL = ("random", "entropy", "cal", "cal+partner", "mc_dropout", "coreset", "badge", "crb")
CLASSES = ("Car", "Pedestrian", "Cyclist")


def build_store(path: Path, frames: int, seed: int, full: bool) -> PoolOutputs:
    """A store of ``frames`` simulated frames (cached on disk); ``full`` adds MC passes, gradients, points."""
    if (path / "meta.json").exists():
        return PoolOutputs.open(path)
    fields = {"boxes": (7,), "scores": (), "labels": (), "cls_probs": (3,), "roi_features": (256,)}
    if full:
        fields |= {"mc_boxes": (5, 7), "grad_embeddings": (257,), "num_points": ()}
    with PoolOutputsWriter(path, CLASSES, fields) as writer:
        for start in range(0, frames, CHUNK):
            part = simulated_outputs(min(CHUNK, frames - start), np.random.default_rng([seed, start]),
                                     mc_passes=5 if full else 0, gradients=full, num_points=full,
                                     prefix=f"{start // CHUNK:03d}_")
            writer.append_block(part.frame_ids, part.counts(), dict(part.arrays))
    return PoolOutputs.open(path)


def labelled_ledger(outputs: PoolOutputs) -> Ledger:
    ledger = Ledger.create("kitti", "train", CLASSES, outputs.frame_ids)
    chosen = outputs.frame_ids[:: 100]
    ledger.add_round(Round(0, "initial", "random", 0, Budget(len(chosen), "frames"), "stop_before", chosen,
                           [[2, 1, 0]] * len(chosen)))
    return ledger


def time_rank(name: str, outputs, partner, ledger, budget: Budget, repeats: int) -> float:
    strategy = get_strategy(name.split("+")[0])
    view = ledger.view()
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        strategy.rank(outputs, view, budget, np.random.default_rng(r), partner=partner if "+" in name else None)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4000,40000,160000")
    parser.add_argument("--strategies", default=",".join(ALL))
    parser.add_argument("--budget", type=int, default=150, help="round budget in boxes (KITTI: 150)")
    parser.add_argument("--greedy-budgets", default="150,1500,5000")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--folder", default="/tmp/ssal_query_bench")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.strategies.split(",")
    folder = Path(args.folder)

    table: dict[str, dict[int, float]] = {n: {} for n in names}
    stores = {}
    for size in sizes:
        start = time.perf_counter()
        outputs = build_store(folder / f"pool_{size}", size, 0, full=True)
        partner = build_store(folder / f"partner_{size}", size, 1, full=False)
        stores[size] = (outputs, partner)
        ledger = labelled_ledger(outputs)
        print(f"{size} frames, {outputs.num_boxes} boxes (store ready in {time.perf_counter() - start:.1f} s)",
              flush=True)
        for name in names:
            table[name][size] = time_rank(name, outputs, partner, ledger, Budget(args.budget), args.repeats)
            print(f"  {name:12s} {table[name][size]:8.2f} s", flush=True)

    last, before = sizes[-1], sizes[-2] if len(sizes) > 1 else sizes[-1]
    print(f"\nRanking time (s), budget {args.budget} boxes, 2 threads; last column: time ratio of the two largest "
          f"pools (linear = {last / before:g})")
    header = "| strategy | " + " | ".join(f"{s // 1000}k frames" for s in sizes) + " | ratio |"
    print(header + "\n|" + "---|" * (len(sizes) + 2))
    for name in names:
        cells = " | ".join(f"{table[name][s]:.2f}" for s in sizes)
        ratio = table[name][last] / max(table[name][before], 1e-9)
        print(f"| {name} | {cells} | {ratio:.1f} |")

    middle = 40000 if 40000 in stores else sizes[len(sizes) // 2]
    outputs, partner = stores[middle]
    ledger = labelled_ledger(outputs)
    budgets = [int(b) for b in args.greedy_budgets.split(",")]
    greedy = [n for n in ("coreset", "badge", "crb", "cal+partner") if n in names]
    print(f"\nGreedy strategies vs budget (boxes) at {middle // 1000}k frames (s)")
    print("| strategy | " + " | ".join(f"{b} boxes" for b in budgets) + " |\n|" + "---|" * (len(budgets) + 1))
    for name in greedy:
        cells = " | ".join(f"{time_rank(name, outputs, partner, ledger, Budget(b), 1):.2f}" for b in budgets)
        print(f"| {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
