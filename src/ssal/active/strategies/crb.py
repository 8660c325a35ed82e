"""``crb`` (Luo et al., ICLR 2023): three criteria in a cascade, each narrowing the previous one's candidates.

With N_r the round budget in frames (in boxes: the budget over the mean expected cost of an unlabelled frame):

1. **Concise labels (CLS)**: keep the K1 = k1 x N_r frames whose predicted labels are most diverse, by the
   entropy of the frame's predicted class histogram (ties: higher mean box entropy first, then seeded random).
2. **Representative prototypes (RPS)**: among those, K2 = k2 x N_r prototypes by k-means++ seeding over frame
   embeddings (the mean, L2-normalised RoI feature, or with ``embedding: grad_embeddings`` the mean gradient
   embedding as in CRB's code).
3. **Geometric point-density balance (GPDB)**: greedily take the prototype that brings the point densities
   (points per m^3 of each predicted box) of the chosen set, class by class, closest to a uniform distribution
   over the pool's density range (the alpha-quantile range), measured by KL(uniform || KDE) on a grid with a
   Gaussian kernel of the configured bandwidth, squashed by 2/pi arctan(pi/2 KL) into [0, 1) and averaged over
   classes (a class the frame does not hold counts as the worst, 1). The labelled frames' predicted densities
   seed the chosen set when pool inference covered them.

GPDB runs for ``selection_multiple`` x N_r steps (at most K2); the ranking continues with the remaining
prototypes in seeding order, the rest of the K1 frames, then the rest of the pool, both in CLS order.
The KDE over the chosen set is kept as a running sum on the grid, so one GPDB step costs O(K2 x C x grid).

Two switches reproduce CRB's code where it differs from the description above (``active.crb``):
``absent_class_smoothing`` counts every class a frame does not predict as one box in stage 1's histogram (so a
1-box frame scores log C instead of 0, and frames with few classes rise); ``per_class_grid`` gives stage 3 one
grid per class spanning that class's densities with a margin of 10 bandwidths (CRB: -50 .. max + 50 at bandwidth
5) instead of one grid over all classes, so a rare class with low densities is not resolved by a handful of
grid points.
"""

from __future__ import annotations

import numpy as np

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import LedgerView
from ssal.active.outputs import PoolOutputs
from ssal.active.segments import segment_count, segment_mean
from ssal.active.strategies.badge import kmeans_pp
from ssal.active.strategies.base import (Ranking, binary_entropy, expected_costs, labelled_positions,
                                         make_ranking, predicted_counts, unlabelled_positions)
from ssal.active.strategies.coreset import frame_features, frame_means

__all__ = ["rank", "label_entropy", "box_densities", "GRID"]

GRID = 400
CRB_MARGIN = 10.0  # per-class grids reach this many bandwidths beyond the class's densities (CRB: 50 at 5)


def label_entropy(outputs: PoolOutputs, absent_class_smoothing: bool = False) -> np.ndarray:
    """(N,) entropy (nats) of each frame's predicted class histogram; 0 without boxes.

    ``absent_class_smoothing``: a class the frame does not predict counts as one box (CRB's code), so a frame
    with one box scores log C and one with many boxes of one class close to 0."""
    counts = segment_count(np.ones(outputs.num_boxes, dtype=bool), outputs.offsets, np.asarray(outputs.labels),
                           outputs.num_classes).astype(np.float64)
    if absent_class_smoothing:
        has_boxes = counts.sum(axis=1, keepdims=True) > 0
        counts = np.where(has_boxes & (counts == 0), 1.0, counts)
    totals = counts.sum(axis=1, keepdims=True)
    p = counts / np.maximum(totals, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def box_densities(outputs: PoolOutputs) -> np.ndarray:
    """(K,) LiDAR points per m^3 of every predicted box."""
    boxes = np.asarray(outputs.boxes, dtype=np.float64)
    volume = np.maximum(boxes[:, 3] * boxes[:, 4] * boxes[:, 5], 1e-6)
    return np.asarray(outputs.num_points, dtype=np.float64) / volume


def rank(outputs: PoolOutputs, view: LedgerView, budget: Budget, rng: np.random.Generator,
         options: ActiveConfig) -> Ranking:
    crb = options.crb
    positions = unlabelled_positions(outputs, view)
    n = len(positions)
    counts = predicted_counts(outputs, options.cost_score_threshold)[positions]
    costs = expected_costs(counts, budget)
    frames_budget = budget.amount if budget.unit == "frames" else budget.amount / max(costs.mean(), 1.0)
    k1 = int(min(n, max(1, np.ceil(crb.k1 * frames_budget))))
    k2 = int(min(k1, max(1, np.ceil(crb.k2 * frames_budget))))
    steps = int(min(k2, max(1, np.ceil(options.selection_multiple * frames_budget))))

    # stage 1: CLS
    entropy = label_entropy(outputs, crb.absent_class_smoothing)[positions]
    box_entropy = segment_mean(binary_entropy(outputs.scores), outputs.offsets)[positions]
    cls_order = np.lexsort((rng.permutation(n), -box_entropy, -entropy))
    candidates = cls_order[:k1]

    # stage 2: RPS
    if crb.embedding == "grad_embeddings":
        outputs.require(["grad_embeddings"], "crb with embedding: grad_embeddings")
        embed = frame_means(outputs, positions[candidates], "grad_embeddings")
    else:
        embed = frame_features(outputs, positions[candidates])
    seeds, seed_distance, _ = kmeans_pp(embed, np.ones(k1), k2, k2, rng)
    prototypes = candidates[seeds]

    # stage 3: GPDB
    densities = box_densities(outputs)
    labels = np.asarray(outputs.labels, dtype=np.int64)
    balance = _DensityBalance(outputs, densities, labels, positions, crb.bandwidth, crb.alpha, crb.per_class_grid)
    seen = labelled_positions(outputs, view, required=False, strategy="crb")
    balance.add_frames(seen)
    picked, scores = balance.greedy(positions[prototypes], steps)
    gpdb = prototypes[picked]

    placed = np.zeros(n, dtype=bool)
    order, reasons = [], []
    similarity = np.full(n, np.nan)
    similarity[prototypes] = seed_distance
    for i, score in zip(gpdb, scores):
        order.append(i)
        reasons.append(f"GPDB: density balance {score:.3f} (1 = uniform per class); prototype of the "
                       f"{k1} most label-diverse frames")
    placed[gpdb] = True
    for i in prototypes:
        if not placed[i]:
            order.append(i)
            reasons.append(f"RPS prototype after the GPDB steps (label entropy {entropy[i]:.3f})")
            placed[i] = True
    in_top = np.zeros(n, dtype=bool)
    in_top[candidates] = True
    for i in cls_order:
        if not placed[i]:
            order.append(i)
            where = "in" if in_top[i] else "below"
            reasons.append(f"label entropy {entropy[i]:.3f} ({where} the top K1 = {k1}, not a prototype)")
    return make_ranking("crb", outputs, positions, np.asarray(order, dtype=np.int64), uncertainty=entropy,
                        similarity=similarity, counts=counts, costs=costs, reasons=reasons,
                        similarity_kind="embedding distance", details={"k1": k1, "k2": k2, "gpdb_steps": steps})


class _DensityBalance:
    """Per-class KDE of the chosen boxes' densities on a grid (one shared grid, or one per class), and the KL to
    a uniform target. ``self.grid`` is (C, GRID): row k is the grid class k's KDE and target live on."""

    def __init__(self, outputs: PoolOutputs, densities: np.ndarray, labels: np.ndarray, pool: np.ndarray,
                 bandwidth: float, alpha: float, per_class_grid: bool = False):
        self.outputs, self.densities, self.labels = outputs, densities, labels
        self.bandwidth = bandwidth
        c = outputs.num_classes
        pool_rows = np.flatnonzero(np.isin(outputs.frame_of_box(), pool))
        values = densities[pool_rows]
        top = float(values.max()) if len(values) else 1.0
        self.grid = np.tile(np.linspace(-3 * bandwidth, top + 3 * bandwidth, GRID), (c, 1))
        self.target = np.zeros((c, GRID))
        for k in range(c):
            of_class = values[labels[pool_rows] == k + 1]
            if per_class_grid:
                margin = CRB_MARGIN * bandwidth
                self.grid[k] = np.linspace(-margin, (of_class.max() if len(of_class) else top) + margin, GRID)
            low, high = (np.quantile(of_class, [1 - alpha, alpha]) if len(of_class) else (0.0, top))
            inside = (self.grid[k] >= low) & (self.grid[k] <= max(high, low + 1e-9))
            if not inside.any():
                inside[np.argmin(np.abs(self.grid[k] - low))] = True
            self.target[k] = inside / inside.sum()
        self.sums = np.zeros((c, GRID))  # running kernel sums of the chosen boxes, per class

    def kernels(self, frame: int) -> np.ndarray:
        """(C, GRID) kernel sums of one frame's boxes, per class."""
        rows = slice(int(self.outputs.offsets[frame]), int(self.outputs.offsets[frame + 1]))
        d, lab = self.densities[rows], self.labels[rows]
        phi = np.exp(-0.5 * ((self.grid[lab - 1] - d[:, None]) / self.bandwidth) ** 2)
        out = np.zeros((self.outputs.num_classes, GRID))
        np.add.at(out, lab - 1, phi)
        return out

    def add_frames(self, frames: np.ndarray) -> None:
        for frame in frames:
            self.sums += self.kernels(int(frame))

    def greedy(self, frames: np.ndarray, steps: int) -> tuple[list[int], list[float]]:
        """Indices into ``frames`` in GPDB order (``steps`` of them) and each one's balance score."""
        own = np.stack([self.kernels(int(f)) for f in frames]) if len(frames) else np.zeros((0,) + self.sums.shape)
        present = own.max(axis=2) > 0  # (F, C): does the frame hold a box of the class?
        free = np.ones(len(frames), dtype=bool)
        picked, scores = [], []
        for _ in range(min(steps, len(frames))):
            kde = self.sums[None] + own  # (F, C, GRID)
            kde = kde / np.maximum(kde.sum(axis=2, keepdims=True), 1e-300)
            target = self.target[None]
            with np.errstate(divide="ignore", invalid="ignore"):
                kl = np.where(target > 0, target * (np.log(target) - np.log(np.maximum(kde, 1e-300))), 0.0).sum(2)
            squashed = np.where(present, 2 / np.pi * np.arctan(np.pi / 2 * kl), 1.0)
            value = np.where(free, (1 - squashed).mean(axis=1), -np.inf)
            best = int(np.argmax(value))
            picked.append(best)
            scores.append(float(value[best]))
            free[best] = False
            self.sums += own[best]
        return picked, scores
