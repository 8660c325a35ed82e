"""CPSP, Collaborative PseudoScene Pre-training (SPEC 3): the semi-supervised half of S-SSAL.

thresholds (tau by k-means, lambda from the config), database (GT, pseudo and BACK objects, backgrounds, on disk),
pseudo_scene (the composer), mixed_dataset (labelled frames and pseudo-scenes), pool (one inference pass over the
unlabelled pool), refresh (the periodic database update, a trainer hook), quality (pseudo-label precision/recall
after the fact), cpsp (``run_cpsp``, the whole stage). Import from the submodules, e.g.
``from ssal.ssl.cpsp import run_cpsp``.
"""

from ssal.ssl.config import CpspConfig, CpspStage

__all__ = ["CpspConfig", "CpspStage"]
