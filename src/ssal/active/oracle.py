"""Simulated annotation: the oracle holds the labels of the pool and reveals a frame's boxes when it is bought.

``oracle.buy(ranking, ledger, budget)`` walks a strategy's ranking and buys frames until the round budget is
spent, recording the round in the ledger. The rules, shared with the initial set and with human rounds:

* a frame's cost is its number of boxes of the configured classes (unit ``boxes``) or 1 (unit ``frames``);
  in boxes an empty frame costs 0 and is bought where the ranking puts it (a person still looks at it, which is
  what the frames count of the ledger records);
* buying stops once the spend reaches the budget; the first frame that would take it over the budget is not
  bought (``overshoot="stop_before"``, the default) or is bought as the last one (``"allow_last"``). Frames
  further down are not considered: skipping the expensive frame to buy cheaper ones would bias every strategy
  towards sparse frames. Deciding that needs the cost of that one frame, which the simulation peeks at; it is
  not recorded;
* a budget larger than what the remaining frames hold buys all of them, with a warning.

The oracle is the only object that reads labels of unlabelled frames, and strategies have no path to it: they
receive ``PoolOutputs`` and a ``LedgerView`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Mapping, Sequence

import numpy as np

from ssal.active.budget import Budget
from ssal.active.ledger import Ledger, Round
from ssal.errors import SsalError, warn

Overshoot = Literal["stop_before", "allow_last"]
OVERSHOOT = ("stop_before", "allow_last")


@dataclass
class Walk:
    """The outcome of walking a ranking under a budget: frames taken (in order), their costs, and whether the
    ranking ran out before the budget was spent."""

    frames: list[str]
    costs: list[float]
    exhausted: bool

    @property
    def spent(self) -> float:
        return float(sum(self.costs))


def walk_ranking(frame_ids: Iterable[str], cost_of: Callable[[str], float], budget: Budget,
                 overshoot: Overshoot = "stop_before") -> Walk:
    """Take frames of ``frame_ids`` in order while the spend stays within ``budget`` (see the module doc)."""
    if overshoot not in OVERSHOOT:
        raise SsalError(f"overshoot must be one of {', '.join(OVERSHOOT)}, got {overshoot!r}", "overshoot")
    frames, costs, spent = [], [], 0.0
    for frame_id in frame_ids:
        if spent >= budget.amount:
            return Walk(frames, costs, exhausted=False)
        cost = cost_of(frame_id)
        if spent + cost > budget.amount:
            if overshoot == "allow_last":
                frames.append(frame_id)
                costs.append(cost)
            return Walk(frames, costs, exhausted=False)
        frames.append(frame_id)
        costs.append(cost)
        spent += cost
    return Walk(frames, costs, exhausted=spent < budget.amount)


def nothing_bought(walk: Walk, frame_ids: Sequence[str], budget: Budget, cost_of: Callable[[str], float]
                   ) -> str | None:
    """Why a walk bought nothing although frames were left (the first-ranked frame alone exceeds the budget),
    or None when it bought something (or there was nothing to buy)."""
    if walk.frames or not frame_ids:
        return None
    return (f"bought nothing: the first-ranked frame {frame_ids[0]} alone costs {cost_of(frame_ids[0]):g} "
            f"{budget.unit}, more than the round budget of {budget}; raise the budget or use overshoot: allow_last")


class Oracle:
    """Reveals the per-class box counts of a frame (``reveal``); ``buy`` spends a budget along a ranking."""

    classes: tuple[str, ...]

    def reveal(self, frame_id: str) -> tuple[int, ...]:
        raise NotImplementedError

    def buy(self, ranking, ledger: Ledger, budget: Budget, overshoot: Overshoot = "stop_before",
            seed: int | None = None) -> Round:
        """Buy along ``ranking`` (a ``Ranking`` or a list of frame ids) until ``budget`` is spent; the round is
        added to ``ledger`` and returned."""
        return ledger.add_round(self.purchase(ranking, ledger, budget, overshoot, seed))

    def purchase(self, ranking, ledger: Ledger, budget: Budget, overshoot: Overshoot = "stop_before",
                 seed: int | None = None, kind: Literal["initial", "query"] = "query",
                 strategy: str | None = None) -> Round:
        """What ``buy`` would record, without recording it (the next round of ``ledger``)."""
        if tuple(self.classes) != tuple(ledger.classes):
            raise SsalError(f"the oracle knows classes {list(self.classes)}, the ledger {list(ledger.classes)}",
                            ledger.path or "ledger")
        frame_ids = list(getattr(ranking, "frame_ids", ranking))
        unlabelled = set(ledger.unlabelled)
        stray = [f for f in frame_ids if f not in unlabelled]
        if stray:
            raise SsalError(f"the ranking holds {len(stray)} frames that are not in the unlabelled pool "
                            f"({', '.join(stray[:5])})", "ranking")
        revealed: dict[str, tuple[int, ...]] = {}

        def cost_of(frame_id: str) -> float:
            revealed[frame_id] = tuple(int(n) for n in self.reveal(frame_id))
            return budget.cost(sum(revealed[frame_id]))

        walk = walk_ranking(frame_ids, cost_of, budget, overshoot)
        notes = []
        if walk.exhausted:
            notes.append(f"the budget of {budget} is more than the {len(frame_ids)} remaining frames hold "
                         f"({walk.spent:g} {budget.unit}): bought all of them")
            warn(notes[-1], ledger.path or "ledger")
        nothing = nothing_bought(walk, frame_ids, budget, cost_of)
        if nothing:
            notes.append(nothing)
            warn(nothing, ledger.path or "ledger")
        scores = _scores_of(ranking, walk.frames)
        return Round(index=len(ledger.rounds), kind=kind,
                     strategy=strategy or getattr(ranking, "strategy", "given order"),
                     seed=seed if seed is not None else getattr(ranking, "seed", None), budget=budget,
                     overshoot=overshoot, frames=walk.frames, boxes=[list(revealed[f]) for f in walk.frames],
                     scores=scores, notes=notes)


class SimulatedOracle(Oracle):
    """An oracle over known labels: ``counts[frame_id]`` = boxes of each class of ``classes`` in that frame."""

    def __init__(self, classes: Sequence[str], counts: Mapping[str, Sequence[int]], where: str = "oracle"):
        self.classes = tuple(classes)
        self._counts = {f: tuple(int(n) for n in c) for f, c in counts.items()}
        self.where = where

    @classmethod
    def from_infos(cls, infos, classes: Sequence[str], where: str = "oracle") -> SimulatedOracle:
        """From ``FrameInfo`` records (``ssal.data.frame``); a frame without annotations is an error."""
        counts = {}
        for info in infos:
            if info.annos is None:
                raise SsalError(f"frame {info.frame_id} has no labels; a simulated oracle needs every pool frame's "
                                f"labels (use --no-oracle for human annotation)", where)
            counts[info.frame_id] = [int(np.sum(info.annos.name == c)) for c in classes]
        return cls(classes, counts, where)

    def reveal(self, frame_id: str) -> tuple[int, ...]:
        try:
            return self._counts[frame_id]
        except KeyError:
            raise SsalError(f"frame {frame_id} is not in the pool the oracle knows", self.where) from None

    def totals(self) -> dict[str, int]:
        """Boxes of each class in the whole pool: the ledger's denominator (a reporting statistic only)."""
        sums = np.sum(np.array(list(self._counts.values()), dtype=np.int64).reshape(-1, len(self.classes)), axis=0)
        return dict(zip(self.classes, (int(n) for n in sums)))

    @property
    def frame_ids(self) -> list[str]:
        return list(self._counts)


def _scores_of(ranking, frames: Sequence[str]) -> list[float | None]:
    values = getattr(ranking, "uncertainty", None)
    if values is None:
        return [None] * len(frames)
    position = {f: i for i, f in enumerate(ranking.frame_ids)}
    out = []
    for f in frames:
        v = float(values[position[f]])
        out.append(None if np.isnan(v) else v)
    return out
