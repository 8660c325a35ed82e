"""Active learning: the budget ledger, the (simulated) oracle, the pool-outputs store and the query strategies.

Data flows one way: model -> ``PoolOutputs`` (predictions only) -> strategy -> ``Ranking`` -> oracle -> ledger.
"""

from ssal.active.budget import Budget
from ssal.active.config import ActiveConfig
from ssal.active.ledger import DatasetIdentity, Ledger, LedgerView, Round
from ssal.active.oracle import Oracle, SimulatedOracle
from ssal.active.outputs import PoolOutputs, PoolOutputsWriter
from ssal.active.strategies import STRATEGY_NAMES, Ranking, get_strategy

__all__ = ["ActiveConfig", "Budget", "DatasetIdentity", "Ledger", "LedgerView", "Oracle", "PoolOutputs",
           "PoolOutputsWriter", "Ranking", "Round", "STRATEGY_NAMES", "SimulatedOracle", "get_strategy"]
