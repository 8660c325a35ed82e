"""One query round: rank the unlabelled pool, then buy through the oracle (or ask people), and write the ranking.

The strategy's generator is seeded from ``(seed, round index)``, so every round of a run draws fresh numbers and
a round repeated from the same ledger state ranks identically.

Files: ``query_round_<K>.csv`` and ``query_round_<K>.json`` hold every unlabelled frame in rank order with the
evidence (uncertainty, similarity to the nearest frame chosen before it, predicted boxes per class, expected
cost, the reason for its place) and, once bought, its true cost.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from ssal.active.annotation import request_labels
from ssal.active.budget import Budget
from ssal.active.ledger import Ledger, Round
from ssal.active.oracle import Oracle, Overshoot
from ssal.active.outputs import PoolOutputs
from ssal.active.strategies.base import Ranking, Strategy
from ssal.atomic import atomic_write_json, atomic_write_text


def round_rng(seed: int, round_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(round_index)]))


def rank_pool(strategy: Strategy, outputs: PoolOutputs, ledger: Ledger, budget: Budget, seed: int,
              partner: PoolOutputs | None = None) -> Ranking:
    """The strategy's ranking of the ledger's unlabelled pool for its next round."""
    ranking = strategy.rank(outputs, ledger.view(), budget, round_rng(seed, len(ledger.rounds)), partner)
    ranking.seed = seed
    return ranking


def query_round(strategy: Strategy, outputs: PoolOutputs, ledger: Ledger, budget: Budget, seed: int,
                oracle: Oracle | None, out_dir: str | os.PathLike, overshoot: Overshoot = "stop_before",
                partner: PoolOutputs | None = None) -> tuple[Ranking, Round, list[Path]]:
    """Rank, then buy with ``oracle`` (or, when None, add a round waiting for people's labels), then write the
    ranking files. The caller saves the ledger."""
    ranking = rank_pool(strategy, outputs, ledger, budget, seed, partner)
    if oracle is not None:
        item = oracle.buy(ranking, ledger, budget, overshoot, seed)
    else:
        item = request_labels(ranking, ledger, budget, overshoot, seed)
    return ranking, item, write_ranking(ranking, item, budget, out_dir)


def write_ranking(ranking: Ranking, item: Round, budget: Budget, out_dir: str | os.PathLike) -> list[Path]:
    """``query_round_<K>.csv`` and ``.json`` in ``out_dir``."""
    out = Path(out_dir)
    stem = out / f"query_round_{item.index}"
    rows = _rows(ranking, item)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(stem.with_suffix(".csv"), buffer.getvalue())
    atomic_write_json(stem.with_suffix(".json"), {
        "round": item.index, "strategy": ranking.strategy, "seed": ranking.seed, "budget": budget.to_dict(),
        "status": item.status, "bought": len(item.frames), "similarity": ranking.similarity_kind,
        "details": ranking.details, "frames": rows})
    return [stem.with_suffix(".csv"), stem.with_suffix(".json")]


def _rows(ranking: Ranking, item: Round) -> list[dict]:
    bought = {f: i for i, f in enumerate(item.frames)}
    costs = item.frame_costs() if item.boxes is not None else None
    rows = []
    for row in ranking.rows():
        index = bought.get(row["frame"])
        row["bought"] = index is not None
        row["cost"] = costs[index] if costs is not None and index is not None else None
        reason = row.pop("reason")
        row["reason"] = reason
        rows.append(row)
    return rows
