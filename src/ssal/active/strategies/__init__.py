"""Query strategies: each ranks the unlabelled pool from model outputs alone.

``get_strategy(name, config)`` returns a ``Strategy`` whose ``rank(outputs, view, budget, rng)`` gives a
``Ranking`` of every unlabelled frame. Strategies import nothing from ``ssal.data`` and never see the oracle:
what they know is ``PoolOutputs`` (predictions) and ``LedgerView`` (labelled frames only).
"""

from __future__ import annotations

from ssal.active.strategies.base import Ranking, Strategy

# name -> (module, description, needs, labelled outputs, partner)
_REGISTRY = {
    "random": ("random", "seeded random order", (), "unused", False),
    "entropy": ("entropy", "mean binary entropy of box scores", (), "unused", False),
    "mc_dropout": ("mc_dropout", "variance of box regression over dropout passes", ("mc_boxes",), "unused", False),
    "coreset": ("coreset", "greedy k-centre over mean RoI features", (), "required", False),
    "badge": ("badge", "k-means++ seeding over gradient embeddings", ("grad_embeddings",), "unused", False),
    "crb": ("crb", "label entropy -> prototypes -> point-density balance", ("num_points",), "optional", False),
    "cal": ("cal", "model cascade, box entropy, diversity gate, class quotas (S-SSAL)", (), "unused", True),
}
STRATEGY_NAMES = tuple(_REGISTRY)


def get_strategy(name: str, config=None) -> Strategy:
    """The strategy called ``name``, with the ``active:`` config section ``config`` (defaults if None)."""
    import importlib

    from ssal.active.config import ActiveConfig
    from ssal.errors import SsalError

    if name not in _REGISTRY:
        raise SsalError(f"unknown strategy {name!r} (known: {', '.join(STRATEGY_NAMES)})", "--strategy")
    module, description, needs, labelled, partner = _REGISTRY[name]
    rank = importlib.import_module(f"ssal.active.strategies.{module}").rank
    return Strategy(name=name, rank_fn=rank, description=description, options=config or ActiveConfig(),
                    needs=needs, labelled_outputs=labelled, partner=partner)


__all__ = ["Ranking", "Strategy", "STRATEGY_NAMES", "get_strategy"]
