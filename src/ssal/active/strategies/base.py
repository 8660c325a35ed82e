"""What every strategy shares: the ``Ranking`` it returns, the ``Strategy`` record of the registry, and the
pieces several strategies use (binary entropy, seeded tie-breaking, expected costs, the length of greedy
selections).

A strategy is ``rank(outputs, view, budget, rng, options) -> Ranking``: model predictions (``PoolOutputs``),
the ledger's read-only view, the round budget and a ``numpy.random.Generator``. It returns *every* unlabelled
frame, best first, with the evidence behind each place. The oracle buys along it, so a ranking must be complete
and long enough to fill the real budget, whose costs are only revealed when frames are bought.

Greedy strategies (coreset, badge, crb's stages, cal's gated cascade) cost more per frame chosen, so they choose
until the chosen frames' *expected* cost reaches ``selection_multiple`` x the budget (or they hold that many
frames, which bounds the work when predictions are empty), and then append the rest in order of their
fallback score. Expected cost: 1 per frame in frames; in boxes, the number of predicted boxes scoring at least
``cost_score_threshold`` (the only estimate available before the oracle reveals the labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ssal.active.budget import Budget
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import segment_count
from ssal.errors import SsalError

EPSILON = 1e-6  # scores are clamped to [EPSILON, 1 - EPSILON] before entropies (no NaN at s = 1)


@dataclass
class Ranking:
    """The unlabelled pool, best first, with per-frame evidence (row i describes ``frame_ids[i]``).

    Attributes:
        strategy: the strategy's name.
        frame_ids: (N,) every unlabelled frame once.
        uncertainty: (N,) the strategy's value of the frame (NaN where it has none).
        similarity: (N,) similarity (or feature distance, see ``similarity_kind``) to the nearest frame chosen
            before it (NaN where not computed).
        predicted_boxes: (N, C) predicted boxes per class scoring at least the cost threshold.
        expected_cost: (N,) expected cost in the budget's unit.
        reasons: (N,) why the frame is where it is.
    """

    strategy: str
    classes: tuple[str, ...]
    frame_ids: list[str]
    uncertainty: np.ndarray
    similarity: np.ndarray
    predicted_boxes: np.ndarray
    expected_cost: np.ndarray
    reasons: list[str]
    similarity_kind: str = "cosine similarity"
    seed: int | None = None
    details: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_ids)

    def rows(self) -> list[dict]:
        """One dict per frame, best first (for CSV and JSON)."""
        out = []
        for i, frame_id in enumerate(self.frame_ids):
            out.append({
                "frame": frame_id, "rank": i + 1, "uncertainty": _plain(self.uncertainty[i]),
                "similarity": _plain(self.similarity[i]),
                **{f"pred_{c}": int(self.predicted_boxes[i, k]) for k, c in enumerate(self.classes)},
                "expected_cost": _plain(self.expected_cost[i]), "reason": self.reasons[i],
            })
        return out


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: ``rank`` plus what it needs from pool inference.

    Attributes:
        name: registry name.
        rank: ``rank(outputs, view, budget, rng, options) -> Ranking``.
        options: the strategy's options (a dataclass from ``ssal.active.config``) or None.
        needs: optional ``PoolOutputs`` arrays it reads (``mc_boxes``, ``grad_embeddings``, ``num_points``).
        labelled_outputs: "required" / "optional" / "unused": does it read predictions on labelled frames?
        partner: whether it can use a second model's outputs (``partner=`` keyword of ``rank``).
    """

    name: str
    rank_fn: Callable
    description: str
    options: object = None
    needs: tuple[str, ...] = ()
    labelled_outputs: str = "unused"
    partner: bool = False

    def rank(self, outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
             partner: PoolOutputs | None = None) -> Ranking:
        """Rank ``view.unlabelled`` from ``outputs`` (and ``partner``'s, for strategies that cascade models)."""
        outputs.require(self.needs, f"strategy {self.name!r}")
        if partner is not None and not self.partner:
            raise SsalError(f"strategy {self.name!r} does not use a partner model", "--partner-ckpt")
        if tuple(outputs.classes) != tuple(view.classes):
            raise SsalError(f"the pool outputs are for classes {outputs.classes}, the ledger for "
                            f"{list(view.classes)}", outputs.source)
        if not view.unlabelled:
            raise SsalError("the unlabelled pool is empty: there is nothing left to rank", "ledger")
        kwargs = {"partner": partner} if self.partner else {}
        ranking = self.rank_fn(outputs, view, budget, rng, self.options, **kwargs)
        check_ranking(ranking, view)
        return ranking


def check_ranking(ranking: Ranking, view: LedgerView) -> None:
    """A ranking must hold every unlabelled frame exactly once, and evidence rows for each."""
    n = len(view.unlabelled)
    if len(ranking.frame_ids) != n or set(ranking.frame_ids) != set(view.unlabelled):
        raise AssertionError(f"strategy {ranking.strategy} did not return a permutation of the unlabelled pool")
    for name in ("uncertainty", "similarity", "expected_cost"):
        if len(getattr(ranking, name)) != n:
            raise AssertionError(f"{ranking.strategy}: {name} has {len(getattr(ranking, name))} rows for {n} frames")
    if ranking.predicted_boxes.shape != (n, len(ranking.classes)) or len(ranking.reasons) != n:
        raise AssertionError(f"{ranking.strategy}: evidence rows do not match the {n} frames")


# --------------------------------------------------------------------------------------------- shared pieces
def binary_entropy(scores: np.ndarray) -> np.ndarray:
    """Entropy in bits of Bernoulli(score), scores clamped to [EPSILON, 1 - EPSILON]."""
    s = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1 - EPSILON)
    return -(s * np.log2(s) + (1 - s) * np.log2(1 - s))


def order_by(values: np.ndarray, rng: np.random.Generator, descending: bool = True) -> np.ndarray:
    """Indices sorting ``values``, ties broken in a seeded random order (never by position in the pool)."""
    shuffled = rng.permutation(len(values))
    keys = -np.asarray(values, dtype=np.float64)[shuffled] if descending else np.asarray(values)[shuffled]
    return shuffled[np.argsort(keys, kind="stable")]


def predicted_counts(outputs: PoolOutputs, threshold: float) -> np.ndarray:
    """(N, C) predicted boxes per frame and class scoring at least ``threshold``."""
    return segment_count(np.asarray(outputs.scores) >= threshold, outputs.offsets, np.asarray(outputs.labels),
                         outputs.num_classes)


def expected_costs(counts: np.ndarray, budget: Budget) -> np.ndarray:
    """(N,) expected cost from ``predicted_counts`` rows."""
    return budget.costs(np.asarray(counts).sum(axis=1))


def unlabelled_positions(outputs: PoolOutputs, view: LedgerView) -> np.ndarray:
    """(N,) positions in ``outputs`` of the unlabelled frames, in ``view.unlabelled`` order."""
    return outputs.positions(view.unlabelled, "unlabelled frames")


def labelled_positions(outputs: PoolOutputs, view: LedgerView, required: bool, strategy: str) -> np.ndarray:
    """Positions of the labelled frames in ``outputs``; those missing are an error when ``required``, else
    left out."""
    if required:
        if not view.labelled:
            return np.zeros(0, dtype=np.int64)
        try:
            return outputs.positions(view.labelled, "labelled frames")
        except SsalError as error:
            raise SsalError(f"strategy {strategy!r} compares with the labelled set, so pool inference must cover the "
                            f"labelled frames too: {error.message}", error.where) from None
    known = set(outputs.frame_ids)
    return outputs.positions([f for f in view.labelled if f in known])


def make_ranking(strategy: str, outputs: PoolOutputs, frame_positions: np.ndarray, order: np.ndarray, *,
                 uncertainty: np.ndarray, similarity: np.ndarray | None, counts: np.ndarray,
                 costs: np.ndarray, reasons: Sequence[str], similarity_kind: str = "cosine similarity",
                 details: dict | None = None) -> Ranking:
    """A ``Ranking`` from per-frame arrays indexed like ``frame_positions`` (the unlabelled frames) and an
    ``order`` over them; ``reasons`` are already in ranked order."""
    n = len(order)
    sim = np.full(n, np.nan) if similarity is None else np.asarray(similarity, dtype=np.float64)[order]
    return Ranking(strategy=strategy, classes=tuple(outputs.classes),
                   frame_ids=[outputs.frame_ids[frame_positions[i]] for i in order],
                   uncertainty=np.asarray(uncertainty, dtype=np.float64)[order], similarity=sim,
                   predicted_boxes=np.asarray(counts)[order], expected_cost=np.asarray(costs)[order],
                   reasons=list(reasons), similarity_kind=similarity_kind, details=dict(details or {}))


def _plain(value):
    value = float(value)
    return None if np.isnan(value) else round(value, 6)
