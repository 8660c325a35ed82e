"""``cal``: collaborative active learning (S-SSAL, SPEC 4): uncertainty, then diversity, then class balance, on
predictions of the CPSP model checked by a normally trained partner (``cascade.fuse``).

1. **Uncertainty.** Each fused box has the binary entropy h of its score (clamped away from 0 and 1) times its
   class's ``entropy_weights``; a frame's U is the mean h of its boxes, 0 without boxes.
2. **Greedy cascade** over frames in descending U (ties in seeded random order). A frame is accepted when
   * *diversity*: its similarity to every frame accepted so far is at most delta (0.9); the similarity of f to g
     is the mean over f's boxes of the best cosine similarity to g's boxes (RoI features of the own model; a
     frame without own boxes has similarity 0);
   * *class balance*: it holds a reliable box scoring above ``object_threshold`` (0.3) of a class whose quota
     Q_c = w_c * B / C + 1 is not full. Quotas count exactly those boxes (reliable, above the threshold) of the
     accepted frames, so qualification and counting agree. B is the budget in boxes (in frames: the budget times
     the mean expected cost of a frame). When every quota is full the gate only asks for such a box of any class.
   When a quota fills, that class's box entropies are divided by ``downweight`` (5) once and the pass restarts on
   the re-ranked frames.
3. **Termination.** A pass that ends without filling a quota has rejected every remaining frame at its gates,
   and would again (similarities only grow as frames are accepted, quotas only fill), so delta grows by
   ``relax_similarity_step`` and the threshold shrinks by ``relax_score_step``. After ``max_relax_steps``
   relaxations, or once the accepted frames' expected cost reaches ``selection_multiple`` x the budget (or they
   number that many), the remaining frames follow in plain U order (with the down-weights). At most
   C + max_relax_steps + 1 passes run, and every unlabelled frame is ranked.

Why a multiple of the budget: quotas and the stopping point can only use *predicted* boxes; the true cost is
revealed when the oracle buys. The accepted prefix is long enough for the oracle to fill the real budget when
the predictions undercount, and the rest of the ranking still follows U when even that is not enough.

Unlike the original, CAL reads no label of an unlabelled frame: it does not skip frames without ground truth
and does not reject frames holding DontCare regions.
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig, CalConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import segment_count, segment_mean
from ssal.active.strategies.base import (Ranking, binary_entropy, expected_costs, make_ranking, order_by,
                                         unlabelled_positions)
from ssal.active.strategies.cascade import FusedPredictions, fuse, own_predictions
from ssal.errors import SsalError

NOT_VISITED, TOO_SIMILAR, NOT_QUALIFIED = 0, 1, 2


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig, partner: PoolOutputs | None = None) -> Ranking:
    cfg = options.cal
    positions = unlabelled_positions(outputs, view)
    fused = _fused(outputs, positions, partner, cfg)
    c = outputs.num_classes
    counts = segment_count(fused.scores >= options.cost_score_threshold, fused.offsets, fused.labels, c)
    costs = expected_costs(counts, budget)
    box_budget = budget.amount if budget.unit == "boxes" else budget.amount * max(1.0, counts.sum(axis=1).mean())
    quotas = class_weights(cfg.class_weights, outputs.classes, "class_weights") * box_budget / c + 1
    cascade = _Cascade(fused, _Features(outputs, positions), costs, quotas, cfg, rng, outputs.classes)
    target = options.selection_multiple * budget.amount
    cascade.run(target, int(np.ceil(target)))
    order, reasons = cascade.order(options.selection_multiple)
    return make_ranking("cal", outputs, positions, order, uncertainty=cascade.value_at, similarity=cascade.sim_at,
                        counts=counts, costs=costs, reasons=reasons,
                        details={"quotas": dict(zip(outputs.classes, quotas.tolist())),
                                 "quota_used": dict(zip(outputs.classes, cascade.used.tolist())),
                                 "accepted": len(cascade.chosen), "relax_level": cascade.level,
                                 "partner": partner is not None})


def class_weights(values: list[float] | None, classes, key: str) -> np.ndarray:
    """Per-class weights of the config (None: all 1), checked against the class list."""
    if values is None:
        return np.ones(len(classes))
    if len(values) != len(classes):
        raise SsalError(f"{len(values)} weights for {len(classes)} classes ({', '.join(classes)})",
                        f"active.cal.{key}")
    return np.asarray(values, dtype=np.float64)


def _fused(outputs: PoolOutputs, positions: np.ndarray, partner: PoolOutputs | None,
           cfg: CalConfig) -> FusedPredictions:
    if partner is None:
        return own_predictions(outputs, positions)
    if list(partner.classes) != list(outputs.classes):
        raise SsalError(f"the partner's outputs are for classes {partner.classes}, the model's for "
                        f"{outputs.classes}", partner.source)
    frame_ids = [outputs.frame_ids[i] for i in positions]
    return fuse(outputs, positions, partner, partner.positions(frame_ids, "unlabelled frames"), cfg)


class _Features:
    """Unit-length own RoI features of each candidate frame, read from the store on demand."""

    def __init__(self, outputs: PoolOutputs, positions: np.ndarray):
        self.outputs, self.positions = outputs, positions

    def __call__(self, i: int) -> np.ndarray:
        p = self.positions[i]
        rows = np.asarray(self.outputs.roi_features[self.outputs.offsets[p]:self.outputs.offsets[p + 1]],
                          dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.maximum(norms, 1e-12)


class _Cascade:
    """State of the greedy cascade over N candidate frames (indices 0..N-1)."""

    def __init__(self, fused: FusedPredictions, features: _Features, costs: np.ndarray, quotas: np.ndarray,
                 cfg: CalConfig, rng: np.random.Generator, classes):
        n = len(fused.offsets) - 1
        self.fused, self.features, self.costs, self.quotas = fused, features, costs, quotas
        self.cfg, self.rng, self.classes = cfg, rng, list(classes)
        weights = class_weights(cfg.entropy_weights, classes, "entropy_weights")
        self.entropy = binary_entropy(fused.scores) * (weights[fused.labels - 1] if len(fused.labels) else 1.0)
        self.value = segment_mean(self.entropy, fused.offsets)
        self.boxes = np.diff(fused.offsets)
        self.remaining = np.ones(n, dtype=bool)
        self.used = np.zeros(len(classes))
        self.full = np.zeros(len(classes), dtype=bool)
        self.chosen: list[int] = []
        self.spent = 0.0
        self.level = 0
        self.stopped_by_target = False
        # diversity: unit features of accepted frames with boxes, and per candidate the best similarity so far
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.matrix_starts: list[int] = []
        self.max_sim = np.zeros(n)
        self.covered = np.zeros(n, dtype=np.int64)
        # evidence
        self.value_at = self.value.copy()
        self.sim_at = np.full(n, np.nan)
        self.last_reject = np.full(n, NOT_VISITED)
        self.reasons: dict[int, str] = {}

    # --------------------------------------------------------------------------------------------- passes
    def run(self, target: float, limit: int) -> None:
        self.target, self.limit = target, limit
        while not self._done():
            delta = self.cfg.diversity_threshold + self.level * self.cfg.relax_similarity_step
            threshold = max(0.0, self.cfg.object_threshold - self.level * self.cfg.relax_score_step)
            if self._pass(delta, threshold):
                continue  # a quota filled: re-ranked, same gates
            if self._done():
                break
            self.level += 1
            if self.level > self.cfg.max_relax_steps:
                break
        self.stopped_by_target = self.spent >= self.target or len(self.chosen) >= self.limit

    def _pass(self, delta: float, threshold: float) -> bool:
        """One walk down the remaining frames; True when it stopped because a quota filled."""
        confident = segment_count(self.fused.reliable & (self.fused.scores > threshold), self.fused.offsets,
                                  self.fused.labels, len(self.classes))
        open_classes = ~self.full if not self.full.all() else np.ones(len(self.classes), dtype=bool)
        qualifies = self.remaining & (confident[:, open_classes].sum(axis=1) > 0)
        self.last_reject[self.remaining & ~qualifies] = NOT_QUALIFIED
        candidates = np.flatnonzero(qualifies)
        candidates = candidates[order_by(self.value[candidates], self.rng)]
        known = (self.covered[candidates] == len(self.matrix_starts)) & (self.max_sim[candidates] > delta)
        self.last_reject[candidates[known]] = TOO_SIMILAR
        for f in candidates[~known]:
            if self._done():
                return False
            if self._similarity(f) > delta:
                self.last_reject[f] = TOO_SIMILAR
                continue
            self._accept(f, confident[f], delta, threshold)
            newly_full = (self.used >= self.quotas) & ~self.full
            if newly_full.any():
                self.full |= newly_full
                self._downweight(newly_full)
                return True
        return False

    def _done(self) -> bool:
        return self.spent >= self.target or len(self.chosen) >= self.limit or not self.remaining.any()

    def _accept(self, f: int, confident: np.ndarray, delta: float, threshold: float) -> None:
        self.remaining[f] = False
        self.chosen.append(f)
        self.spent += self.costs[f]
        before = self.used.copy()
        self.used += confident
        self.value_at[f] = self.value[f]
        self.sim_at[f] = self.max_sim[f] if self.chosen[:-1] else np.nan
        via = [f"{c} {int(n)} ({before[k]:.0f}/{self.quotas[k]:.0f})" for k, (c, n) in
               enumerate(zip(self.classes, confident)) if n > 0]
        self.reasons[f] = (f"accepted: U {self.value[f]:.3f}, max similarity {self.max_sim[f]:.2f} <= delta "
                           f"{delta:.2f}, reliable boxes > {threshold:.2f}: {', '.join(via)}"
                           + (f" (relaxation level {self.level})" if self.level else ""))
        features = self.features(f)
        if len(features):
            self.matrix_starts.append(len(self.matrix))
            self.matrix = features if not len(self.matrix) else np.concatenate((self.matrix, features))

    def _downweight(self, classes: np.ndarray) -> None:
        hit = classes[self.fused.labels - 1] if len(self.fused.labels) else np.zeros(0, dtype=bool)
        self.entropy = np.where(hit, self.entropy / self.cfg.downweight, self.entropy)
        self.value = segment_mean(self.entropy, self.fused.offsets)

    # ----------------------------------------------------------------------------------------- diversity
    def _similarity(self, f: int) -> float:
        """Best similarity of frame f to the accepted frames, updated with those accepted since last asked."""
        done = int(self.covered[f])
        total = len(self.matrix_starts)
        if done < total:
            own = self.features(f)
            if len(own):
                start = self.matrix_starts[done]
                block = own @ self.matrix[start:].T  # (k, rows of the new accepted frames)
                starts = np.asarray(self.matrix_starts[done:]) - start
                best = np.maximum.reduceat(block, starts, axis=1).mean(axis=0)
                self.max_sim[f] = max(self.max_sim[f], float(best.max()))
            self.covered[f] = total
        return float(self.max_sim[f])

    # ------------------------------------------------------------------------------------------- ranking
    def order(self, multiple: float) -> tuple[np.ndarray, list[str]]:
        rest = np.flatnonzero(self.remaining)
        rest = rest[order_by(self.value[rest], self.rng)]
        self.value_at[rest] = self.value[rest]
        complete = self.covered[rest] == len(self.matrix_starts)
        self.sim_at[rest] = np.where(complete & (len(self.matrix_starts) > 0), self.max_sim[rest], np.nan)
        reasons = [self.reasons[f] for f in self.chosen] + [self._tail_reason(f, multiple) for f in rest]
        return np.concatenate((np.asarray(self.chosen, dtype=np.int64), rest)), reasons

    def _tail_reason(self, f: int, multiple: float) -> str:
        if self.boxes[f] == 0:
            return "no predicted box (U 0)"
        if self.stopped_by_target:
            return f"after the cascade (accepted frames reached {multiple:g} x the budget): U {self.value[f]:.3f}"
        if self.last_reject[f] == TOO_SIMILAR:
            return f"too similar to an accepted frame at every relaxation ({self.max_sim[f]:.2f}): U order"
        if self.last_reject[f] == NOT_QUALIFIED:
            return "no reliable confident box of a class with an open quota: U order"
        return f"U order (U {self.value[f]:.3f})"
