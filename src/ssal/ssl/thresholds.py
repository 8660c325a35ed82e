"""Per-class score thresholds of CPSP: the high threshold tau_c from a 1-D k-means, the low threshold lambda_c
from the config.

``tau_c`` is the largest centroid of a k-means over class c's predicted scores, ``k = min(K_c + extra, n_c)``
(SPEC 3.2). The clustering is our own (``kmeans_1d``): initial centres at evenly spaced quantiles, then Lloyd
iterations to convergence. It uses no random numbers at all, so the same scores give the same thresholds on any
machine and with any scikit-learn (the original's thresholds depended on sklearn's changing ``n_init`` default).

A class with fewer than ``min_predictions`` scores keeps its configured fallback; every class is fitted on its own
scores, so one class never shifts another's threshold (the original appended thresholds to a list and a class
without predictions moved every later class by one).

Boundary rules, used by the database: a pseudo object needs ``score >= tau_c``; a BACK object ``score <= lambda_c``;
a background loses the points of every box with ``score > lambda_c``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ssal.atomic import atomic_write_json
from ssal.errors import SsalError

__all__ = ["Thresholds", "kmeans_1d", "fit_thresholds", "scores_per_class", "load_thresholds"]

KIND = "ssal-cpsp-thresholds"
VERSION = 1


@dataclass
class Thresholds:
    """tau (high) and lambda (low) per class, with what each tau was fitted from."""

    high: dict[str, float]
    low: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)  # scores each tau was fitted on
    clusters: dict[str, int] = field(default_factory=dict)  # k used (0: the fallback was kept)
    source: dict[str, str] = field(default_factory=dict)  # "kmeans" | "fallback"

    def to_dict(self) -> dict:
        return {"kind": KIND, "version": VERSION, "high": self.high, "low": self.low, "counts": self.counts,
                "clusters": self.clusters, "source": self.source}

    @classmethod
    def from_dict(cls, value: dict, where: str = "thresholds") -> Thresholds:
        if value.get("kind") != KIND or value.get("version") != VERSION:
            raise SsalError(f"not a version-{VERSION} CPSP threshold file", where)
        return cls(value["high"], value["low"], value.get("counts", {}), value.get("clusters", {}),
                   value.get("source", {}))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_json(path, self.to_dict())


def load_thresholds(path: str | os.PathLike) -> Thresholds:
    import json

    try:
        return Thresholds.from_dict(json.loads(open(path).read()), str(path))
    except (OSError, ValueError, KeyError) as error:
        raise SsalError(f"cannot read CPSP thresholds: {error}", path) from None


def kmeans_1d(values: np.ndarray, k: int, iterations: int = 100) -> np.ndarray:
    """Centroids (k,), ascending, of a 1-D k-means over ``values`` (n,), ``1 <= k <= n``. Deterministic:
    centres start at the quantiles (i + 0.5) / k; an emptied cluster keeps its centre."""
    values = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    if not 1 <= k <= len(values):
        raise ValueError(f"need 1 <= k <= {len(values)}, got k={k}")
    centres = np.quantile(values, (np.arange(k) + 0.5) / k)
    for _ in range(iterations):
        # in 1-D the nearest centre is found by the midpoints between sorted centres
        cluster = np.searchsorted((centres[1:] + centres[:-1]) / 2, values)
        sums = np.bincount(cluster, weights=values, minlength=k)
        sizes = np.bincount(cluster, minlength=k)
        updated = np.where(sizes > 0, sums / np.maximum(sizes, 1), centres)
        updated.sort()
        if np.allclose(updated, centres, rtol=0, atol=1e-12):
            break
        centres = updated
    return centres


def fit_thresholds(scores: dict[str, np.ndarray], centers: dict[str, int], extra_centers: int,
                   fallback: dict[str, float], low: dict[str, float], min_predictions: int = 2) -> Thresholds:
    """tau per class of ``fallback``'s keys from ``scores[c]`` (a class missing there has no scores).

    ``k = min(centers[c] + extra_centers, n_c)``; with ``n_c < min_predictions`` tau is ``fallback[c]``."""
    result = Thresholds(high={}, low={c: float(low[c]) for c in fallback})
    for cls in fallback:
        values = np.asarray(scores.get(cls, np.zeros(0)), dtype=np.float64).reshape(-1)
        result.counts[cls] = int(len(values))
        if len(values) < max(min_predictions, 1):
            result.high[cls], result.clusters[cls], result.source[cls] = float(fallback[cls]), 0, "fallback"
            continue
        k = min(int(centers[cls]) + extra_centers, len(values))
        result.high[cls] = float(kmeans_1d(values, k)[-1])
        result.clusters[cls], result.source[cls] = k, "kmeans"
    return result


def scores_per_class(scores: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Split box scores (K,) by their 1-based class ids (K,) into ``{class: scores}``."""
    scores, labels = np.asarray(scores).reshape(-1), np.asarray(labels).reshape(-1)
    return {cls: scores[labels == i + 1] for i, cls in enumerate(classes)}
